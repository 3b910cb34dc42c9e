"""Property tests of the batch decoder: it never raises anything but our typed 4xx errors, and
every valid batch, however it is sent, decodes to what was sent."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from lucent.errors import BatchTooLarge, InvalidBatch, UnsupportedContentType
from lucent.ingest.batch import decode_batch, parse_batch

TYPED = (InvalidBatch, BatchTooLarge, UnsupportedContentType)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def nested(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=20,
    )


_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = nested(_scalars | st.floats(allow_nan=False, allow_infinity=False))
# What Python's json.dumps also writes, though it is not JSON: NaN, Infinity, -Infinity.
loose_values = nested(_scalars | st.floats())
content_types = (
    st.sampled_from(["application/json", "text/plain;charset=UTF-8", "TEXT/PLAIN", "text/html", ""])
    | st.none()
    | st.text(max_size=30)
)

session_ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,127}\Z")
events = st.fixed_dictionaries(
    {
        "type": st.integers(-(2**63), 2**63),
        "timestamp": st.integers(0, 2**53),
        "data": st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    },
    optional={"delay": st.integers(), "extra": json_values},
)
batches = st.fixed_dictionaries(
    {
        "session_id": session_ids,
        "sequence": st.integers(0, 9_999_999_999),
        "events": st.lists(events, min_size=1, max_size=8),
    },
    optional={
        "window_id": st.text(max_size=40),
        "sent_at": st.integers(0, 2**53) | st.text(max_size=30),
        "metadata": st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    },
)


def decode_or_typed_error(content_type: str | None, body: str | None, is_base64: bool) -> None:
    """Anything but one of our typed errors (with a status and a message) fails the test."""
    error: InvalidBatch | BatchTooLarge | UnsupportedContentType | None = None
    try:
        decode_batch(content_type, body, is_base64)
    except TYPED as exc:
        error = exc
    if error is not None:
        assert error.status in (400, 413, 415)
        assert error.message


@FUZZ
@given(content_type=content_types, body=st.none() | st.text(), is_base64=st.booleans())
@example(content_type="application/json", body="H4s=", is_base64=True)
def test_any_text_body(content_type: str | None, body: str | None, is_base64: bool) -> None:
    decode_or_typed_error(content_type, body, is_base64)


@FUZZ
@given(data=st.binary(), gzipped=st.booleans())
@example(data=b"\x1f\x8b", gzipped=False)
@example(data=b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", gzipped=False)
def test_any_bytes_base64_encoded(data: bytes, gzipped: bool) -> None:
    payload = gzip.compress(data, mtime=0) if gzipped else data
    decode_or_typed_error("application/json", base64.b64encode(payload).decode(), True)


@FUZZ
@given(document=loose_values, gzipped=st.booleans())
def test_any_json_document(document: Any, gzipped: bool) -> None:
    raw = json.dumps(document).encode()
    payload = gzip.compress(raw, mtime=0) if gzipped else raw
    decode_or_typed_error("application/json", base64.b64encode(payload).decode(), True)


@FUZZ
@given(
    batch=batches,
    overrides=st.dictionaries(
        st.sampled_from(["session_id", "sequence", "events", "window_id", "sent_at", "metadata"]),
        json_values,
        max_size=2,
    ),
)
def test_near_valid_batches(batch: dict[str, Any], overrides: dict[str, Any]) -> None:
    raw = json.dumps({**batch, **overrides}).encode()
    decode_or_typed_error("text/plain", base64.b64encode(raw).decode(), True)


@FUZZ
@given(batch=batches, data=st.data())
def test_corrupted_gzip_of_a_valid_batch(batch: dict[str, Any], data: st.DataObject) -> None:
    packed = bytearray(gzip.compress(json.dumps(batch).encode(), mtime=0))
    position = data.draw(st.integers(0, len(packed) - 1))
    kind = data.draw(st.sampled_from(["flip", "truncate", "append"]))
    if kind == "flip":
        packed[position] ^= data.draw(st.integers(1, 255))
    elif kind == "truncate":
        del packed[position:]
    else:
        packed += data.draw(st.binary(min_size=1, max_size=20))
    decode_or_typed_error("application/json", base64.b64encode(bytes(packed)).decode(), True)


@FUZZ
@given(
    batch=batches,
    gzipped=st.booleans(),
    is_base64=st.booleans(),
    compact=st.booleans(),
    content_type=st.sampled_from(
        ["application/json", "text/plain;charset=UTF-8", "Application/Json; charset=utf-8"]
    ),
)
def test_valid_batches_round_trip(
    batch: dict[str, Any], gzipped: bool, is_base64: bool, compact: bool, content_type: str
) -> None:
    assume(is_base64 or not gzipped)  # raw gzip only ever arrives base64-encoded
    separators = (",", ":") if compact else (", ", ": ")
    raw = json.dumps(batch, separators=separators).encode()
    sent = gzip.compress(raw, mtime=0) if gzipped else raw
    body = base64.b64encode(sent).decode() if is_base64 else sent.decode()
    decoded = decode_batch(content_type, body, is_base64)
    assert decoded.body == sent
    assert decoded.client_gzip is gzipped
    assert decoded.json_size == len(raw)
    assert decoded.event_count == len(batch["events"])
    assert decoded.batch.document == batch
    assert parse_batch(raw) == decoded.batch
