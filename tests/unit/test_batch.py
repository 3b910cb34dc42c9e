"""lucent.ingest.batch: content types, base64, gzip (streamed, capped), JSON and the batch schema."""

from __future__ import annotations

import base64
import gzip
import json
import tracemalloc
import zlib
from typing import Any

import pytest

from lucent.errors import BatchTooLarge, InvalidBatch, UnsupportedContentType
from lucent.ingest.batch import (
    MAX_BODY_BYTES,
    MAX_DECOMPRESSED_BYTES,
    MAX_EVENTS,
    decode_batch,
    gunzip_capped,
    media_type,
    parse_batch,
)

EVENTS = [
    {"type": 4, "timestamp": 1000, "data": {"href": "https://a.example/"}},
    {"type": 3, "timestamp": 1001, "data": {"source": 2}, "extra": [1, 2]},
]


def raw_batch(**fields: Any) -> bytes:
    body: dict[str, Any] = {"session_id": "abc", "sequence": 3, "events": EVENTS, **fields}
    return json.dumps(body).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- content type -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/json", "application/json"),
        ("APPLICATION/JSON", "application/json"),
        ("application/json;charset=UTF-8", "application/json"),
        ("text/plain;charset=UTF-8", "text/plain"),
        ("  text/plain  ; foo=bar", "text/plain"),
    ],
)
def test_supported_media_types(header: str, expected: str) -> None:
    assert media_type(header) == expected


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Missing Content-Type: send application/json or text/plain"),
        ("  ", "Missing Content-Type: send application/json or text/plain"),
        ("text/html", "Unsupported content type: text/html; send application/json or text/plain"),
        (
            "application/json-patch+json",
            "Unsupported content type: application/json-patch+json; "
            "send application/json or text/plain",
        ),
        (
            "x/" + "y" * 500,
            f"Unsupported content type: x/{'y' * 98}; send application/json or text/plain",
        ),
    ],
)
def test_unsupported_media_types(header: str | None, message: str) -> None:
    with pytest.raises(UnsupportedContentType) as caught:
        media_type(header)
    assert caught.value.message == message
    assert caught.value.status == 415


def test_the_content_type_is_checked_before_the_body() -> None:
    with pytest.raises(UnsupportedContentType):
        decode_batch("image/png", None, False)


# --- bodies -------------------------------------------------------------------------------------


def test_plain_base64_and_text_bodies_decode_alike() -> None:
    raw = raw_batch()
    from_b64 = decode_batch("application/json", b64(raw), True)
    from_text = decode_batch("application/json", raw.decode(), False)
    assert from_b64 == from_text
    assert from_b64.body == raw
    assert not from_b64.client_gzip
    assert from_b64.json_size == len(raw)
    assert from_b64.event_count == 2
    assert from_b64.batch.session_id == "abc"
    assert from_b64.batch.sequence == 3


def test_gzip_is_recognised_by_its_bytes() -> None:
    raw = raw_batch()
    packed = gzip.compress(raw, mtime=0)
    decoded = decode_batch("text/plain", b64(packed), True)
    assert decoded.client_gzip
    assert decoded.body == packed
    assert decoded.json_size == len(raw)


def test_extra_event_keys_are_kept() -> None:
    decoded = decode_batch("application/json", b64(raw_batch()), True)
    assert decoded.batch.events[1]["extra"] == [1, 2]


def test_optional_fields() -> None:
    batch = parse_batch(raw_batch(window_id="w", sent_at="2026-01-01T00:00:00Z", metadata={"a": 1}))
    assert (batch.window_id, batch.sent_at, batch.metadata) == (
        "w",
        "2026-01-01T00:00:00Z",
        {"a": 1},
    )
    assert parse_batch(raw_batch(sent_at=1_767_225_600_000)).sent_at == 1_767_225_600_000
    assert parse_batch(raw_batch(sent_at=None)).sent_at is None


