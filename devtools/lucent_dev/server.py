"""The HTTP layer of the local API: werkzeug's WSGI server, each request handed to the gateway.

werkzeug parses the request line, the headers and the body's framing (Content-Length, chunked);
this module only turns its WSGI request into a ``gateway.HttpRequest`` (the path as sent, raw
body bytes, repeated headers kept in order and spelling) and the gateway's ``Reply`` into the
answer, byte for byte. Nothing here knows a route: the gateway reads them from template.yaml.

werkzeug's development server closes the connection after each answer (``Connection: close``):
a client's next request opens a new one. A request it cannot parse gets its own 4xx; a body
that breaks off or stops coming gets the API's DEFAULT_4XX answer (``Gateway.malformed_request``).
Neither ever prints a traceback or quotes the request in a log.
"""

from __future__ import annotations

import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, Protocol

from werkzeug.exceptions import ClientDisconnected
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request

from lucent.http import Reply
from lucent.redaction import redact_text
from lucent_dev.gateway import MAX_REQUEST_BYTES, Gateway, HttpRequest, body_bytes


class Log(Protocol):
    """Where each answer is reported: method and path as sent, status, who answered."""

    def __call__(
        self,
        method: str,
        raw_path: str,
        status: int,
        *,
        outcome: str,
        elapsed_ms: float,
        detail: str,
    ) -> None: ...


_READ_PIECE = 1 << 20  # bodies are read in pieces: a declared size is never allocated at once
_RAW_HEADERS = "lucent.raw_headers"
# Set by the server on every answer; the gateway's own headers never carry them.
_HOP_HEADERS = frozenset({"content-length", "connection", "transfer-encoding"})


class MalformedBody(Exception):
    """A body that breaks off, stops coming, or whose chunks do not parse."""

    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class GatewayApp:
    """The WSGI application: every request, whatever its method, goes to the gateway.

    ``gateway`` is asked for on every request: a test may stand another one in.
    """

    def __init__(self, gateway: Callable[[], Gateway], log: Log, request_timeout: float) -> None:
        self.gateway = gateway
        self.log = log
        self.request_timeout = request_timeout

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = time.perf_counter()
        wsgi = Request(environ)
        # The request target as the request line held it, one character per byte: WSGI hands it
        # over UTF-8-encoded and read back as Latin-1 (PEP 3333), which this undoes.
        raw_uri = str(environ["RAW_URI"]).encode("latin-1").decode("utf-8")
        path, _, query = raw_uri.partition("?")
        # As sent: werkzeug's ``Request.method`` is upper-cased, and ``post`` is not ``POST``.
        method = str(environ["REQUEST_METHOD"])
        try:
            body = self._read_body(wsgi)
        except MalformedBody as refusal:
            reply = self.gateway().malformed_request(path, refusal.status, refusal.message)
            outcome, detail = "MALFORMED_REQUEST", refusal.message
        else:
            request = HttpRequest(
                method=method,
                path=path,
                headers=list(environ[_RAW_HEADERS]),
                query=query,
                body=body,
                source_ip=wsgi.remote_addr or "",
            )
            reply, outcome = self._serve(request)
            detail = ""
        payload = body_bytes(reply)
        headers = [(k, v) for k, v in reply.headers.items() if k.lower() not in _HOP_HEADERS]
        headers.append(("Content-Length", str(len(payload))))
        start_response(_status_line(reply.status), headers)
        elapsed_ms = (time.perf_counter() - started) * 1000
        # Logged before the answer is written: a client that leaves early was served all the same.
        self.log(
            method,
            raw_uri,
            reply.status,
            outcome=outcome,
            elapsed_ms=elapsed_ms,
            detail=detail,
        )
        return [] if method == "HEAD" else [payload]

    def _serve(self, request: HttpRequest) -> tuple[Reply, str]:
        try:
            return self.gateway().serve(request)
        except Exception:
            # A bug in the gateway: its traceback on stderr, scrubbed (values may be credentials).
            print(
                "local API: error while serving:\n" + redact_text(traceback.format_exc()),
                file=sys.stderr,
                flush=True,
            )
            return Reply.internal_error(), "error"

    def _read_body(self, wsgi: Request) -> bytes:
        """The raw body; past the payload limit, only enough of it to be refused (413)."""
        limit = MAX_REQUEST_BYTES + 1
        stream = wsgi.stream
        parts: list[bytes] = []
        total = 0
        try:
            while total < limit and (piece := stream.read(min(_READ_PIECE, limit - total))):
                parts.append(piece)
                total += len(piece)
            if total >= limit:
                # Read and drop the rest, so that the client sees the 413 rather than a reset.
                while stream.read(_READ_PIECE):
                    pass
        except ClientDisconnected as exc:
            if isinstance(exc.__context__, TimeoutError):
                raise MalformedBody(
                    f"Request body incomplete: nothing received for {self.request_timeout:g} s",
                    HTTPStatus.REQUEST_TIMEOUT,
                ) from exc
            raise MalformedBody("Request body is truncated") from exc
        except TimeoutError as exc:
            raise MalformedBody(
                f"Request body incomplete: nothing received for {self.request_timeout:g} s",
                HTTPStatus.REQUEST_TIMEOUT,
            ) from exc
        except OSError as exc:  # werkzeug's reader of chunked bodies
            raise MalformedBody("Malformed chunked body") from exc
        return b"".join(parts)


