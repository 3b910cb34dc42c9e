"""The local API's HTTP layer over raw sockets (issue 9): every request the gateway sees gets the
documented JSON, and neither its request log nor the functions' logs ever show a credential.

* Methods the template does not route (TRACE, CONNECT, FOO, a lower-case ``post``) get what API
  Gateway gives: the MISSING_AUTHENTICATION_TOKEN gateway response, or the function's 405 where an
  ANY route takes them; never Python's HTML 501.
* A body that breaks off, stops coming or has chunk sizes that are not numbers gets a 400-class
  JSON error with the API's DEFAULT_4XX headers (CORS on the ingest API), a clean close and one
  log line; a request line or headers werkzeug's parser refuses get its own 4xx at once.
* Credentials in any percent-encoding, in the query, in another parameter's value, in the path,
  in the method, authenticate as they should and are absent from every log line.

One ``LocalApi`` serves the module, with the functions' logs on and Powertools logging every
event whole (``POWERTOOLS_LOGGER_LOG_EVENT``), the most a developer can turn on.
"""

from __future__ import annotations

import io
import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote

import pytest

from lucent.auth.credentials import PREFIXES, CredentialKind, generate_secret, issue_credential
from lucent.auth.store import CredentialStore
from lucent.contract import READ_SCOPE
from lucent_dev import demo
from lucent_dev.local_api import LocalApi
from tests.integration.live_api import INGEST, LocalApis, client, send, stored_objects

ISSUES = "/api/v1/issues"
ROLES = demo.roles()
KEY = ROLES["public_key"]
API_KEY = ROLES["api_key"]
REQUEST_TIMEOUT = 2.0
INGEST_ERROR_HEADERS = {
    "Content-Type": "application/json",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Retry-After",
}
NOT_FOUND = b'{"error": "Not found"}'
LOG_LINE = re.compile(r"(?P<request>\S+ \S+) (?P<status>\d{3}) \d+\.\d ms(?:  \((?P<note>.*)\))?")


@pytest.fixture(scope="module")
def log() -> io.StringIO:
    return io.StringIO()


@pytest.fixture(scope="module")
def api(log: io.StringIO, local_apis: LocalApis) -> Iterator[LocalApi]:
    with pytest.MonkeyPatch.context() as env:
        # Read by Powertools when the handlers load: every event is logged whole, headers too.
        env.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
        with local_apis.exclusive(
            log=log, function_logs=True, request_timeout=REQUEST_TIMEOUT
        ) as running:
            yield running


@pytest.fixture(autouse=True)
def quiet_log(log: io.StringIO) -> None:
    """A request is logged just after its answer is written: the previous test's last line may
    still be on its way. Each test starts once the log has been still for 100 ms."""
    deadline = time.monotonic() + 5
    previous = -1
    while (current := line_count(log)) != previous and time.monotonic() < deadline:
        previous = current
        time.sleep(0.1)


# --- raw HTTP --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawReply:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header_dict(self) -> dict[str, str]:
        """Every header but Date and Server, which say nothing about the request."""
        return {k: v for k, v in self.headers if k not in ("Date", "Server")}


def exchange(api: LocalApi, raw: bytes, *, half_close: bool = False) -> RawReply:
    """Send ``raw`` as is, read until the server closes, parse exactly one response.

    Fails if the connection is reset instead of closed, or if anything follows the response.
    """
    with socket.create_connection((api.host, api.port), timeout=30) as connection:
        connection.sendall(raw)
        if half_close:
            connection.shutdown(socket.SHUT_WR)  # the client has nothing more to send
        received = b""
        while piece := connection.recv(65536):  # a reset raises ConnectionResetError
            received += piece
    head, separator, body = received.partition(b"\r\n\r\n")
    assert separator, f"no complete response: {received[:300]!r}"
    status_line, *header_lines = head.decode("iso-8859-1").split("\r\n")
    version, status, reason = status_line.split(" ", 2)
    assert version == "HTTP/1.1"
    headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in header_lines)]
    length = int(dict(headers)["Content-Length"])
    assert len(body) == length, f"{len(body)} bytes after the head, Content-Length {length}"
    return RawReply(int(status), reason, headers, body)


def log_lines_after(log: io.StringIO, before: int, count: int = 1) -> list[str]:
    """The log's lines after the first ``before``, once there are ``count`` of them."""
    deadline = time.monotonic() + 10
    while len(lines := log.getvalue().splitlines()) < before + count:
        assert time.monotonic() < deadline, f"no log line after {lines[before:]}"
        time.sleep(0.02)
    time.sleep(0.05)  # a second line would come now
    return log.getvalue().splitlines()[before:]


