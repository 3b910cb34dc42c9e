"""The functions of the local API, each loaded like a Lambda container.

Each function's handler is loaded from its ``CodeUri``/``Handler`` in a fresh module, with the
environment template.yaml gives it (``!Ref``s resolved to the local names) and
``AWS_ENDPOINT_URL`` pointing at the embedded AWS. One invocation at a time, process-wide: in
Lambda every container has its own Powertools metrics buffer and logger context, here all
functions share one, so invocations must not interleave (else one flushes another's metrics).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

from lucent import container
from lucent.redaction import redact_text
from lucent_dev import template as tpl
from lucent_dev.embedded_aws import FAKE_AWS_CREDENTIALS, REGION


def function_environment(
    names: Mapping[str, str],
    endpoint_url: str | None,
    *,
    region: str = REGION,
    parameters: Mapping[str, str] | None = None,
    functions: Mapping[str, tpl.FunctionSpec] | None = None,
) -> dict[str, str]:
    """The environment every function gets, merged (they share one process).

    Template variables resolve against local names and parameter defaults; the only variable
    whose value differs between functions, POWERTOOLS_SERVICE_NAME, is left out.
    """
    params = {**tpl.parameter_defaults(), **(parameters or {})}
    env: dict[str, str] = {}
    if functions is None:
        served = served_functions()
        functions = {k: v for k, v in tpl.functions().items() if k in served}
    for spec in functions.values():
        env.update(tpl.resolve_environment(spec, names, params))
    env.pop("POWERTOOLS_SERVICE_NAME", None)
    env.update(FAKE_AWS_CREDENTIALS)
    env.update(AWS_REGION=region, AWS_DEFAULT_REGION=region, POWERTOOLS_TRACE_DISABLED="true")
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


ENV_LOCK = threading.Lock()
# Powertools' Metrics buffer and Logger context are process-wide singletons: one per container in
# Lambda, one for all functions here. Invocations take turns so each flushes only its own.
_INVOCATION_LOCK = threading.Lock()


def apply_environment(env: Mapping[str, str]) -> bool:
    """Make ``os.environ`` hold ``env`` (dropping AWS_PROFILE); True if anything changed.

    When it changes, the layer's per-container state (settings, boto3 clients, services) is
    dropped (``lucent.container.reset``) so that the next call reads the new values.
    """
    with ENV_LOCK:
        changed = "AWS_PROFILE" in os.environ or any(os.environ.get(k) != v for k, v in env.items())
        if changed:
            os.environ.pop("AWS_PROFILE", None)
            os.environ.update(env)
            container.reset()
        return changed


# --- functions -------------------------------------------------------------------------------


class Container:
    """One function's handler: like a Lambda container, it serves one request at a time (and,
    because the functions share this process's Powertools singletons, never alongside another).

    Before each call it makes sure the process environment is the function's (tests may have
    changed it), as it would be in a real container.
    """

    def __init__(
        self,
        logical_id: str,
        handler: tpl.Handler,
        env: Mapping[str, str],
        errors: TextIO | None = None,
        quiet: bool = False,
    ) -> None:
        self.logical_id = logical_id
        self.handler = handler
        self.env = dict(env)
        self.errors = errors
        # Quiet: the function's stdout (JSON logs, CloudWatch EMF metric lines) goes nowhere.
        # Metrics stay enabled: with POWERTOOLS_METRICS_DISABLED, Powertools neither prints nor
        # clears its buffer, which then grows across invocations.
        self.quiet = quiet

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with _INVOCATION_LOCK, _stdout_to_devnull(self.quiet):
            apply_environment(self.env)
            try:
                return self.handler(event, context)
            except Exception as exc:
                if str(exc) != "Unauthorized" and self.errors is not None:
                    # The gateway turns this into its 5xx response; the developer needs the cause,
                    # scrubbed: an exception's message may quote a header or a parameter.
                    cause = redact_text(traceback.format_exc())
                    print(f"{self.logical_id} raised:\n{cause}", end="", file=self.errors)
                raise


def served_functions(template: Mapping[str, Any] | None = None) -> list[str]:
    """Functions the APIs call: every route's function and every API's authorizer."""
    names = {route.function for route in tpl.routes(template)}
    names |= {a.authorizer_function for a in tpl.apis(template).values() if a.authorizer_function}
    return sorted(names)


class _MutedForThread:
    """``sys.stdout`` while a quiet function runs: that thread's writes vanish, every other
    thread's go through. A plain ``redirect_stdout`` would swap the process's stdout for every
    thread: the detection pipeline runs functions on its own thread, and the main thread's
    output (a CLI's JSON, a test's capture) would vanish with them, or stay redirected when two
    threads' redirects interleave."""

    def __init__(self, target: TextIO, thread_id: int) -> None:
        self._target = target
        self._thread_id = thread_id

    def write(self, text: str) -> int:
        if threading.get_ident() == self._thread_id:
            return len(text)
        return self._target.write(text)

    def flush(self) -> None:
        if threading.get_ident() != self._thread_id:
            self._target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


@contextlib.contextmanager
def _stdout_to_devnull(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    previous = sys.stdout
    muted = _MutedForThread(previous, threading.get_ident())
    sys.stdout = muted
    try:
        yield
    finally:
        # Only if nobody replaced it meanwhile: restoring over another thread's newer stdout
        # would bring back a stream that may be closed by now.
        if sys.stdout is muted:
            sys.stdout = previous


def load_containers(
    env: Mapping[str, str], errors: TextIO | None = None, quiet: bool = False
) -> dict[str, Container]:
    specs = tpl.functions()
    return {
        logical_id: Container(
            logical_id, tpl.load_handler(specs[logical_id], fresh=True), env, errors, quiet=quiet
        )
        for logical_id in served_functions()
    }
