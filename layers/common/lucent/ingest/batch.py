"""Decoding and validating a replay batch: pure, no AWS (docs/ingest.md, docs/limits.md).

From an API Gateway proxy event's Content-Type, body and ``isBase64Encoded`` to a validated
batch, or one of three typed errors: ``InvalidBatch`` (400), ``BatchTooLarge`` (413) and
``UnsupportedContentType`` (415). Nothing else escapes ``decode_batch``: tests/test_batch_fuzz.py
holds it to that.

* gzip is recognised by its first two bytes (1f 8b) only, never by ``Content-Encoding``: API
  Gateway may already have inflated a body and still pass the header on, and a beacon Blob of gzip
  bytes arrives with no Content-Encoding at all.
* Decompression is a stream with a cap on its output, so a gzip bomb is refused after
  ``MAX_DECOMPRESSED_BYTES + 1`` bytes, never at its full size.
* JSON is read by ``lucent.json_body`` (duplicate keys refused anywhere, nesting bounded by
  ``MAX_JSON_DEPTH``: a full DOM snapshot nests two levels per DOM level, so pydantic-core's own
  parser, which stops at 200, would refuse real pages) and then validated by plain typed code
  (``validate_batch``) with strict types: no bool or string for an int. Integer fields take any
  number without a fractional part (``1.0``, ``1e3``): JSON has one number type, JSON Schema's
  ``integer`` admits them, and a Python integration's ``json.dumps(1.0)`` sends ``1.0``. Only the
  validated value is converted; the stored bytes are what was sent.
* Validation is hand-written, not pydantic, to keep pydantic's import and model build out of
  ingest's cold start (docs/decisions/025-lean-ingest-validation.md). Its messages are pydantic's
  wording, in JSON's words ("an object", "an array"), and tests/unit/test_batch_reference.py holds
  its decisions and first message equal to a strict pydantic model of the same schema on
  generated documents.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from dataclasses import dataclass
from typing import Any, NoReturn

from lucent import json_body
from lucent.errors import BatchTooLarge, InvalidBatch, UnsupportedContentType

# Limits (docs/limits.md explains each choice).
MAX_BODY_BYTES = 3 * 1024 * 1024  # as sent, after base64: 4 MiB of base64 in a 6 MB event
MAX_DECOMPRESSED_BYTES = 10 * 1024 * 1024
MAX_EVENTS = 5_000
MAX_SEQUENCE = 9_999_999_999  # ten digits: the object key zero-pads it to keep sessions sorted
# Objects and arrays nested in one batch: rrweb's FullSnapshot nests 2 levels per DOM level, so
# this keeps deep real pages and stays under what the interpreter's parser reaches from the
# handler's stack (docs/limits.md, "Nesting", has the measurements).
MAX_JSON_DEPTH = 800
SUPPORTED_MEDIA_TYPES = ("application/json", "text/plain")
GZIP_MAGIC = b"\x1f\x8b"

# base64 of MAX_BODY_BYTES, so an oversized body is refused before it is decoded.
_MAX_BASE64_CHARS = 4 * ((MAX_BODY_BYTES + 2) // 3)
# A session id is a segment of the S3 key (lucent.ingest.replays): no '/', '.', '%' or '\\'.
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_SHOWN_MEDIA_TYPE_CHARS = 100


@dataclass(frozen=True, slots=True)
class ReplayBatch:
    """A valid batch of the SDK: the fields ingest reads, and ``document``, the whole parsed
    object (unknown keys and all). Events are its parsed JSON objects; what is stored is the
    bytes the client sent, which parse to ``document``."""

    document: dict[str, Any]
    session_id: str
    sequence: int
    events: list[dict[str, Any]]
    window_id: str | None = None
    sent_at: int | str | None = None
    metadata: dict[str, Any] | None = None


SESSION_ID_RULE = (
    "must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-', starting with a letter or digit"
)
MAX_WINDOW_ID_CHARS = 256
_REQUIRED = "Field required"
_NOT_INTEGER = "Input should be a valid integer"
_NOT_STRING = "Input should be a valid string"
_NOT_OBJECT = "Input should be an object"
_NOT_ARRAY = "Input should be an array"
_SENT_AT = "Input should be an integer (epoch milliseconds) or a string"
_MISSING = object()


def _refuse(where: str, message: str) -> NoReturn:
    text = f"Invalid batch: {where}: {message}" if where else f"Invalid batch: {message}"
    raise InvalidBatch(text, "invalid_batch")


def _integer(value: Any, where: str) -> int:
    """An integer as JSON writes it: 3, 3.0 or 3e0; not true, 3.5, "3" or Infinity."""
    if type(value) is int:  # not bool: a bool is an int subclass, and is refused
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    _refuse(where, _NOT_INTEGER)


def _required(document: dict[str, Any], name: str, where: str) -> Any:
    value = document.get(name, _MISSING)
    if value is _MISSING:
        _refuse(where, _REQUIRED)
    return value


def _check_event(index: int, event: Any) -> None:
    """Every rule of one event, in field order (type, timestamp, data): the first problem as the
    client reads it. Only events the fast path did not pass get here."""
    where = f"events.{index}"
    if type(event) is not dict:
        _refuse(where, _NOT_OBJECT)
    # The validated values are ints (3.0 becomes 3); the stored bytes stay as sent.
    event["type"] = _integer(_required(event, "type", f"{where}.type"), f"{where}.type")
    event["timestamp"] = _integer(
        _required(event, "timestamp", f"{where}.timestamp"), f"{where}.timestamp"
    )
    if type(_required(event, "data", f"{where}.data")) is not dict:
        _refuse(f"{where}.data", _NOT_OBJECT)


def validate_batch(document: Any) -> ReplayBatch:
    """The batch schema (docs/openapi-ingest.yaml), fields checked in order, first problem
    reported: session_id, sequence, events (each: type, timestamp, data), window_id, sent_at,
    metadata. Other keys are allowed and kept."""
    if type(document) is not dict:
        _refuse("", _NOT_OBJECT)
    session_id = _required(document, "session_id", "session_id")
    if type(session_id) is not str:
        _refuse("session_id", _NOT_STRING)
    # fullmatch, not "$": Python's "$" would also accept a trailing newline.
    if SESSION_ID.fullmatch(session_id) is None:
        _refuse("session_id", SESSION_ID_RULE)
    sequence = _integer(_required(document, "sequence", "sequence"), "sequence")
    if sequence < 0:
        _refuse("sequence", "Input should be greater than or equal to 0")
    if sequence > MAX_SEQUENCE:
        _refuse("sequence", f"Input should be less than or equal to {MAX_SEQUENCE}")
    events = _required(document, "events", "events")
    if type(events) is not list:
        _refuse("events", _NOT_ARRAY)
    if not events:
        _refuse("events", "List should have at least 1 item after validation, not 0")
    for index, event in enumerate(events):
        # The common case in one line of type checks; the slow path names the problem (or
        # passes an integral float such as 3.0).
        if (
            type(event) is not dict
            or type(event.get("type")) is not int
            or type(event.get("timestamp")) is not int
            or type(event.get("data")) is not dict
        ):
            _check_event(index, event)
    window_id = document.get("window_id")
    if window_id is not None:
        if type(window_id) is not str:
            _refuse("window_id", _NOT_STRING)
        if len(window_id) > MAX_WINDOW_ID_CHARS:
            _refuse("window_id", f"String should have at most {MAX_WINDOW_ID_CHARS} characters")
    sent_at = document.get("sent_at")
    if sent_at is not None and type(sent_at) is not str:
        if type(sent_at) is not int and not (type(sent_at) is float and sent_at.is_integer()):
            _refuse("sent_at", _SENT_AT)
        sent_at = int(sent_at)
    metadata = document.get("metadata")
    if metadata is not None and type(metadata) is not dict:
        _refuse("metadata", _NOT_OBJECT)
    return ReplayBatch(document, session_id, sequence, events, window_id, sent_at, metadata)


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """A valid batch and the bytes it came in."""

    batch: ReplayBatch
    body: bytes  # exactly as the client sent it (base64 removed), gzip or not
    client_gzip: bool  # ``body`` is gzip (and decoded to ``json_size`` bytes of valid JSON)
    json_size: int

    @property
    def event_count(self) -> int:
        return len(self.batch.events)


def media_type(content_type: str | None) -> str:
    """The supported media type of a Content-Type header (parameters ignored, any letter case)."""
    value = json_body.media_type(content_type)
    if value is None:
        raise UnsupportedContentType("Missing Content-Type: send application/json or text/plain")
    if value not in SUPPORTED_MEDIA_TYPES:
        shown = value[:_SHOWN_MEDIA_TYPE_CHARS]
        raise UnsupportedContentType(
            f"Unsupported content type: {shown}; send application/json or text/plain"
        )
    return value


def body_bytes(body: str | None, is_base64: bool) -> bytes:
    """The bytes the client sent: base64-decoded when API Gateway says so, size-capped."""
    if not body:
        raise InvalidBatch("Request body is empty", "empty_body")
    if is_base64:
        if len(body) > _MAX_BASE64_CHARS:
            _too_large_body()
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidBatch("Body is not valid base64", "invalid_base64") from None
    else:
        if len(body) > MAX_BODY_BYTES:
            _too_large_body()
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidBatch("Body is not valid UTF-8", "invalid_json") from None
    if len(raw) > MAX_BODY_BYTES:
        _too_large_body()
    if not raw:
        raise InvalidBatch("Request body is empty", "empty_body")
    return raw


def _too_large_body() -> NoReturn:
    raise BatchTooLarge(
        f"Request body too large: the limit is {MAX_BODY_BYTES} bytes", "body_too_large"
    )


def is_gzip(raw: bytes) -> bool:
    return raw[:2] == GZIP_MAGIC


def gunzip_capped(data: bytes, cap: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Inflate gzip (one or more members) as a stream, refusing output over ``cap`` bytes.

    Never allocates more than ``cap + 1`` bytes of output: a bomb stops at the cap.
    """
    out = bytearray()
    rest = data
    while True:
        inflater = zlib.decompressobj(wbits=31)
        try:
            out += inflater.decompress(rest, cap + 1 - len(out))
        except zlib.error as exc:
            raise InvalidBatch(f"Body is not valid gzip: {exc}", "invalid_gzip") from None
        if len(out) > cap:
            raise BatchTooLarge(
                f"Decompressed body too large: the limit is {cap} bytes", "decompressed_too_large"
            )
        if not inflater.eof:
            raise InvalidBatch("Body is not valid gzip: the stream is truncated", "invalid_gzip")
        rest = inflater.unused_data
        if not rest:
            return bytes(out)
        if not is_gzip(rest):
            raise InvalidBatch(
                "Body is not valid gzip: unexpected data after the gzip stream", "invalid_gzip"
            )


def parse_batch(document: bytes) -> ReplayBatch:
    """Parse and validate the JSON of a batch (already inflated)."""
    if not document:
        raise InvalidBatch("Request body is empty", "empty_body")
    try:
        parsed = json_body.loads(document, max_depth=MAX_JSON_DEPTH)
    except json_body.InvalidJson as exc:
        raise InvalidBatch(exc.message, exc.reason) from None
    if isinstance(parsed, dict):
        events = parsed.get("events")
        if isinstance(events, list) and len(events) > MAX_EVENTS:
            raise BatchTooLarge(
                f"Too many events in one batch: {len(events)} (the limit is {MAX_EVENTS})",
                "too_many_events",
            )
    return validate_batch(parsed)


def decode_batch(content_type: str | None, body: str | None, is_base64: bool) -> DecodedBatch:
    """From the request's Content-Type and body to a validated batch, or a typed 4xx error."""
    media_type(content_type)
    raw = body_bytes(body, is_base64)
    if is_gzip(raw):
        document = gunzip_capped(raw)
        return DecodedBatch(parse_batch(document), raw, client_gzip=True, json_size=len(document))
    return DecodedBatch(parse_batch(raw), raw, client_gzip=False, json_size=len(raw))