def line_count(log: io.StringIO) -> int:
    return len(log.getvalue().splitlines())


# --- methods the template does not route -----------------------------------------------------


@pytest.mark.parametrize("method", ["TRACE", "FOO", "post", "options", "PROPFIND"])
def test_a_method_no_ingest_route_takes_is_the_ingest_404_with_cors(
    api: LocalApi, log: io.StringIO, method: str
) -> None:
    before = line_count(log)
    reply = send(
        api,
        method,
        INGEST,
        headers=[("Content-Type", "application/json"), ("X-Lucent-Api-Key", KEY)],
        body=json.dumps(
            {
                "session_id": f"method-{method}",
                "sequence": 0,
                "events": [{"type": 4, "timestamp": 1, "data": {}}],
            }
        ).encode(),
    )
    assert (reply.status, reply.body) == (404, NOT_FOUND)
    assert {k: v for k, v in reply.headers.items() if k not in ("Date", "Server")} == {
        **INGEST_ERROR_HEADERS,
        "x-amzn-ErrorType": "MissingAuthenticationTokenException",
        "Content-Length": str(len(NOT_FOUND)),
        "Connection": "close",  # werkzeug's server answers each connection once
    }
    # Methods are case-sensitive: a lower-case post is not the ingest route, nothing is stored.
    assert stored_objects(api, f"replays/{demo.DEMO_ORG_ID}/method-") == {}
    [line] = log_lines_after(log, before)
    assert re.fullmatch(
        rf"{method} /api/sdk/replay 404 \d+\.\d ms  \(MISSING_AUTHENTICATION_TOKEN\)", line
    )


def test_connect_is_a_json_404(api: LocalApi, log: io.StringIO) -> None:
    before = line_count(log)
    reply = exchange(
        api,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n",
    )
    assert (reply.status, reply.body) == (404, NOT_FOUND)
    assert dict(reply.headers)["Content-Type"] == "application/json"
    [line] = log_lines_after(log, before)
    assert re.fullmatch(
        r"CONNECT example\.com:443 404 \d+\.\d ms  \(MISSING_AUTHENTICATION_TOKEN\)", line
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", ISSUES),
        ("DELETE", ISSUES),
        ("POST", f"{ISSUES}/{demo.DEMO_ISSUE_ID}"),
        ("HEAD", "/api/v1/signals"),
    ],
)
def test_a_method_an_any_route_takes_is_the_functions_405(
    api: LocalApi, method: str, path: str
) -> None:
    reply = send(api, method, path, headers=[("Authorization", f"Bearer {API_KEY}")])
    want = b"" if method == "HEAD" else b'{"error": "Method not allowed"}'
    assert (reply.status, reply.body) == (405, want)
    assert reply.header("Content-Type") == "application/json"
    assert reply.header("Allow") == ("GET, PATCH" if path.count("/") == 4 else "GET")
    assert reply.header("Access-Control-Allow-Origin") is None  # the Data API has no CORS


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("TRACE", ISSUES),
        ("FOO", ISSUES),
        ("post", ISSUES),
        ("TRACE", f"{ISSUES}/{demo.DEMO_ISSUE_ID}"),
        ("PROPFIND", "/api/v1/signals"),
    ],
)
def test_a_method_api_gateway_does_not_route_is_the_data_404_even_under_an_any_route(
    api: LocalApi, method: str, path: str
) -> None:
    """ANY stands for API Gateway's seven methods only: TRACE, an invented method or a lower-case
    one match no route (the same 404 as an unknown path), whatever the token."""
    reply = send(api, method, path, headers=[("Authorization", f"Bearer {API_KEY}")])
    assert (reply.status, reply.body) == (404, NOT_FOUND)
    assert reply.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    assert reply.header("Access-Control-Allow-Origin") is None


def test_a_method_on_a_path_no_route_takes_is_the_data_404_without_cors(api: LocalApi) -> None:
    reply = send(api, "TRACE", "/api/v1/nothing")
    assert (reply.status, reply.body) == (404, NOT_FOUND)
    assert {k: v for k, v in reply.headers.items() if k not in ("Date", "Server")} == {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": "MissingAuthenticationTokenException",
        "Content-Length": str(len(NOT_FOUND)),
        "Connection": "close",  # werkzeug's server answers each connection once
    }


