"""AWS at the botocore layer: record real answers once (from moto), replay them, count calls.

Everything here hooks botocore's own events, registered in ``botocore.handlers.BUILTIN_HANDLERS``
so that every session created afterwards (``lucent.aws`` builds its clients lazily) carries them:

* ``Recorder`` keeps the last HTTP answer per operation (``after-call``), e.g. while moto runs,
  and the parameters our code passed (``provide-client-params``), so a floor can make the very
  same call with bare boto3;
* ``Replayer`` answers every request at ``before-send`` with the recorded bytes, so no moto and no
  socket: the CPU measured is our code plus botocore's serialising, signing and parsing. It counts
  what it answered, so a section can prove its calls went through it;
* ``CallCounter`` counts API calls (``before-call``) and HTTP attempts (``before-send``).

Handlers go first in the list: moto's own ``before-send`` stubber must not answer before ours.
Only sessions created *after* a hook is installed carry it, which is why entering and leaving
calls ``lucent.container.reset()``: it drops the container's boto3 session and clients. (Until
``reset()`` dropped the session as well, the sections measured a session built before their
hooks: 0 calls counted, and network calls instead of replayed answers.)
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Self

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.handlers import BUILTIN_HANDLERS


def reset_lucent_clients() -> None:
    """Drop every per-container object (settings, the boto3 session and clients, services), so
    the next call builds clients that carry our handlers."""
    from lucent import container

    container.reset()


class _Hooks:
    """Installs (event, handler) pairs at the front of BUILTIN_HANDLERS; a context manager."""

    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._installed = self.hooks()
        for pair in reversed(self._installed):
            BUILTIN_HANDLERS.insert(0, pair)
        reset_lucent_clients()
        return self

    def __exit__(self, *exc: object) -> None:
        for pair in self._installed:
            BUILTIN_HANDLERS.remove(pair)
        reset_lucent_clients()


@dataclass(frozen=True)
class Canned:
    status: int
    headers: dict[str, str]
    body: bytes


class _Raw:
    """The ``raw`` object AWSResponse reads its body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_: Any, **__: Any) -> bytes:
        return self._body


def _headers(values: dict[str, str]) -> HTTPHeaders:
    headers = HTTPHeaders()
    for name, value in values.items():
        headers[name] = value
    return headers


def _operation(event_name: str) -> str:
    # "after-call.dynamodb.UpdateItem" -> "dynamodb.UpdateItem"
    return event_name.split(".", 1)[1]


def _copy_params(params: dict[str, Any]) -> dict[str, Any]:
    # Shallow: botocore replaces values (an S3 Body becomes a file object) rather than mutating.
    return dict(params)


class Recorder(_Hooks):
    def __init__(self) -> None:
        self.answers: dict[str, Canned] = {}
        self.params: dict[str, dict[str, Any]] = {}

    def _params(self, params: dict[str, Any], event_name: str, **_: Any) -> None:
        self.params[_operation(event_name)] = _copy_params(params)

    def _after_call(self, http_response: Any, event_name: str, **_: Any) -> None:
        self.answers[_operation(event_name)] = Canned(
            http_response.status_code, dict(http_response.headers), http_response.content
        )

    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        return [("provide-client-params", self._params), ("after-call", self._after_call)]


class Replayer(_Hooks):
    """Answers each operation with its canned response; ``overrides`` win (e.g. a 503 for S3).

    ``served`` counts the answers per operation; ``capture()`` records the parameters of the
    calls made inside it (off otherwise: the measured loops pay one attribute test per call).
    """

    def __init__(self, answers: dict[str, Canned], overrides: dict[str, Canned] | None = None):
        self.answers = {**answers, **(overrides or {})}
        self.served: Counter[str] = Counter()
        self._captured: dict[str, dict[str, Any]] | None = None

    def _params(self, params: dict[str, Any], event_name: str, **_: Any) -> None:
        if self._captured is not None:
            self._captured[_operation(event_name)] = _copy_params(params)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse:
        operation = _operation(event_name)
        canned = self.answers.get(operation)
        if canned is None:
            raise RuntimeError(f"no canned answer for {event_name}")
        self.served[operation] += 1
        return AWSResponse(request.url, canned.status, _headers(canned.headers), _Raw(canned.body))

    @contextlib.contextmanager
    def capture(self) -> Iterator[dict[str, dict[str, Any]]]:
        """The parameters of each operation called inside the block (the last call's)."""
        captured: dict[str, dict[str, Any]] = {}
        self._captured = captured
        try:
            yield captured
        finally:
            self._captured = None

    def calls_of(self, call: Callable[[], Any]) -> tuple[dict[str, int], Any]:
        """The answers served while ``call()`` ran, per operation (no entry: none), and what
        ``call()`` returned."""
        before = Counter(self.served)
        returned = call()
        return dict(self.served - before), returned

    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        return [("provide-client-params", self._params), ("before-send", self._before_send)]


class Fault:
    """Fails chosen operations with an AWS error (in front of moto), e.g. S3 PutObject 503.

    Registered first on the clients a warm container already holds (``lucent.aws``'s cached
    clients for the current settings), since those clients outlive any change to
    BUILTIN_HANDLERS.
    """

    def __init__(self, failures: dict[str, Canned]) -> None:
        self.failures = failures
        self._clients: list[Any] = []

    def __enter__(self) -> Self:
        from lucent import aws as lucent_aws
        from lucent.settings import get_settings

        settings = get_settings()
        self._clients = [lucent_aws.dynamodb_client(settings), lucent_aws.s3_client(settings)]
        for client in self._clients:
            client.meta.events.register_first("before-send", self._before_send)
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-send", self._before_send)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        canned = self.failures.get(_operation(event_name))
        if canned is None:
            return None
        return AWSResponse(request.url, canned.status, _headers(canned.headers), _Raw(canned.body))

    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        return [("before-send", self._before_send)]


S3_UNAVAILABLE = Canned(
    503,
    {"Content-Type": "application/xml"},
    b"<Error><Code>ServiceUnavailable</Code><Message>Please reduce your request rate.</Message>"
    b"</Error>",
)
DYNAMODB_THROTTLED = Canned(
    400,
    {"Content-Type": "application/x-amz-json-1.0"},
    b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException",'
    b'"message":"Rate of requests exceeds the allowed throughput."}',
)


class CallCounter(_Hooks):
    """API calls and HTTP attempts per operation, attributed to ``self.owner`` when set."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.owner = ""

    def _before_call(self, event_name: str, **_: Any) -> None:
        self.calls[(self.owner, _operation(event_name))] += 1

    def _before_send(self, event_name: str, **_: Any) -> None:
        self.attempts[(self.owner, _operation(event_name))] += 1

    def reset(self) -> None:
        self.calls.clear()
        self.attempts.clear()

    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        return [("before-call", self._before_call), ("before-send", self._before_send)]
