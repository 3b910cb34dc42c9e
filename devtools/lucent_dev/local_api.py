"""The local API (`make dev`): both REST APIs on one port, backed by an embedded AWS.

* Embedded AWS: moto's ``ThreadedMotoServer`` on loopback (a free port), holding every table
  (with TTL) and bucket of template.yaml, seeded with the demo organizations (lucent_dev.demo).
* The functions run in this process, loaded from their ``CodeUri``/``Handler``, with the
  environment template.yaml gives them (``!Ref``s resolved to the local names) and
  ``AWS_ENDPOINT_URL`` pointing at the embedded AWS. One invocation at a time, process-wide: in
  Lambda every container has its own Powertools metrics buffer and logger context, here all
  functions share one, so invocations must not interleave (else one flushes another's metrics).
* HTTP: a ``ThreadingHTTPServer`` turns each request into a ``gateway.HttpRequest`` (raw body
  bytes, repeated headers kept) for ``gateway.Gateway``, which does what API Gateway would:
  routes, authorizer, gateway responses, binary media types, payload limits, unknown routes.
  Nothing here knows a route: they all come from template.yaml. Every method goes to the gateway
  (``post``, TRACE: it knows which ones the template takes); a request whose framing or request
  line cannot be trusted gets the API's DEFAULT_4XX JSON and a closed connection, never Python's
  HTML error pages.
* The log: one line per request (``LocalApi.log_request``), method and path scrubbed by
  ``lucent.redaction`` as the server reads them (percent-decoded), never a header or a body.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from lucent import container
from lucent.redaction import redact_text
from lucent_dev import demo, identity
from lucent_dev import template as tpl
from lucent_dev.gateway import MAX_REQUEST_BYTES, Gateway, HttpRequest, HttpResponse
from lucent_dev.pipeline import DetectionPipeline

REGION = "us-east-1"
DEFAULT_PORT = 3000
LOOPBACK = "127.0.0.1"
STAGE = "local"
# What the embedded AWS accepts; set so that no real profile or credential is ever consulted.
FAKE_AWS_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# Keys of .lucent/dev.json that the issue names; the other demo roles are added after them.
_STATE_ROLES = ("public_key", "api_key", "api_key_write", "oauth_token", "legacy_key")


class LocalApiError(RuntimeError):
    """The local API cannot start (port in use, a handler that does not import...)."""


# --- the embedded AWS ------------------------------------------------------------------------


class EmbeddedAws:
    """moto's HTTP server on loopback, on a free port."""

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.endpoint_url = ""

    def start(self) -> EmbeddedAws:
        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-call access log
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        # moto's state is per process: start empty even if an earlier server in this process
        # (a previous test) left tables behind, and leave nothing behind on stop.
        self._reset()
        return self

    def _reset(self) -> None:
        import urllib.request

        reset = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=10):
            pass

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._reset()
        self._server.stop()

    def client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=FAKE_AWS_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        ).client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]


def provision(dynamodb: Any, s3: Any) -> dict[str, str]:
    """Every table and bucket of template.yaml, seeded with the demo data; logical id -> name."""
    names = tpl.create_storage(dynamodb, s3)
    demo.seed_all(dynamodb, names)
    return names


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


_ENV_LOCK = threading.Lock()
# Powertools' Metrics buffer and Logger context are process-wide singletons: one per container in
# Lambda, one for all functions here. Invocations take turns so each flushes only its own.
_INVOCATION_LOCK = threading.Lock()


def apply_environment(env: Mapping[str, str]) -> bool:
    """Make ``os.environ`` hold ``env`` (dropping AWS_PROFILE); True if anything changed.

    When it changes, the layer's per-container state (settings, boto3 clients, services) is
    dropped (``lucent.container.reset``) so that the next call reads the new values.
    """
    with _ENV_LOCK:
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


# --- HTTP ------------------------------------------------------------------------------------