# --- malformed framing -----------------------------------------------------------------------
# werkzeug parses the framing (an invalid Content-Length reads as an empty body there). What
# this checks is what the gateway adds: a body that breaks off or stops coming gets the API's
# DEFAULT_4XX answer (CORS on the ingest API) and one log line, and the server goes on serving.


@dataclass(frozen=True)
class Framing:
    name: str
    raw: bytes
    error: str
    status: int = 400
    half_close: bool = False


def _post(headers: str, body: bytes = b"", path: str = INGEST) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nX-Lucent-Api-Key: {KEY}\r\n{headers}\r\n".encode()
        + body
    )


CHUNKED = "Transfer-Encoding: chunked\r\n"
FRAMINGS = [
    Framing("chunk size zz", _post(CHUNKED, b"zz\r\nhello\r\n0\r\n\r\n"), "Malformed chunked body"),
    Framing(
        "body shorter than its Content-Length",
        _post("Content-Length: 100\r\n", b"hello"),
        "Request body is truncated",
        half_close=True,
    ),
    Framing(
        "a body that stops coming",
        _post("Content-Length: 100\r\n", b"hello"),
        f"Request body incomplete: nothing received for {REQUEST_TIMEOUT:g} s",
        status=408,
    ),
]


@pytest.mark.parametrize("case", FRAMINGS, ids=[c.name for c in FRAMINGS])
def test_a_body_that_breaks_off_is_the_apis_json_4xx_and_one_log_line(
    api: LocalApi, log: io.StringIO, capsys: pytest.CaptureFixture[str], case: Framing
) -> None:
    before = line_count(log)
    reply = exchange(api, case.raw, half_close=case.half_close)
    body = json.dumps({"error": case.error}).encode()
    assert (reply.status, reply.body) == (case.status, body)
    assert reply.header_dict() == {
        **INGEST_ERROR_HEADERS,
        "Content-Length": str(len(body)),
        "Connection": "close",
    }
    [line] = log_lines_after(log, before)
    assert line == _expected_line("POST /api/sdk/replay", case.status, case.error, line)
    assert "Traceback" not in capsys.readouterr().err
    assert stored_objects(api) == {}
    # The server goes on serving.
    assert send(api, "GET", "/api/sdk/nothing").status == 404


def _expected_line(request: str, status: int, error: str, line: str) -> str:
    found = LOG_LINE.fullmatch(line)
    assert found, line
    elapsed = line.split(" ")[3]
    return f"{request} {status} {elapsed} ms  (MALFORMED_REQUEST: {error})"


def test_a_body_that_breaks_off_on_the_data_api_has_no_cors(
    api: LocalApi, log: io.StringIO
) -> None:
    before = line_count(log)
    raw = f"PATCH {ISSUES}/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
    reply = exchange(api, raw.encode() + CHUNKED.encode() + b"\r\nzz\r\n{}\r\n0\r\n\r\n")
    body = json.dumps({"error": "Malformed chunked body"}).encode()
    assert (reply.status, reply.body) == (400, body)
    assert reply.header_dict() == {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "close",
    }
    [line] = log_lines_after(log, before)
    assert line == _expected_line(f"PATCH {ISSUES}/x", 400, "Malformed chunked body", line)


PARSER_REFUSALS = [
    pytest.param(
        f"POST /api/sdk/replay?api_key={KEY} extra HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        id="a request line of four words",
    ),
    pytest.param(
        b"GET /api/sdk/replay HTTP/1.1\r\n"
        + b"".join(b"X-N%d: v\r\n" % i for i in range(101))
        + b"\r\n",
        id="101 headers",
    ),
]


@pytest.mark.parametrize("raw", PARSER_REFUSALS)
def test_a_request_the_parser_refuses_is_a_quick_4xx_and_the_server_goes_on(
    api: LocalApi, log: io.StringIO, capsys: pytest.CaptureFixture[str], raw: bytes
) -> None:
    """The server's own answer is enough here; it must come at once, quote no credential in its
    status line or the log, print no traceback, and leave the server serving."""
    before = line_count(log)
    started = time.monotonic()
    reply = exchange(api, raw)
    assert time.monotonic() - started < REQUEST_TIMEOUT  # answered, not timed out
    assert 400 <= reply.status < 500
    assert KEY not in reply.reason
    [line] = log_lines_after(log, before)
    assert LOG_LINE.fullmatch(line), line
    assert f" {reply.status} " in line
    assert "(MALFORMED_REQUEST: " in line
    assert KEY not in log.getvalue()
    assert "Traceback" not in capsys.readouterr().err
    assert send(api, "GET", "/api/sdk/nothing").status == 404


