"""Malformed requests to the ingest and Data APIs, over real HTTP to a LocalApi (gateway, authorizer, functions,
moto). Every one must get the exact 4xx and JSON error below -- never a 5xx, never an HTML page --
and write nothing: the replay bucket stays empty and the demo issue keeps its status.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lucent_dev import demo
from lucent_dev.local_api import LocalApi
from tests.integration.live_api import (
    INGEST,
    Reply,
    object_etags,
    read_object,
    send,
)

KEY = demo.roles()["public_key"]
REVOKED = demo.roles()["revoked_public_key"]
API_KEY = demo.roles()["api_key"]
WRITER = demo.roles()["api_key_write"]
ISSUE = f"/api/v1/issues/{demo.DEMO_ISSUE_ID}"
JSON = ("Content-Type", "application/json")


def _batch(**overrides: object) -> bytes:
    document: dict[str, object] = {
        "session_id": "adversarial",
        "sequence": 0,
        "events": [{"type": 4, "timestamp": 1_767_225_600_000, "data": {"href": "/"}}],
    }
    document.update(overrides)
    return json.dumps(document).encode()


GOOD = _batch()
GOOD_GZ = gzip.compress(GOOD)


def _corrupt(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def _bad_crc(data: bytes) -> bytes:
    return data[:-8] + bytes(b ^ 0xFF for b in data[-8:-4]) + data[-4:]


def _bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    out = [compressor.compress(chunk) for _ in range(size >> 20)]
    return b"".join([*out, compressor.flush()])


def _deep(levels: int) -> bytes:
    return (
        b'{"session_id": "deep", "sequence": 0, "events": ' + b"[" * levels + b"]" * levels + b"}"
    )


def _deep_event(levels: int) -> bytes:
    data = b'{"a":' * levels + b"1" + b"}" * levels
    return (
        b'{"session_id": "deep", "sequence": 0, "events": [{"type": 3, "timestamp": 1, "data": '
        + data
        + b"}]}"
    )


def _events(n: int) -> bytes:
    return json.dumps(
        {
            "session_id": "many",
            "sequence": 0,
            "events": [{"type": 3, "timestamp": i, "data": {}} for i in range(n)],
        }
    ).encode()


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    status: int = 400
    error: str | None = None  # the exact message; None: any non-empty message
    error_prefix: str | None = None


def ingest_case(
    name: str,
    body: bytes | None,
    status: int = 400,
    error: str | None = None,
    *,
    headers: list[tuple[str, str]] | None = None,
    query: str = "",
    error_prefix: str | None = None,
) -> Case:
    sent = [JSON, ("X-Lucent-Api-Key", KEY)] if headers is None else headers
    return Case(name, "POST", INGEST + query, sent, body, status, error, error_prefix)


MISSING_KEY = "Missing API key"
INVALID_KEY = "Invalid or revoked API key"
INVALID_TOKEN = "Missing or invalid bearer token"
NOT_FOUND = "Not found"
NOT_GZIP = "Body is not valid gzip"
NOT_JSON = "Body is not valid JSON"
TOO_DEEP = "Body is not valid JSON: nested too deeply"

CASES: list[Case] = [
    # --- gzip ----------------------------------------------------------------------------------
    ingest_case("truncated gzip", GOOD_GZ[: len(GOOD_GZ) // 2], error_prefix=NOT_GZIP),
    ingest_case("corrupted gzip", _corrupt(GOOD_GZ), error_prefix=NOT_GZIP),
    ingest_case("gzip with a bad CRC", _bad_crc(GOOD_GZ), error_prefix=NOT_GZIP),
    ingest_case("gzip magic bytes only", b"\x1f\x8b", error_prefix=NOT_GZIP),
    ingest_case("garbage after the gzip stream", GOOD_GZ + b"garbage", error_prefix=NOT_GZIP),
    ingest_case("gzip of gzip", gzip.compress(GOOD_GZ), error_prefix=NOT_JSON),
    ingest_case("gzip of text", gzip.compress(b"hello"), error=NOT_JSON),
    ingest_case(
        "gzip bomb (64 MiB of zeros)", _bomb(64 << 20), 413, error_prefix="Decompressed body"
    ),
    ingest_case(
        "gzip bomb in many members",
        b"".join(gzip.compress(b"\0" * (1 << 20)) for _ in range(12)),
        413,
        error_prefix="Decompressed body",
    ),
    ingest_case(
        "Content-Encoding: gzip on a body that is not JSON",
        b"not json",
        headers=[JSON, ("Content-Encoding", "gzip"), ("X-Lucent-Api-Key", KEY)],
        error=NOT_JSON,
    ),
    ingest_case(
        "Content-Encoding: br on brotli-looking bytes",
        b"\x8b\x02\x80garbage",
        headers=[JSON, ("Content-Encoding", "br"), ("X-Lucent-Api-Key", KEY)],
        error_prefix=NOT_JSON,
    ),
    ingest_case("base64 text of a gzip body", base64.b64encode(GOOD_GZ), error=NOT_JSON),
    # --- content types -------------------------------------------------------------------------
    ingest_case(
        "no Content-Type",
        GOOD,
        415,
        headers=[("X-Lucent-Api-Key", KEY)],
        error="Missing Content-Type: send application/json or text/plain",
    ),
    ingest_case(
        "Content-Type image/png",
        GOOD,
        415,
        headers=[("Content-Type", "image/png"), ("X-Lucent-Api-Key", KEY)],
        error="Unsupported content type: image/png; send application/json or text/plain",
    ),
    ingest_case(
        "Content-Type application/xml",
        b"<batch/>",
        415,
        headers=[("Content-Type", "application/xml"), ("X-Lucent-Api-Key", KEY)],
        error="Unsupported content type: application/xml; send application/json or text/plain",
    ),
    ingest_case(
        "Content-Type multipart/form-data",
        b"--x\r\n\r\n--x--",
        415,
        headers=[("Content-Type", "multipart/form-data; boundary=x"), ("X-Lucent-Api-Key", KEY)],
        error="Unsupported content type: multipart/form-data; send application/json or text/plain",
    ),
    ingest_case(
        "Content-Type application/json-patch+json",
        GOOD,
        415,
        headers=[("Content-Type", "application/json-patch+json"), ("X-Lucent-Api-Key", KEY)],
        error_prefix="Unsupported content type: application/json-patch+json",
    ),
    # --- bodies --------------------------------------------------------------------------------
    ingest_case("empty body", b"", error="Request body is empty"),
    ingest_case(
        "invalid UTF-8", b'{"session_id": "\xff\xfe", "events": []}', error_prefix=NOT_JSON
    ),
    ingest_case("UTF-16 JSON", GOOD.decode().encode("utf-16"), error_prefix=NOT_JSON),
    ingest_case("UTF-8 byte order mark", b"\xef\xbb\xbf" + GOOD, error_prefix=NOT_JSON),
    ingest_case("JSON null", b"null", error_prefix="Invalid batch"),
    ingest_case("JSON array", b"[]", error_prefix="Invalid batch"),
    ingest_case("no events", _batch(events=[]), error_prefix="Invalid batch: events"),
    ingest_case("events is an object", _batch(events={}), error_prefix="Invalid batch: events"),
    ingest_case(
        "event without timestamp",
        _batch(events=[{"type": 3, "data": {}}]),
        error_prefix="Invalid batch: events.0.timestamp",
    ),
    ingest_case(
        "timestamp as a string",
        _batch(events=[{"type": 3, "timestamp": "1", "data": {}}]),
        error_prefix="Invalid batch: events.0.timestamp",
    ),
    ingest_case(
        "type as a boolean",
        _batch(events=[{"type": True, "timestamp": 1, "data": {}}]),
        error_prefix="Invalid batch: events.0.type",
    ),
    ingest_case("negative sequence", _batch(sequence=-1), error_prefix="Invalid batch: sequence"),
    ingest_case(
        "sequence over ten digits", _batch(sequence=10**10), error_prefix="Invalid batch: sequence"
    ),
    ingest_case("float sequence", _batch(sequence=1.5), error_prefix="Invalid batch: sequence"),
    ingest_case("NaN", GOOD.replace(b'"sequence": 0', b'"sequence": NaN'), error=NOT_JSON),
    ingest_case(
        "an integer of 5,000 digits",
        GOOD.replace(b'"sequence": 0', b'"sequence": ' + b"9" * 5000),
        error=NOT_JSON,
    ),
    ingest_case("JSON nested 100,000 deep", _deep(100_000), error=TOO_DEEP),
    ingest_case("event data nested 5,000 deep", _deep_event(5_000), error=TOO_DEEP),
    ingest_case("5,001 events", _events(5_001), 413, error_prefix="Too many events"),
    ingest_case(
        "4 MiB plain body",
        _batch(events=[{"type": 3, "timestamp": 1, "data": {"x": "a" * (4 << 20)}}]),
        413,
        error_prefix="Request body too large",
    ),
    ingest_case(
        "11 MB body (over API Gateway's limit)",
        b"x" * (11 * 1000 * 1000),
        413,
        error="Request body too large",
    ),
    # --- session ids ---------------------------------------------------------------------------
    ingest_case(
        "session_id ../..", _batch(session_id="../../etc"), error_prefix="Invalid batch: session_id"
    ),
    ingest_case(
        "session_id a/b", _batch(session_id="a/b"), error_prefix="Invalid batch: session_id"
    ),
    ingest_case(
        "empty session_id", _batch(session_id=""), error_prefix="Invalid batch: session_id"
    ),
    ingest_case(
        "session_id of 129 characters",
        _batch(session_id="s" * 129),
        error_prefix="Invalid batch: session_id",
    ),
    ingest_case(
        "session_id with a trailing newline",
        _batch(session_id="abc\n"),
        error_prefix="Invalid batch: session_id",
    ),
    ingest_case(
        "non-ASCII session_id",
        _batch(session_id="séance"),
        error_prefix="Invalid batch: session_id",
    ),
    ingest_case(
        "numeric session_id", _batch(session_id=12345), error_prefix="Invalid batch: session_id"
    ),
    # --- keys and headers ----------------------------------------------------------------------
    ingest_case("no key", GOOD, 401, MISSING_KEY, headers=[JSON]),
    ingest_case("empty key", GOOD, 401, MISSING_KEY, headers=[JSON, ("X-Lucent-Api-Key", "")]),
    ingest_case(
        "malformed key", GOOD, 401, INVALID_KEY, headers=[JSON, ("X-Lucent-Api-Key", "luc_pk_x")]
    ),
    ingest_case(
        "revoked key", GOOD, 401, INVALID_KEY, headers=[JSON, ("X-Lucent-Api-Key", REVOKED)]
    ),
    ingest_case(
        "a Data API key as ingest key",
        GOOD,
        401,
        INVALID_KEY,
        headers=[JSON, ("X-Lucent-Api-Key", API_KEY)],
    ),
    ingest_case(
        "a bearer token instead of a key",
        GOOD,
        401,
        MISSING_KEY,
        headers=[JSON, ("Authorization", f"Bearer {API_KEY}")],
    ),
    ingest_case(
        "revoked key in the header, valid key in the query (the header wins)",
        GOOD,
        401,
        INVALID_KEY,
        headers=[JSON, ("X-Lucent-Api-Key", REVOKED)],
        query=f"?api_key={KEY}",
    ),
    ingest_case(
        "valid key in the header, garbage in the query, bad body (the header wins)",
        b"{",
        error=NOT_JSON,
        headers=[JSON, ("X-Lucent-Api-Key", KEY)],
        query="?api_key=luc_pk_garbage",
    ),
    ingest_case(
        "revoked key in the query",
        GOOD,
        401,
        INVALID_KEY,
        headers=[("Content-Type", "text/plain")],
        query=f"?api_key={REVOKED}",
    ),
    ingest_case(
        "32 KiB key header",
        GOOD,
        401,
        INVALID_KEY,
        headers=[JSON, ("X-Lucent-Api-Key", "luc_pk_" + "a" * 32768)],
    ),
    ingest_case(
        "32 KiB User-Agent and a bad body",
        b"{",
        error=NOT_JSON,
        headers=[JSON, ("X-Lucent-Api-Key", KEY), ("User-Agent", "u" * 32768)],
    ),
    # --- routes and methods --------------------------------------------------------------------
    Case(
        "GET the ingest route",
        "GET",
        INGEST,
        [("X-Lucent-Api-Key", KEY)],
        None,
        405,
        "Method not allowed",
    ),
    Case(
        "PUT the ingest route",
        "PUT",
        INGEST,
        [JSON, ("X-Lucent-Api-Key", KEY)],
        GOOD,
        405,
        "Method not allowed",
    ),
    Case(
        "DELETE the ingest route",
        "DELETE",
        INGEST,
        [("X-Lucent-Api-Key", KEY)],
        None,
        405,
        "Method not allowed",
    ),
    # Methods are case-sensitive, and one the template does not route is the gateway's 404
    # (JSON, CORS), not Python's HTML 501.
    Case(
        "lower-case post on the ingest route",
        "post",
        INGEST,
        [JSON, ("X-Lucent-Api-Key", KEY)],
        GOOD,
        404,
        NOT_FOUND,
    ),
    Case("TRACE the ingest route", "TRACE", INGEST, [], None, 404, NOT_FOUND),
    Case("an invented method", "FOO", INGEST, [("X-Lucent-Api-Key", KEY)], None, 404, NOT_FOUND),
    Case(
        "trailing slash",
        "POST",
        INGEST + "/",
        [JSON, ("X-Lucent-Api-Key", KEY)],
        GOOD,
        404,
        NOT_FOUND,
    ),
    Case(
        "upper-case path",
        "POST",
        "/api/sdk/REPLAY",
        [JSON, ("X-Lucent-Api-Key", KEY)],
        GOOD,
        404,
        NOT_FOUND,
    ),
    Case(
        "dot segments",
        "POST",
        "/api/sdk/x/../replay",
        [JSON, ("X-Lucent-Api-Key", KEY)],
        GOOD,
        404,
        NOT_FOUND,
    ),
    # --- Data API ------------------------------------------------------------------------------
    Case("no token", "GET", "/api/v1/issues", [], None, 401, INVALID_TOKEN),
    Case(
        "Basic auth",
        "GET",
        "/api/v1/issues",
        [("Authorization", "Basic dXNlcjpwYXNz")],
        None,
        401,
        INVALID_TOKEN,
    ),
    Case(
        "public key as bearer",
        "GET",
        "/api/v1/issues",
        [("Authorization", f"Bearer {KEY}")],
        None,
        401,
        INVALID_TOKEN,
    ),
    Case(
        "token in the query",
        "GET",
        f"/api/v1/issues?access_token={API_KEY}",
        [],
        None,
        401,
        INVALID_TOKEN,
    ),
    Case(
        "bad cursor",
        "GET",
        "/api/v1/issues?cursor=!!!",
        [("Authorization", f"Bearer {API_KEY}")],
        None,
        400,
    ),
    Case(
        "cursor of base64 garbage",
        "GET",
        "/api/v1/issues?cursor=" + base64.urlsafe_b64encode(b'{"x": [1, 2]}').decode(),
        [("Authorization", f"Bearer {API_KEY}")],
        None,
        400,
    ),
    Case(
        "limit=0",
        "GET",
        "/api/v1/issues?limit=0",
        [("Authorization", f"Bearer {API_KEY}")],
        None,
        400,
    ),
    Case(
        "limit=abc",
        "GET",
        "/api/v1/issues?limit=abc",
        [("Authorization", f"Bearer {API_KEY}")],
        None,
        400,
    ),
    Case(
        "limit=10**6",
        "GET",
        "/api/v1/issues?limit=1000000",
        [("Authorization", f"Bearer {API_KEY}")],
        None,
        400,
    ),
    Case(
        "unknown status",
        "GET",
        "/api/v1/issues?status=deleted",
        [("Authorization", f"Bearer {API_KEY}")],
        None,
        400,
    ),
    Case(
        "dot-dot issue id",
        "GET",
        "/api/v1/issues/%2e%2e",
        [("Authorization", f"Bearer {API_KEY}")],
        None,
        404,
        "Issue not found",
    ),
    Case(
        "500-character issue id",
        "GET",
        "/api/v1/issues/" + "i" * 500,
        [("Authorization", f"Bearer {API_KEY}")],
        None,
        404,
        "Issue not found",
    ),
    Case(
        "PATCH with invalid JSON",
        "PATCH",
        ISSUE,
        [JSON, ("Authorization", f"Bearer {WRITER}")],
        b"{",
        400,
    ),
    Case(
        "PATCH with an unknown status",
        "PATCH",
        ISSUE,
        [JSON, ("Authorization", f"Bearer {WRITER}")],
        b'{"status": "deleted"}',
        400,
    ),
    Case(
        "PATCH with an array body",
        "PATCH",
        ISSUE,
        [JSON, ("Authorization", f"Bearer {WRITER}")],
        b'["resolved"]',
        400,
    ),
    Case(
        "PATCH without write:issues",
        "PATCH",
        ISSUE,
        [JSON, ("Authorization", f"Bearer {API_KEY}")],
        b'{"status": "resolved"}',
        403,
        "Missing required scope: write:issues",
    ),
    Case(
        "DELETE an issue",
        "DELETE",
        ISSUE,
        [("Authorization", f"Bearer {WRITER}")],
        None,
        405,
        "Method not allowed",
    ),
    Case(
        "POST the issue list",
        "POST",
        "/api/v1/issues",
        [JSON, ("Authorization", f"Bearer {WRITER}")],
        b"{}",
        405,
        "Method not allowed",
    ),
    Case(
        "TRACE an issue (ANY is API Gateway's seven methods: no route takes TRACE)",
        "TRACE",
        ISSUE,
        [("Authorization", f"Bearer {WRITER}")],
        None,
        404,
        "Not found",
    ),
    Case(
        "PUT an issue (the ANY route takes it to the function)",
        "PUT",
        ISSUE,
        [("Authorization", f"Bearer {WRITER}")],
        None,
        405,
        "Method not allowed",
    ),
    Case(
        "PUT signals",
        "PUT",
        "/api/v1/signals",
        [JSON, ("Authorization", f"Bearer {API_KEY}")],
        b"{}",
        405,
        "Method not allowed",
    ),
    Case(
        "unknown resource",
        "GET",
        "/api/v1/nope",
        [("Authorization", f"Bearer {API_KEY}")],
        None,
        404,
        NOT_FOUND,
    ),
]


# The exact messages of the cases above that give only a prefix or nothing (read from the
# functions' answers and reviewed: each names what is wrong without echoing the input).
EXACT: dict[str, str] = {
    "truncated gzip": "Body is not valid gzip: the stream is truncated",
    "gzip magic bytes only": "Body is not valid gzip: the stream is truncated",
    "garbage after the gzip stream": "Body is not valid gzip: unexpected data after the gzip stream",
    "gzip of gzip": "Body is not valid JSON: it is not UTF-8",
    "gzip bomb (64 MiB of zeros)": "Decompressed body too large: the limit is 10485760 bytes",
    "gzip bomb in many members": "Decompressed body too large: the limit is 10485760 bytes",
    "Content-Encoding: br on brotli-looking bytes": "Body is not valid JSON: it is not UTF-8",
    "Content-Type application/json-patch+json": "Unsupported content type: application/json-patch+json; send application/json or text/plain",
    "invalid UTF-8": "Body is not valid JSON: it is not UTF-8",
    "UTF-16 JSON": "Body is not valid JSON: it is not UTF-8",
    "UTF-8 byte order mark": "Body is not valid JSON",
    "JSON null": "Invalid batch: Input should be an object",
    "JSON array": "Invalid batch: Input should be an object",
    "no events": "Invalid batch: events: List should have at least 1 item after validation, not 0",
    "events is an object": "Invalid batch: events: Input should be an array",
    "event without timestamp": "Invalid batch: events.0.timestamp: Field required",
    "timestamp as a string": "Invalid batch: events.0.timestamp: Input should be a valid integer",
    "type as a boolean": "Invalid batch: events.0.type: Input should be a valid integer",
    "negative sequence": "Invalid batch: sequence: Input should be greater than or equal to 0",
    "sequence over ten digits": "Invalid batch: sequence: Input should be less than or equal to 9999999999",
    "float sequence": "Invalid batch: sequence: Input should be a valid integer",
    "5,001 events": "Too many events in one batch: 5001 (the limit is 5000)",
    "4 MiB plain body": "Request body too large: the limit is 3145728 bytes",
    "session_id ../..": "Invalid batch: session_id: must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-', starting with a letter or digit",
    "session_id a/b": "Invalid batch: session_id: must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-', starting with a letter or digit",
    "empty session_id": "Invalid batch: session_id: must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-', starting with a letter or digit",
    "session_id of 129 characters": "Invalid batch: session_id: must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-', starting with a letter or digit",
    "session_id with a trailing newline": "Invalid batch: session_id: must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-', starting with a letter or digit",
    "non-ASCII session_id": "Invalid batch: session_id: must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-', starting with a letter or digit",
    "numeric session_id": "Invalid batch: session_id: Input should be a valid string",
    "bad cursor": "Invalid cursor",
    "cursor of base64 garbage": "Invalid cursor",
    "limit=0": "Invalid query parameter 'limit': Input should be greater than or equal to 1",
    "limit=abc": "Invalid query parameter 'limit': Input should be a valid integer, unable to parse string as an integer",
    "limit=10**6": "Invalid query parameter 'limit': Input should be less than or equal to 100",
    "unknown status": "Invalid query parameter 'status': Input should be 'open', 'resolved' or 'ignored'",
    "PATCH with invalid JSON": "Request body must be a JSON object",
    "PATCH with an unknown status": "Invalid body field 'status': Input should be 'open', 'resolved' or 'ignored'",
    "PATCH with an array body": "Request body must be a JSON object",
}


@pytest.fixture(scope="module")
def api(shared_api: LocalApi) -> LocalApi:
    return shared_api  # conftest.py: one LocalApi for the modules that need nothing special


def _demo_issue(api: LocalApi) -> object:
    reply = send(api, "GET", ISSUE, headers=[("Authorization", f"Bearer {API_KEY}")])
    assert reply.status == 200, reply
    return reply.json()


def test_there_are_at_least_forty_distinct_cases() -> None:
    assert len({c.name for c in CASES}) == len(CASES) >= 40
    assert set(EXACT) <= {c.name for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_request_gets_a_json_4xx_and_writes_nothing(api: LocalApi, case: Case) -> None:
    writes_issue = case.method == "PATCH"
    issue_before = _demo_issue(api) if writes_issue else None
    objects_before = object_etags(api)  # the API is shared: what other modules stored stays
    reply: Reply = send(api, case.method, case.path, headers=case.headers, body=case.body)
    assert reply.status == case.status, (reply.status, reply.body[:300])
    assert (reply.header("Content-Type") or "").startswith("application/json")
    body = reply.json()
    assert isinstance(body, dict)
    assert set(body) == {"error"}, body
    message = body["error"]
    assert isinstance(message, str)
    assert message
    expected = case.error or EXACT.get(case.name)
    if expected is not None:
        assert message == expected
    if case.error_prefix is not None:
        assert message.startswith(case.error_prefix), message
    if case.path.startswith("/api/sdk/"):
        # Browsers can read every ingest error (CORS on errors, docs/errors.md).
        assert reply.header("Access-Control-Allow-Origin") == "*"
    assert object_etags(api) == objects_before
    if writes_issue:
        assert _demo_issue(api) == issue_before


# --- property-based, end to end ------------------------------------------------------------------
# The unit-level fuzz of the decoder is tests/test_batch_fuzz.py. This one goes through HTTP, the
# gateway (binary media types, base64) and the authorizer: mutated batches, any content type.

_mutations = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.integers(0, 255)),
)


def _mutate(data: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, where, value in mutations:
        if not out:
            break
        at = where % len(out)
        if kind == "flip":
            out[at] ^= value
        elif kind == "truncate":
            del out[at:]
        else:
            out.insert(at, value)
    return bytes(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sequence=st.integers(0, 10**9),
    compress=st.booleans(),
    mutations=st.lists(_mutations, min_size=1, max_size=3),
    content_type=st.sampled_from(
        ["application/json", "text/plain;charset=UTF-8", "application/json; charset=utf-8"]
    ),
)
def test_mutated_batches_never_get_a_5xx_and_only_what_is_acknowledged_is_stored(
    api: LocalApi,
    sequence: int,
    compress: bool,
    mutations: list[tuple[str, int, int]],
    content_type: str,
) -> None:
    session = "fuzz"
    raw = _batch(session_id=session, sequence=sequence)
    body = _mutate(gzip.compress(raw) if compress else raw, mutations)
    prefix = f"replays/{demo.DEMO_ORG_ID}/"
    before = object_etags(api, prefix)
    reply = send(
        api,
        "POST",
        INGEST,
        headers=[("Content-Type", content_type), ("X-Lucent-Api-Key", KEY)],
        body=body,
    )
    assert reply.status in {200, 400, 413, 415}, (reply.status, reply.body[:200])
    answer = reply.json()
    after = object_etags(api, prefix)
    if reply.status != 200:
        assert set(answer) == {"error"}
        assert after == before
        return
    # A mutation that still makes a valid batch: stored exactly as sent, under its own key.
    sent = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
    document = json.loads(sent)
    key = f"{prefix}{document['session_id']}/{document['sequence']:010d}.json.gz"
    assert answer["events_stored"] == len(document["events"])
    assert {k for k, etag in after.items() if before.get(k) != etag} <= {key}
    assert gzip.decompress(read_object(api, key)) == sent