class _Handler(WSGIRequestHandler):
    """werkzeug's handler, keeping the headers as sent and logging nothing of its own (its
    lines quote the request line, which may hold a key)."""

    server: _Server
    server_version = "lucent-local"
    sys_version = ""
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle and delayed ACKs
    # would hold every answer back.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        # Clients that stop sending mid-request, or never send one, time out.
        self.connection.settimeout(self.server.request_timeout)

    def make_environ(self) -> Any:
        environ = super().make_environ()
        # WSGI folds repeated headers into one and forgets how a name was spelled; the proxy
        # event's multiValueHeaders keep both, as API Gateway's do.
        environ[_RAW_HEADERS] = list(self.headers.items())
        return environ

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library parser's refusal (request line, headers), with one log line."""
        # Without the parser's message: it quotes the request line, which may hold a key.
        super().send_error(code)
        method, path = getattr(self, "command", None) or "-", getattr(self, "path", None) or "-"
        detail = HTTPStatus(code).phrase
        self.server.app.log(
            method, path, code, outcome="MALFORMED_REQUEST", elapsed_ms=0.0, detail=detail
        )

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # one line per request comes from the application

    def log_error(self, format: str, *args: Any) -> None:
        pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadedWSGIServer):
    app: GatewayApp

    def __init__(
        self, host: str, port: int, app: GatewayApp, request_timeout: float, fd: int
    ) -> None:
        self.request_timeout = request_timeout
        super().__init__(host, port, app, _Handler, fd=fd)

    def log(self, type: str, message: str, *args: Any) -> None:
        """werkzeug's own report of a failure, scrubbed (it may quote the request)."""
        text = message % args if args else message
        print(f"local API: {type}: {redact_text(text)}", file=sys.stderr, flush=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A bug in the handler: its traceback on stderr, scrubbed (values may be credentials)."""
        print(
            f"local API: error while serving {client_address[0]}:\n"
            + redact_text(traceback.format_exc()),
            file=sys.stderr,
            flush=True,
        )


def make_http_server(
    host: str, port: int, app: GatewayApp, request_timeout: float
) -> ThreadedWSGIServer:
    """A threaded werkzeug server for ``app`` (``port=0``: a free one); ``serve_forever`` runs it.

    The socket is bound here and handed over (werkzeug's ``fd``): werkzeug itself answers a
    port in use by exiting the process, and ``OSError`` here lets the caller say what to do.
    """
    with socket.create_server((host, port), backlog=128) as listener:
        return _Server(host, listener.getsockname()[1], app, request_timeout, listener.fileno())


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)  # no reason phrase, as the standard library sends it