# --- credentials in the logs -----------------------------------------------------------------


def _escape_all(text: str, lower: bool = False) -> str:
    escaped = "".join(f"%{ord(c):02X}" for c in text)
    return escaped.lower() if lower else escaped


# How a client may spell the name ``api_key`` and a credential: the server decodes them once.
NAME_SPELLINGS = {
    "plain": "api_key",
    "%5F": "api%5Fkey",
    "%5f": "api%5fkey",
    "every character": _escape_all("api_key", lower=True),
}
VALUE_SPELLINGS = {
    "plain": lambda secret: secret,
    "%5F": lambda secret: secret.replace("_", "%5F"),
    "%5f": lambda secret: secret.replace("_", "%5f"),
    "every character": _escape_all,
    "every other character, mixed case": lambda secret: "".join(
        f"%{ord(c):02{'x' if i % 4 == 1 else 'X'}}" if i % 2 else c for i, c in enumerate(secret)
    ),
}


def _issue(api: LocalApi, kind: CredentialKind) -> str:
    scopes = [READ_SCOPE] if kind is CredentialKind.OAUTH else None
    issued = issue_credential(kind, demo.DEMO_ORG_ID, secret=generate_secret(kind), scopes=scopes)
    CredentialStore(client(api, "dynamodb"), api.names["CredentialsTable"]).put(issued)
    return issued.secret


def _readings(text: str) -> list[str]:
    """``text`` and ``text`` decoded one to four times (``+`` kept, and ``+`` as a space)."""
    out = [text]
    plain = spaced = text
    for _ in range(4):
        plain, spaced = unquote(plain), unquote(spaced.replace("+", " "))
        out += [plain, spaced]
    return out


def _assert_absent(secrets: list[str], logged: str) -> None:
    for secret in secrets:
        prefix = next(p for p in PREFIXES.values() if secret.startswith(p))
        body = secret[len(prefix) :]
        for reading in _readings(logged):
            assert secret not in reading
            assert not any(body[i : i + 8] in reading for i in range(len(body) - 7))


def _note(line: str) -> str | None:
    """Who answered, when not the function (None: the function did, so the caller was let in)."""
    found = LOG_LINE.fullmatch(line)
    assert found, line
    return found["note"]


def _beacon(session_id: str) -> bytes:
    event = {"type": 4, "timestamp": 1_767_225_600_000, "data": {}}
    return json.dumps({"session_id": session_id, "sequence": 0, "events": [event]}).encode()


