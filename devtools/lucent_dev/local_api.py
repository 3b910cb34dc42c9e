"""The local API (`make dev`): both REST APIs on one port, backed by an embedded AWS.

It puts together three parts, each in its own module:

* ``lucent_dev.embedded_aws``: moto's server on loopback, holding every table and bucket of
  template.yaml, seeded with the demo organizations;
* ``lucent_dev.containers``: the functions, loaded from their ``CodeUri``/``Handler`` with the
  template's environment, one invocation at a time;
* ``lucent_dev.server``: the HTTP layer (werkzeug's WSGI server), which hands every request to
  ``gateway.Gateway`` (routes, authorizer, gateway responses, binary media types, payload
  limits, unknown routes: all read from template.yaml);

and beside them the detection pipeline (``lucent_dev.pipeline``).

The log: one line per request (``LocalApi.log_request``), method and path scrubbed by
``lucent.redaction`` as the server reads them (percent-decoded), never a header or a body.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from werkzeug.serving import BaseWSGIServer

from lucent import container
from lucent.redaction import redact_text
from lucent_dev import demo, identity
from lucent_dev import template as tpl
from lucent_dev.containers import (
    ENV_LOCK,
    Container,
    apply_environment,
    function_environment,
    load_containers,
)
from lucent_dev.embedded_aws import LOOPBACK, REGION, EmbeddedAws, provision
from lucent_dev.gateway import Gateway
from lucent_dev.pipeline import DetectionPipeline
from lucent_dev.server import GatewayApp, make_http_server

__all__ = ["DEFAULT_PORT", "LocalApi", "LocalApiError", "is_reachable"]

DEFAULT_PORT = 3000
STAGE = "local"
# Keys of .lucent/dev.json that the issue names; the other demo roles are added after them.
_STATE_ROLES = ("public_key", "api_key", "api_key_write", "oauth_token", "legacy_key")


class LocalApiError(RuntimeError):
    """The local API cannot start (port in use, a handler that does not import...)."""


# --- the local API ---------------------------------------------------------------------------


class LocalApi:
    """Embedded AWS + functions + gateway + HTTP server. ``port=0`` picks a free port.

    Usable from tests: ``with LocalApi(port=0) as api: urlopen(api.url + "/api/v1/issues")``.
    """

    def __init__(
        self,
        host: str = LOOPBACK,
        port: int = DEFAULT_PORT,
        *,
        state_path: Path | None = None,
        log: TextIO | None = None,
        function_logs: bool = False,
        request_timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.port = port
        self.state_path = state_path
        self.log = log
        self.function_logs = function_logs
        # Seconds a connection may stay silent: idle keep-alive, or a request sent halfway.
        self.request_timeout = request_timeout
        self.aws: EmbeddedAws | None = None
        self.names: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.containers: dict[str, Container] = {}
        self.gateway: Gateway
        self.started_seconds = 0.0
        self._http: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._saved_env: dict[str, str | None] = {}
        self._log_lock = threading.Lock()
        self._saved_log_level: int | None = None
        self.pipeline: DetectionPipeline | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LocalApi:
        started = time.perf_counter()
        try:
            app = GatewayApp(lambda: self.gateway, self.log_request, self.request_timeout)
            self._http = make_http_server(self.host, self.port, app, self.request_timeout)
        except OSError as exc:
            raise LocalApiError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror}): "
                "choose another port, e.g. PORT=3001 make dev"
            ) from exc
        try:
            self.aws = EmbeddedAws(self.host).start()
            self.names = provision(self.aws.client("dynamodb"), self.aws.client("s3"))
            self.names.update(identity.provision(self.aws.client("cognito-idp")))  # docs/oauth.md
            parameters = {} if self.function_logs else {"LogLevel": "WARNING"}
            self.env = function_environment(
                self.names, self.aws.endpoint_url, parameters=parameters
            )
            self._saved_env = {
                k: os.environ.get(k)
                for k in [*self.env, "AWS_PROFILE", "POWERTOOLS_METRICS_DISABLED"]
            }
            apply_environment(self.env)
            self._quiet_logs()
            self.containers = load_containers(
                self.env, errors=sys.stderr, quiet=not self.function_logs
            )
            self.gateway = Gateway(self.containers, stage=STAGE, region=REGION)
            # S3 -> SQS -> DetectionFunction, as template.yaml says (lucent_dev.pipeline).
            self.pipeline = DetectionPipeline(
                self.aws, self.names, self.env, errors=sys.stderr, quiet=not self.function_logs
            ).start()
        except BaseException:
            self._shutdown_quietly()
            raise
        self.port = self._http.port
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="lucent-local-api", daemon=True
        )
        self._thread.start()
        if self.state_path is not None:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: a reader polling for the file (the CLI, a test waiting
            # for `make dev`) sees no file or the whole of it, never an empty or partial one.
            partial = self.state_path.with_name(self.state_path.name + ".partial")
            partial.write_text(json.dumps(self.state(), indent=2) + "\n", "utf-8")
            partial.replace(self.state_path)
        self.started_seconds = time.perf_counter() - started
        return self

    def stop(self) -> None:
        self._shutdown_quietly()

    def _quiet_logs(self) -> None:
        """One line per request: the functions' INFO logs only with ``function_logs``."""
        import logging

        from lucent.observability import logger

        self._saved_log_level = logger.log_level
        if not self.function_logs:
            logger.setLevel(logging.WARNING)

    def _shutdown_quietly(self) -> None:
        if self._http is not None:
            if self._thread is not None:
                self._http.shutdown()
                self._thread.join()
            self._http.server_close()
            self._http = None
            self._thread = None
        if self.pipeline is not None:
            self.pipeline.stop()
            self.pipeline = None
        if self.aws is not None:
            self.aws.stop()
            self.aws = None
        if self.state_path is not None and self.state_path.exists():
            with contextlib.suppress(ValueError, OSError):
                if json.loads(self.state_path.read_text("utf-8")).get("data_url") == self.url:
                    self.state_path.unlink()
        if self._saved_log_level is not None:
            from lucent.observability import logger

            logger.setLevel(self._saved_log_level)
            self._saved_log_level = None
        if self._saved_env:
            with ENV_LOCK:
                for key, value in self._saved_env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
                container.reset()
            self._saved_env = {}

    def __enter__(self) -> LocalApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_until_interrupted(self) -> None:
        """Block the calling (main) thread until Ctrl-C or SIGTERM, then stop everything."""
        import signal

        def terminate(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        # SIGINT too: a shell starts background jobs with SIGINT ignored, and Ctrl-C must work.
        previous = {sig: signal.signal(sig, terminate) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    # --- what it serves ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def state(self) -> dict[str, Any]:
        """The contents of .lucent/dev.json."""
        roles = demo.roles()
        state: dict[str, Any] = {
            "ingest_url": self.url,
            "data_url": self.url,
            "org_id": roles["org_id"],
        }
        state.update({role: roles[role] for role in _STATE_ROLES})
        state.update(
            aws_endpoint_url=self.aws.endpoint_url if self.aws else None,
            region=REGION,
            bucket=self.names.get("ReplayBucket"),
            tables={
                lid: name for lid, name in self.names.items() if lid in tpl.table_definitions()
            },
        )
        # The other demo roles (revoked keys, the second organization, the demo issue), so that
        # `lucent replay` can run every event against the local API.
        state.update({role: value for role, value in roles.items() if role not in state})
        state["oauth"] = identity.dev_state(self.url)
        return state

    def log_request(
        self,
        method: str,
        raw_path: str,
        status: int,
        *,
        outcome: str,
        elapsed_ms: float,
        detail: str = "",
    ) -> None:
        """One line: method, path (credentials redacted), status, time, who answered if not the
        function. Never a header or a body; ``detail`` is our own words, never the request's.
        """
        if self.log is None:
            return
        note = "" if outcome == "function" else f"  ({outcome})"
        if detail:
            note = f"  ({outcome}: {detail})"
        # Redacted as the server reads it (lucent.redaction), then made one printable line: the
        # method and path are the client's bytes, and a terminal escape or a CR is theirs too.
        request = _printable(redact_text(f"{method} {raw_path}"))
        line = f"{request} {status} {elapsed_ms:.1f} ms{note}"
        with self._log_lock:
            print(line, file=self.log, flush=True)

    def banner(self) -> str:
        state = self.state()
        routes = sorted({(r.path, r.method) for r in tpl.routes()})
        lines = [
            f"Lucent local API ready on {self.url} (started in {self.started_seconds:.1f} s)",
            "",
            "Routes (from template.yaml):",
            *(f"  {method:<7} {self.url}{path}" for path, method in routes),
            "",
            f"Demo organization {state['org_id']}:",
            f"  public key (ingest)         {state['public_key']}",
            f"  API key (read:lucent)       {state['api_key']}",
            f"  API key (+ write:issues)    {state['api_key_write']}",
            f"  OAuth token (read:lucent)   {state['oauth_token']}",
            f"  legacy MCP key              {state['legacy_key']}",
            f"  revoked public key          {state['revoked_public_key']}",
            f"Second organization {state['other_org_id']}: public key {state['other_public_key']}, "
            f"API key {state['other_api_key']}",
            "",
            *identity.banner_lines(state["oauth"]),
            f"Embedded AWS (moto): {state['aws_endpoint_url']}  region {REGION}",
            f"  tables: {', '.join(state['tables'].values())}; bucket: {state['bucket']}",
        ]
        if self.state_path is not None:
            lines.append(f"State for `lucent ... --local`, invoke and replay: {self.state_path}")
        lines += [
            "",
            "Try:",
            f"  curl -s -H 'Authorization: Bearer {state['api_key']}' {self.url}/api/v1/issues",
            f"  curl -s -X POST -H 'Content-Type: application/json' "
            f"-H 'X-Lucent-Api-Key: {state['public_key']}' \\",
            '    -d \'{"session_id": "s1", "sequence": 0, "events": '
            '[{"type": 4, "timestamp": 1700000000000, "data": {}}]}\' '
            f"{self.url}/api/sdk/replay",
            "",
            "Press Ctrl-C to stop.",
        ]
        return "\n".join(lines)


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def _printable(text: str) -> str:
    """``text`` with every character but printable ASCII as ``\\xNN`` (the request line is read
    as Latin-1: one character per byte the client sent)."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def is_reachable(url: str, timeout: float = 1.0) -> bool:
    """Whether something answers HTTP at ``url`` (used to tell a live dev.json from a stale one)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False