# Limits of the HTTP layer, past which a request is malformed rather than large.
_MAX_REQUEST_LINE = 65536  # the standard library's own limit
_MAX_CHUNK_LINE = 4096  # a chunk-size line with its extensions, or one trailer field
_MAX_TRAILERS = 100
_READ_PIECE = 1 << 20  # bodies are read in pieces: a declared size is never allocated at once
# After refusing a malformed request, how long to read (and drop) what the client still sends
# before closing: closing a socket with unread input makes the kernel answer with a reset, which
# can destroy the refusal before the client reads it.
_LINGER_SECONDS = 1.0
_LINGER_BYTES = 16 << 20
_DIGITS = re.compile(r"[0-9]+")
_HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]+")
# What the standard library's parser says when it refuses a request line or headers (its own
# messages quote the request line, which may hold a credential: never echoed).
_PARSER_REFUSALS = {
    "Bad request version": "Malformed request line: bad HTTP version",
    "Bad request syntax": "Malformed request line",
    "Bad HTTP/0.9 request type": "Malformed request line: no HTTP version",
    "Invalid HTTP version": "HTTP version not supported",
    "Line too long": "A request header line is too long",
    "Too many headers": "Too many request headers",
}
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class MalformedRequest(Exception):
    """A request whose framing cannot be trusted; it gets ``status`` and ``{"error": message}``,
    then the connection closes (where the next request would start is unknown).

    ``message`` names the problem and never quotes the request: a header value may be a key.
    """

    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class _RequestHandler(BaseHTTPRequestHandler):
    """Every request, whatever its method or framing, is answered in JSON by ``gateway``.

    The standard library's handler answers a method without a ``do_`` method (TRACE, ``post``)
    with an HTML 501, and its parser's refusals with HTML too; both are overridden here, and the
    body framing (Content-Length, chunked) is checked before anything is read.
    """

    protocol_version = "HTTP/1.1"
    server_version = "lucent-local"
    sys_version = ""
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle and delayed ACKs
    # would add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: _HttpServer
    started: float  # when the request line arrived (perf_counter)

    def setup(self) -> None:
        super().setup()
        # Idle keep-alive connections, and clients that stop sending mid-request, time out.
        self.connection.settimeout(self.server.api.request_timeout)

    def handle_one_request(self) -> None:
        # The standard library's version, with every method going to the gateway.
        self.command, self.path = "", ""  # nothing from the previous request on this connection
        self.started = time.perf_counter()
        try:
            self.raw_requestline = self.rfile.readline(_MAX_REQUEST_LINE + 1)
            if not self.raw_requestline:
                self.close_connection = True
                return
            self.started = time.perf_counter()
            if len(self.raw_requestline) > _MAX_REQUEST_LINE:
                words = str(self.raw_requestline, "iso-8859-1").split(maxsplit=2)
                self.command, self.path = [*words, "", ""][:2]
                self.path = self.path[:200]  # the start of it, to log and to pick an API by
                self.request_version = ""
                self.refuse(
                    MalformedRequest("Request line too long", HTTPStatus.REQUEST_URI_TOO_LONG)
                )
                return
            if not self.parse_request():
                return  # refused by send_error
            if self.request_version == "HTTP/0.9":
                self.request_version = "HTTP/1.0"  # so that the refusal has a status line
                self.refuse(MalformedRequest("Malformed request line: no HTTP version"))
                return
            self.do_request()
            self.wfile.flush()
        except TimeoutError:
            # An idle keep-alive connection, or a request line that never ended: drop it.
            self.close_connection = True
        except ConnectionError:
            self.close_connection = True  # the client left

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library parser's refusals, as JSON (they were HTML)."""
        known = _PARSER_REFUSALS.get((message or "").split(" (", 1)[0])
        if self.request_version == "HTTP/0.9":  # unparsed version: no status line would go out
            self.request_version = "HTTP/1.0"
        self.refuse(MalformedRequest(known or HTTPStatus(code).phrase, code))

    def do_request(self) -> None:
        path, _, query = self.path.partition("?")
        try:
            body, too_large = self._read_body()
        except MalformedRequest as refusal:
            self.refuse(refusal)
            return
        request = HttpRequest(
            method=self.command,
            path=path,
            headers=list(self.headers.items()),
            query=query,
            body=body,
            source_ip=self.client_address[0],
        )
        response = self.server.api.gateway.handle(request)
        try:
            self._write(response, close=too_large)
        except (BrokenPipeError, ConnectionResetError):
            # The client left before reading the answer (a browser may drop a beacon's
            # connection on unload). The request was handled all the same: log it.
            self.close_connection = True
        self._log(response)

    def refuse(self, refusal: MalformedRequest) -> None:
        """Answer a malformed request in the API's JSON error shape, log it, close."""
        response = self.server.api.gateway.malformed_request(
            self.path.partition("?")[0], refusal.status, refusal.message
        )
        self.close_connection = True
        try:
            self._write(response, close=True)
            self.wfile.flush()
        except OSError:
            pass  # the client is gone; the request is logged all the same
        # Logged before the lingering read, which lasts until the client closes.
        self._log(response, refusal.message)
        with contextlib.suppress(OSError):
            self._drain_before_close()

    def _log(self, response: HttpResponse, detail: str = "") -> None:
        elapsed_ms = (time.perf_counter() - self.started) * 1000
        method, path = self.command or "-", self.path or "-"
        self.server.api.log_request(method, path, response, elapsed_ms, detail)

    # --- the body ----------------------------------------------------------------------------

    def _read_body(self) -> tuple[bytes, bool]:
        """The raw body; past the payload limit, only enough of it to be refused (413)."""
        limit = MAX_REQUEST_BYTES + 1
        chunked, length = self._framing()
        try:
            return self._read_chunked(limit) if chunked else self._read_length(length, limit)
        except TimeoutError as exc:
            raise MalformedRequest(
                f"Request body incomplete: nothing received for {self.server.api.request_timeout:g} s",
                HTTPStatus.REQUEST_TIMEOUT,
            ) from exc
        except ConnectionError as exc:
            raise MalformedRequest("Request body is truncated: the connection was reset") from exc

    def _framing(self) -> tuple[bool, int]:
        """(chunked, length) as the headers declare them, if they declare one thing."""
        encodings = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if encodings and lengths:
            # Two parsers may each pick one and disagree on where the body ends (request
            # smuggling): refused, as RFC 9112 (6.3) allows.
            raise MalformedRequest("Content-Length and Transfer-Encoding together: send one")
        if encodings:
            codings = [c.strip().lower() for value in encodings for c in value.split(",")]
            if codings != ["chunked"]:
                raise MalformedRequest("Unsupported Transfer-Encoding: only chunked is accepted")
            return True, 0
        values = {v.strip() for value in lengths for v in value.split(",")}
        if not values:
            return False, 0
        if len(values) > 1:
            raise MalformedRequest("Conflicting Content-Length values")
        (value,) = values
        if not _DIGITS.fullmatch(value):
            raise MalformedRequest("Content-Length must be a non-negative integer")
        # Every length past the limit is refused alike; int() is not given thousands of digits.
        return False, int(value) if len(value) <= 18 else 10**18

    def _read_length(self, length: int, limit: int) -> tuple[bytes, bool]:
        body = self.rfile.read(min(length, limit))
        received = len(body)
        while received < length:  # drain the rest so the connection stays in step
            piece = self.rfile.read(min(length - received, _READ_PIECE))
            if not piece:
                break
            received += len(piece)
        if received < length:
            raise MalformedRequest(
                f"Request body is truncated: Content-Length is {length}, "
                f"the connection ended after {received} bytes"
            )
        return body, length >= limit

    def _read_chunked(self, limit: int) -> tuple[bytes, bool]:
        parts: list[bytes] = []
        total = 0
        while (size := self._chunk_size()) > 0:
            remaining = size
            while remaining > 0:
                piece = self.rfile.read(min(remaining, _READ_PIECE))
                if not piece:
                    raise MalformedRequest(
                        "Request body is truncated: the connection ended in a chunk"
                    )
                if total < limit:
                    parts.append(piece[: limit - total])
                total += len(piece)
                remaining -= len(piece)
            end = self.rfile.readline(_MAX_CHUNK_LINE + 1)
            if end not in (b"\r\n", b"\n"):
                raise MalformedRequest(
                    "Request body is truncated: the connection ended in a chunk"
                    if not end
                    else "Malformed chunked body: a chunk is longer than its size"
                )
        for _ in range(_MAX_TRAILERS + 1):
            line = self.rfile.readline(_MAX_CHUNK_LINE + 1)
            if line in (b"\r\n", b"\n", b""):  # end of the trailers (or the client's last byte)
                return b"".join(parts), total >= limit
            if len(line) > _MAX_CHUNK_LINE:
                raise MalformedRequest("Malformed chunked body: a trailer field is too long")
        raise MalformedRequest("Malformed chunked body: too many trailer fields")

    def _chunk_size(self) -> int:
        line = self.rfile.readline(_MAX_CHUNK_LINE + 1)
        if not line:
            raise MalformedRequest("Request body is truncated: the last chunk never came")
        if len(line) > _MAX_CHUNK_LINE:
            raise MalformedRequest("Malformed chunked body: a chunk-size line is too long")
        size = line.split(b";", 1)[0].strip()
        if not _HEX_DIGITS.fullmatch(size):
            raise MalformedRequest("Malformed chunked body: a chunk size is not hexadecimal")
        return int(size, 16)

    # --- the answer --------------------------------------------------------------------------

    def _write(self, response: HttpResponse, close: bool) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _drain_before_close(self) -> None:
        """Say we are done (FIN), then read and drop what the client still sends, a little while."""
        self.connection.shutdown(socket.SHUT_WR)
        self.connection.settimeout(_LINGER_SECONDS)
        deadline = time.monotonic() + _LINGER_SECONDS
        drained = 0
        with contextlib.suppress(TimeoutError):
            while drained < _LINGER_BYTES and time.monotonic() < deadline:
                piece = self.connection.recv(_READ_PIECE)
                if not piece:
                    break
                drained += len(piece)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # one line per request comes from LocalApi.log_request

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the standard library's own lines would repeat (or quote) the request


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: LocalApi) -> None:
        self.api = api
        super().__init__(address, _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A bug in the handler: its traceback on stderr, scrubbed (values may be credentials)."""
        print(
            f"local API: error while serving {client_address[0]}:\n"
            + redact_text(traceback.format_exc()),
            file=sys.stderr,
            flush=True,
        )


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
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._saved_env: dict[str, str | None] = {}
        self._log_lock = threading.Lock()
        self._saved_log_level: int | None = None
        self.pipeline: DetectionPipeline | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LocalApi:
        started = time.perf_counter()
        try:
            self._http = _HttpServer((self.host, self.port), self)
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
        self.port = self._http.server_address[1]
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
            with _ENV_LOCK:
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
        response: HttpResponse,
        elapsed_ms: float,
        detail: str = "",
    ) -> None:
        """One line: method, path (credentials redacted), status, time, who answered if not the
        function. Never a header or a body; ``detail`` is our own words, never the request's.
        """
        if self.log is None:
            return
        note = "" if response.outcome == "function" else f"  ({response.outcome})"
        if detail:
            note = f"  ({response.outcome}: {detail})"
        # Redacted as the server reads it (lucent.redaction), then made one printable line: the
        # method and path are the client's bytes, and a terminal escape or a CR is theirs too.
        request = _printable(redact_text(f"{method} {raw_path}"))
        line = f"{request} {response.status} {elapsed_ms:.1f} ms{note}"
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