def test_an_ingest_key_in_any_spelling_authenticates_and_is_logged_nowhere(
    api: LocalApi, log: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    secret = _issue(api, CredentialKind.PUBLIC)
    before = line_count(log)
    sent = 0
    for name_spelling, name in NAME_SPELLINGS.items():
        for value_spelling, spell in VALUE_SPELLINGS.items():
            session = f"spelling-{sent}"
            reply = send(
                api,
                "POST",
                f"{INGEST}?{name}={spell(secret)}&note=a+b",
                headers=[("Content-Type", "text/plain;charset=UTF-8")],
                body=_beacon(session),
            )
            assert (reply.status, reply.json()["events_stored"]) == (200, 1), (
                name_spelling,
                value_spelling,
            )
            sent += 1
    # The key as a path segment, in another parameter's value (a callback URL), in the method.
    nested = quote(f"/cb?api_key={secret}", safe="")
    for method, target, status in [
        ("POST", f"{INGEST}/{secret.replace('_', '%5F')}", 404),
        ("POST", f"{INGEST}?api_key={secret}&next={nested}", 200),
        (secret, INGEST, 404),
        # Encoded twice, the server reads the literal luc%5Fpk%5F...: not a key, refused, and
        # still not logged.
        ("POST", f"{INGEST}?api_key={quote(secret.replace('_', '%5F'), safe='')}", 401),
    ]:
        reply = send(
            api,
            method,
            target,
            headers=[("Content-Type", "text/plain")],
            body=_beacon(f"spelling-{sent}"),
        )
        assert reply.status == status, (method, target, reply.body)
        sent += 1
    lines = log_lines_after(log, before, sent)
    assert len(lines) == sent
    # Every authenticated request was answered by the function, not by a gateway response.
    assert [_note(line) for line in lines[: sent - 4]] == [None] * (sent - 4)
    assert all("[REDACTED]" in line for line in lines), lines
    _assert_absent([secret], log.getvalue())
    function_logs = capsys.readouterr().out
    assert '"queryStringParameters"' in function_logs  # the events were logged whole
    _assert_absent([secret], function_logs)


@pytest.mark.parametrize(
    "kind", [CredentialKind.API, CredentialKind.OAUTH, CredentialKind.MCP], ids=lambda k: k.value
)
def test_a_bearer_token_in_any_spelling_in_a_url_is_logged_nowhere(
    api: LocalApi, log: io.StringIO, capsys: pytest.CaptureFixture[str], kind: CredentialKind
) -> None:
    capsys.readouterr()
    secret = _issue(api, kind)
    bearer = [("Authorization", f"Bearer {secret}")]
    before = line_count(log)
    sent = 0
    for spell in VALUE_SPELLINGS.values():
        # Pasted into the query (the Data API ignores unknown parameters) and as an issue id.
        listed = send(api, "GET", f"{ISSUES}?note={spell(secret)}&limit=1", headers=bearer)
        assert listed.status == 200
        got = send(api, "GET", f"{ISSUES}/{spell(secret)}", headers=bearer)
        assert (got.status, got.json()) == (404, {"error": "Issue not found"})
        sent += 2
    lines = log_lines_after(log, before, sent)
    assert [_note(line) for line in lines] == [None] * sent
    assert all("[REDACTED]" in line for line in lines), lines
    _assert_absent([secret], log.getvalue())
    function_logs = capsys.readouterr().out
    assert '"Authorization"' in function_logs  # the events, headers included, were logged whole
    _assert_absent([secret], function_logs)


def test_header_values_never_reach_the_request_log_even_when_not_credential_shaped(
    api: LocalApi, log: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped key is not credential-shaped, and almost a secret: the log line has no headers,
    the authorizer logs its decision and never the event, and the functions' event dumps lose the
    values of the credential headers by name."""
    capsys.readouterr()
    before = line_count(log)
    typo_key, typo_token = "luc-pk-typo-1f3a9c7e5b", "not-a-token-8d2e6b4a0c"
    ingest = send(
        api,
        "POST",
        INGEST,
        headers=[("Content-Type", "application/json"), ("X-Lucent-Api-Key", typo_key)],
        body=_beacon("typo"),
    )
    assert (ingest.status, ingest.body) == (401, b'{"error": "Invalid or revoked API key"}')
    data = send(api, "GET", ISSUES, headers=[("Authorization", f"Bearer {typo_token}")])
    assert (data.status, data.body) == (401, b'{"error": "Missing or invalid bearer token"}')
    # A request that reaches a function (which dumps its event here) carrying the typo too.
    listed = send(
        api,
        "GET",
        ISSUES,
        headers=[
            ("Authorization", f"Bearer {demo.roles()['api_key']}"),
            ("X-Lucent-Api-Key", typo_key),
        ],
    )
    assert listed.status == 200
    lines = log_lines_after(log, before, 3)
    # The server writes a request's line after answering it, from the connection's thread, so
    # the next request's line can come first: match the lines by request, not by position.
    assert len(lines) == 3, lines
    ingest_line = next(line for line in lines if "POST /api/sdk/replay" in line)
    data_line = next(line for line in lines if "GET /api/v1/issues 401" in line)
    assert ingest_line == _expected_plain("POST /api/sdk/replay", 401, "ACCESS_DENIED", ingest_line)
    assert data_line == _expected_plain("GET /api/v1/issues", 401, "UNAUTHORIZED", data_line)
    function_logs = capsys.readouterr().out
    assert function_logs.count('"message":"authorizer decision"') == 3
    assert '"X-Lucent-Api-Key":"[REDACTED]"' in function_logs.replace(" ", "")
    for value in (typo_key, typo_token):
        assert value not in log.getvalue()
        assert value not in function_logs


def _expected_plain(request: str, status: int, outcome: str, line: str) -> str:
    found = LOG_LINE.fullmatch(line)
    assert found, line
    return f"{request} {status} {line.split(' ')[3]} ms  ({outcome})"


def test_control_characters_in_the_request_line_are_escaped_in_the_log(
    api: LocalApi, log: io.StringIO
) -> None:
    before = line_count(log)
    reply = exchange(
        api, b"GET /api/v1/nothing\x1b[31m\x7f\xe9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert (reply.status, reply.body) == (404, NOT_FOUND)
    [line] = log_lines_after(log, before)
    assert line.startswith("GET /api/v1/nothing\\x1b[31m\\x7f\\xe9 404 ")
