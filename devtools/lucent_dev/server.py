"""The HTTP layer of the local API: each request, whatever its method or framing, answered in
JSON by ``gateway.Gateway``.
"""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from lucent.redaction import redact_text
from lucent_dev.gateway import MAX_REQUEST_BYTES, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from lucent_dev.local_api import LocalApi


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
    server: HttpServer
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


class HttpServer(ThreadingHTTPServer):
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