@pytest.mark.parametrize(
    ("body", "is_base64", "error", "message"),
    [
        (None, False, InvalidBatch, "Request body is empty"),
        ("", True, InvalidBatch, "Request body is empty"),
        ("====", True, InvalidBatch, "Body is not valid base64"),
        ("é", True, InvalidBatch, "Body is not valid base64"),
        ("\ud800", False, InvalidBatch, "Body is not valid UTF-8"),
        ("A" * (4 * (MAX_BODY_BYTES // 3) + 8), True, BatchTooLarge, None),
        (b64(b" " * (MAX_BODY_BYTES + 1)), True, BatchTooLarge, None),
        (" " * (MAX_BODY_BYTES + 1), False, BatchTooLarge, None),
        ("é" * (MAX_BODY_BYTES // 2 + 1), False, BatchTooLarge, None),  # counted in bytes
        ("*" * (4 * (MAX_BODY_BYTES // 3) + 1), True, BatchTooLarge, None),  # before validity
        ("\ud800" * (MAX_BODY_BYTES + 1), False, BatchTooLarge, None),
        ("\x00", False, InvalidBatch, "Body is not valid JSON"),
        ("AA==", True, InvalidBatch, "Body is not valid JSON"),
    ],
)
def test_body_errors(
    body: str | None, is_base64: bool, error: type[Exception], message: str | None
) -> None:
    with pytest.raises(error) as caught:
        decode_batch("application/json", body, is_base64)
    expected = message or f"Request body too large: the limit is {MAX_BODY_BYTES} bytes"
    assert str(caught.value) == expected


# --- gzip ---------------------------------------------------------------------------------------


def test_gunzip_reads_every_member() -> None:
    assert gunzip_capped(gzip.compress(b"ab", mtime=0) + gzip.compress(b"cd", mtime=0)) == b"abcd"


def test_gunzip_cap_is_inclusive() -> None:
    packed = gzip.compress(b"x" * 100, mtime=0)
    assert gunzip_capped(packed, cap=100) == b"x" * 100
    with pytest.raises(BatchTooLarge, match="Decompressed body too large: the limit is 99 bytes"):
        gunzip_capped(packed, cap=99)


def test_gunzip_cap_counts_every_member() -> None:
    member = gzip.compress(b"x" * 60, mtime=0)
    with pytest.raises(BatchTooLarge):
        gunzip_capped(member + member, cap=100)


def test_a_gzip_bomb_is_refused_without_allocating_its_size() -> None:
    deflater = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\x00" * (1 << 20)
    bomb = b"".join(deflater.compress(chunk) for _ in range(256)) + deflater.flush()  # 256 MiB
    tracemalloc.start()
    try:
        with pytest.raises(BatchTooLarge):
            gunzip_capped(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_DECOMPRESSED_BYTES  # output buffer and its copy, not 256 MiB


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x1f\x8b", "Body is not valid gzip: the stream is truncated"),
        (gzip.compress(b"{}", mtime=0)[:-1], "Body is not valid gzip: the stream is truncated"),
        (
            gzip.compress(b"{}", mtime=0) + b"\x00",
            "Body is not valid gzip: unexpected data after the gzip stream",
        ),
        (
            b"\x1f\x8b\x07" + b"\x00" * 20,
            "Body is not valid gzip: Error -3 while decompressing data: unknown compression method",
        ),
        (
            gzip.compress(b"{}", mtime=0)[:-4] + b"\x00\x00\x00\x00",
            "Body is not valid gzip: Error -3 while decompressing data: incorrect length check",
        ),
    ],
)
def test_broken_gzip(data: bytes, message: str) -> None:
    with pytest.raises(InvalidBatch) as caught:
        gunzip_capped(data)
    assert caught.value.message == message
    assert caught.value.reason == "invalid_gzip"


# --- JSON and schema ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{", "Body is not valid JSON"),
        (b"", "Request body is empty"),
        (b'{"a": Infinity}', "Body is not valid JSON"),
        (b'{"a": -Infinity}', "Body is not valid JSON"),
        (b'{"sequence": ' + b"9" * 5000 + b"}", "Body is not valid JSON"),
        (b"\xc3\x28", "Body is not valid JSON: it is not UTF-8"),
        (b"[" * 50_000 + b"]" * 50_000, "Body is not valid JSON: nested too deeply"),
        (b"null", "Invalid batch: Input should be an object"),
        (b'"s"', "Invalid batch: Input should be an object"),
        (
            json.dumps({"session_id": 5, "sequence": 0, "events": EVENTS}).encode(),
            "Invalid batch: session_id: Input should be a valid string",
        ),
        (
            json.dumps(
                {"session_id": "a", "sequence": 0, "events": EVENTS, "window_id": 1}
            ).encode(),
            "Invalid batch: window_id: Input should be a valid string",
        ),
        (
            json.dumps(
                {
                    "session_id": "a",
                    "sequence": 0,
                    "events": [{"type": True, "timestamp": 1, "data": {}}],
                }
            ).encode(),
            "Invalid batch: events.0.type: Input should be a valid integer",
        ),
        (
            json.dumps(
                {
                    "session_id": "a",
                    "sequence": 0,
                    "events": [{"type": 1, "timestamp": "1", "data": {}}],
                }
            ).encode(),
            "Invalid batch: events.0.timestamp: Input should be a valid integer",
        ),
    ],
)
def test_json_and_schema_errors(document: bytes, message: str) -> None:
    with pytest.raises(InvalidBatch) as caught:
        parse_batch(document)
    assert caught.value.message == message


def test_event_count_limit() -> None:
    events = [{"type": 3, "timestamp": 1, "data": {}}] * MAX_EVENTS
    assert len(parse_batch(raw_batch(events=events)).events) == MAX_EVENTS
    with pytest.raises(BatchTooLarge) as caught:
        parse_batch(raw_batch(events=[*events, events[0]]))
    assert caught.value.reason == "too_many_events"


def test_first_error_is_reported() -> None:
    document = json.dumps({"sequence": -1, "events": []}).encode()
    with pytest.raises(InvalidBatch) as caught:
        parse_batch(document)
    assert caught.value.message == "Invalid batch: session_id: Field required"


@pytest.mark.parametrize(
    ("text", "value"),
    [("7", 7), ("7.0", 7), ("7e0", 7), ("0.7e1", 7), ("-0.0", 0), ("7E+2", 700), ("1e3", 1000)],
)
def test_integer_fields_take_any_integral_number(text: str, value: int) -> None:
    document = (
        f'{{"session_id": "a", "sequence": {text.lstrip("-")}, "sent_at": {text}, '
        f'"events": [{{"type": {text}, "timestamp": {text}, "data": {{}}}}]}}'
    ).encode()
    batch = parse_batch(document)
    assert batch.sequence == abs(value)
    assert (batch.events[0]["type"], batch.events[0]["timestamp"], batch.sent_at) == (value,) * 3
    assert all(type(v) is int for v in (batch.sequence, batch.events[0]["type"], batch.sent_at))


@pytest.mark.parametrize("text", ["7.5", "true", '"7"', "1e400", "-1e400", "[7]", "{}"])
def test_integer_fields_refuse_what_is_not_an_integer(text: str) -> None:
    for field in ("sequence", "type", "timestamp"):
        event = {"type": 3, "timestamp": 1, "data": {}}
        batch: dict[str, Any] = {"session_id": "a", "sequence": 0, "events": [event]}
        target = batch if field == "sequence" else event
        target[field] = "SLOT"
        document = json.dumps(batch).replace('"SLOT"', text).encode()
        where = field if field == "sequence" else f"events.0.{field}"
        with pytest.raises(InvalidBatch) as caught:
            parse_batch(document)
        assert caught.value.message == f"Invalid batch: {where}: Input should be a valid integer"
