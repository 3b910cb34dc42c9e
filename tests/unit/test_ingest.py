"""POST/OPTIONS /api/sdk/replay: the ingest function driven with proxy events of the real shape,
against moto. Every test asserts the exact status, body bytes and headers, and what S3 holds."""

from __future__ import annotations

import gzip
import json
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from lucent import aws as lucent_aws
from lucent import container, json_body
from lucent.auth.credentials import CredentialKind
from lucent.contract import INGEST_CORS_HEADERS
from lucent.errors import InvalidBatch, LucentError
from lucent.http import Reply
from lucent.ingest.batch import (
    MAX_BODY_BYTES,
    MAX_DECOMPRESSED_BYTES,
    MAX_EVENTS,
    MAX_JSON_DEPTH,
    parse_batch,
)
from lucent.ingest.replays import GZIP_LEVEL
from lucent.ingest.service import IngestRequest, IngestService
from lucent.settings import get_settings
from lucent_dev import template as tpl
from lucent_dev.gateway import Gateway, HttpRequest, LocalContext, body_bytes
from tests.conftest import load_function
from tests.helpers import proxy_event, store_credential

INGEST = "/api/sdk/replay"
CTX = LocalContext("IngestFunction")
MODULE = "lucent_fn_IngestFunction"
MINUTE_START = 1_767_225_600.0  # a minute boundary (2026-01-01T00:00:00Z)
CRED = "cred_0123456789abcdef"
AUTH = {
    "org_id": "org_a",
    "credential_id": CRED,
    "kind": "public",
    "scopes": "",
    "rate_limit_per_minute": 100,
}
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After"}
JSON_CORS = {"Content-Type": "application/json", **CORS}


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


def events(count: int = 3) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"type": 4, "timestamp": 1_767_225_600_000, "data": {"href": "https://shop.example/"}}
    ]
    out += [
        {
            "type": 3,
            "timestamp": 1_767_225_600_100 + i,
            "data": {"source": 1, "positions": [{"x": i, "y": 2 * i, "id": 5, "timeOffset": 0}]},
            "delay": i,  # an extra key: kept as sent
        }
        for i in range(count - 1)
    ]
    return out


def batch(session_id: str = "sess-1", sequence: int = 0, **extra: Any) -> bytes:
    body: dict[str, Any] = {"session_id": session_id, "sequence": sequence, "events": events()}
    body.update(extra)
    return json.dumps(body, separators=(",", ":")).encode()


def key(session_id: str = "sess-1", sequence: int = 0, org: str = "org_a") -> str:
    return f"replays/{org}/{session_id}/{sequence:010d}.json.gz"


def ok_body(session_id: str = "sess-1", sequence: int = 0, stored: int = 3) -> bytes:
    return json.dumps(
        {"session_id": session_id, "sequence": sequence, "events_stored": stored}
    ).encode()


def error_body(message: str) -> str:
    return json.dumps({"error": message})


@dataclass
class Ingest:
    handler: Callable[[dict[str, Any], Any], Any]
    clock: Clock
    bucket: str
    s3: Any
    dynamodb: Any
    calls: list[str] = field(default_factory=list)

    def post(
        self,
        body: bytes | str | None,
        *,
        content_type: str | None = "application/json",
        base64_body: bool = True,
        headers: dict[str, str] | None = None,
        authorizer: dict[str, Any] | None = None,
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        all_headers = dict(headers or {})
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        event = proxy_event(
            INGEST,
            "POST",
            headers=all_headers,
            body=body,
            base64_body=base64_body,
            authorizer=AUTH if authorizer is None else authorizer,
            query=query,
        )
        result: dict[str, Any] = self.handler(event, CTX)
        return result

    def keys(self) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket)
        return [obj["Key"] for obj in listed.get("Contents", [])]

    def stored(self, object_key: str) -> tuple[bytes, dict[str, Any]]:
        obj = self.s3.get_object(Bucket=self.bucket, Key=object_key)
        return obj["Body"].read(), obj

    def counters(self, credential_id: str = CRED) -> dict[str, list[int]]:
        """The key's admissions per minute attribute: microsecond offsets into the minute."""
        table = get_settings().rate_limit_table
        item = self.dynamodb.get_item(TableName=table, Key={"pk": {"S": credential_id}}).get(
            "Item", {}
        )
        return {k: sorted(int(n) for n in v["NS"]) for k, v in item.items() if "NS" in v}


def install(clock: Clock) -> Callable[[dict[str, Any], Any], Any]:
    """A fresh container whose service reads time from ``clock`` (domain code takes a clock)."""
    handler = load_function("IngestFunction")
    module = sys.modules[MODULE]
    clocked = IngestService.from_settings(
        get_settings(), clock=clock, telemetry=module.PowertoolsTelemetry()
    )
    # The container's service, built once as the handler's factory would, but with our clock.
    module.service = lambda: clocked
    return handler


@pytest.fixture
def clock() -> Clock:
    return Clock(MINUTE_START + 10)


@pytest.fixture
def ingest(aws: dict[str, str], s3: Any, dynamodb: Any, clock: Clock) -> Ingest:
    handler = install(clock)
    recorder = Ingest(handler, clock, aws["ReplayBucket"], s3, dynamodb)
    settings = get_settings()
    for client in (lucent_aws.dynamodb_client(settings), lucent_aws.s3_client(settings)):

        def record(model: Any, **_: Any) -> None:
            recorder.calls.append(f"{model.service_model.service_id}.{model.name}")

        client.meta.events.register("before-call.*.*", record)
    return recorder


def emf(output: str) -> list[dict[str, Any]]:
    """The CloudWatch embedded-metric documents Powertools printed."""
    docs = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            docs.append(json.loads(line))
    return docs


def metric_names(output: str) -> list[str]:
    names = []
    for doc in emf(output):
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            names += [m["Name"] for m in directive["Metrics"]]
    return names


# --- accepted batches --------------------------------------------------------------------------


def test_plain_json_is_stored_gzipped_and_acknowledged(ingest: Ingest) -> None:
    raw = batch()
    response = ingest.post(raw)
    assert response == {"statusCode": 200, "headers": JSON_CORS, "body": ok_body().decode()}
    assert ingest.keys() == [key()]
    stored, obj = ingest.stored(key())
    assert gzip.decompress(stored) == raw
    assert stored == gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0)
    assert obj["ContentType"] == "application/json"
    assert obj["ContentEncoding"] == "gzip"


def test_plain_json_not_base64_encoded(ingest: Ingest) -> None:
    raw = batch()
    response = ingest.post(raw, base64_body=False)
    assert (response["statusCode"], response["body"]) == (200, ok_body().decode())
    assert gzip.decompress(ingest.stored(key())[0]) == raw


def test_client_gzip_is_stored_byte_for_byte(ingest: Ingest) -> None:
    client_gzip = gzip.compress(batch(), compresslevel=9, mtime=123)
    response = ingest.post(client_gzip, headers={"Content-Encoding": "gzip"})
    assert response == {"statusCode": 200, "headers": JSON_CORS, "body": ok_body().decode()}
    stored, obj = ingest.stored(key())
    assert stored == client_gzip
    assert (obj["ContentType"], obj["ContentEncoding"]) == ("application/json", "gzip")


def test_beacon_text_plain_gzip_without_content_encoding(ingest: Ingest) -> None:
    client_gzip = gzip.compress(batch(sequence=7), mtime=0)
    response = ingest.post(
        client_gzip, content_type="text/plain;charset=UTF-8", query={"api_key": "luc_pk_x"}
    )
    assert response == {
        "statusCode": 200,
        "headers": JSON_CORS,
        "body": ok_body(sequence=7).decode(),
    }
    assert ingest.stored(key(sequence=7))[0] == client_gzip


def test_beacon_text_plain_json(ingest: Ingest) -> None:
    raw = batch(sequence=2)
    response = ingest.post(raw, content_type="text/plain;charset=UTF-8", base64_body=False)
    assert (response["statusCode"], response["body"]) == (200, ok_body(sequence=2).decode())
    assert gzip.decompress(ingest.stored(key(sequence=2))[0]) == raw


def test_multi_member_client_gzip_is_stored_as_sent(ingest: Ingest) -> None:
    raw = batch()
    two_members = gzip.compress(raw[:10], mtime=0) + gzip.compress(raw[10:], mtime=0)
    response = ingest.post(two_members)
    assert (response["statusCode"], response["body"]) == (200, ok_body().decode())
    assert ingest.stored(key())[0] == two_members


def test_content_encoding_gzip_on_a_plain_body_is_accepted_as_plain(ingest: Ingest) -> None:
    """API Gateway may inflate a body and pass the header on: the bytes decide."""
    raw = batch()
    response = ingest.post(raw, headers={"Content-Encoding": "gzip"})
    assert (response["statusCode"], response["body"]) == (200, ok_body().decode())
    assert gzip.decompress(ingest.stored(key())[0]) == raw


def test_content_type_parameters_and_case_are_ignored(ingest: Ingest) -> None:
    for sequence, content_type in enumerate(
        ["Application/JSON", "application/json; charset=utf-8", "TEXT/PLAIN", " text/plain ;x=y"]
    ):
        assert ingest.post(batch(sequence=sequence), content_type=content_type)["statusCode"] == 200
    assert len(ingest.keys()) == 4


def test_integral_numbers_are_integers_and_stored_as_sent(ingest: Ingest) -> None:
    """JSON has one number type: 1.0 and 1e3 are integers (JSON Schema's ``integer`` agrees, and
    Python's json.dumps(1.0) writes 1.0). The object key uses the value, the object the bytes."""
    raw = (
        b'{"session_id":"floaty","sequence":1e3,"sent_at":1767225601000.0,'
        b'"events":[{"type":4.0,"timestamp":1.7672256e12,"data":{"href":"https://a.example/"}},'
        b'{"type":3,"timestamp":1767225600100.00,"data":{"source":1}}]}'
    )
    response = ingest.post(raw)
    assert response == {
        "statusCode": 200,
        "headers": JSON_CORS,
        "body": ok_body("floaty", 1000, 2).decode(),
    }
    assert ingest.keys() == ["replays/org_a/floaty/0000001000.json.gz"]
    assert gzip.decompress(ingest.stored(key("floaty", 1000))[0]) == raw


def test_null_optional_fields_are_accepted_and_stored_as_sent(ingest: Ingest) -> None:
    raw = batch(window_id=None, sent_at=None, metadata=None)
    assert b'"metadata":null' in raw
    assert ingest.post(raw)["body"] == ok_body().decode()
    assert gzip.decompress(ingest.stored(key())[0]) == raw


def test_content_type_header_name_is_case_insensitive(ingest: Ingest) -> None:
    response = ingest.post(batch(), content_type=None, headers={"content-type": "text/plain"})
    assert response["statusCode"] == 200


def test_extra_keys_and_optional_fields_are_kept_as_sent(ingest: Ingest) -> None:
    raw = batch(window_id="w-1", sent_at=1_767_225_601_000, metadata={"sdk": "1.2.0"}, extra=1)
    assert ingest.post(raw)["statusCode"] == 200
    assert gzip.decompress(ingest.stored(key())[0]) == raw


# --- write once (issue 17, finding 4) ------------------------------------------------------------

CONFLICT = {
    "statusCode": 409,
    "headers": JSON_CORS,
    "body": '{"error": "A different batch is already stored for this session_id and sequence"}',
}


def test_a_second_batch_with_other_events_is_409_and_the_first_stays(ingest: Ingest) -> None:
    first = batch(metadata={"user_id": "alice"})
    assert ingest.post(first)["statusCode"] == 200
    stored_before, head_before = ingest.stored(key())
    forged = json.loads(first)
    forged["events"] = forged["events"][:1]
    forged["metadata"] = {"user_id": "mallory"}
    for body in (json.dumps(forged).encode(), gzip.compress(json.dumps(forged).encode())):
        assert ingest.post(body) == CONFLICT
    stored_after, head_after = ingest.stored(key())
    assert stored_after == stored_before == gzip.compress(first, GZIP_LEVEL, mtime=0)
    assert head_after["LastModified"] == head_before["LastModified"]
    assert head_after["ETag"] == head_before["ETag"]
    assert ingest.keys() == [key()]


def test_one_changed_byte_is_a_conflict(ingest: Ingest) -> None:
    """Identical means the same JSON bytes: even whitespace changes what is replayed."""
    assert ingest.post(batch())["statusCode"] == 200
    assert ingest.post(batch() + b" ") == CONFLICT
    assert gzip.decompress(ingest.stored(key())[0]) == batch()


def test_an_identical_retry_is_200_and_changes_nothing(ingest: Ingest) -> None:
    first = ingest.post(batch())
    stored_before, head_before = ingest.stored(key())
    ingest.calls.clear()
    assert (
        ingest.post(batch())
        == first
        == {
            "statusCode": 200,
            "headers": JSON_CORS,
            "body": ok_body().decode(),
        }
    )
    # The conflict path only: the write is refused, the stored object is read and compared.
    assert ingest.calls == ["DynamoDB.UpdateItem", "S3.PutObject", "S3.GetObject"]
    stored_after, head_after = ingest.stored(key())
    assert (stored_after, head_after["LastModified"]) == (
        stored_before,
        head_before["LastModified"],
    )


def test_a_retry_compressed_otherwise_is_the_same_batch(ingest: Ingest) -> None:
    """The same JSON, sent plain and then as gzip (or the other way): 200, the first bytes kept."""
    first = ingest.post(batch())
    assert ingest.post(gzip.compress(batch(), mtime=1234)) == first
    assert ingest.stored(key())[0] == gzip.compress(batch(), GZIP_LEVEL, mtime=0)
    client_gzip = gzip.compress(batch(sequence=1), mtime=99)
    assert ingest.post(client_gzip)["statusCode"] == 200
    assert ingest.post(batch(sequence=1))["statusCode"] == 200
    assert ingest.stored(key(sequence=1))[0] == client_gzip
    assert ingest.keys() == [key(), key(sequence=1)]


def test_a_conflict_counts_against_the_rate_limit(ingest: Ingest) -> None:
    assert ingest.post(batch(), authorizer=LIMIT_2)["statusCode"] == 200
    assert ingest.post(batch(window_id="w-2"), authorizer=LIMIT_2) == CONFLICT
    third = ingest.post(batch(window_id="w-3"), authorizer=LIMIT_2)
    assert (third["statusCode"], third["body"]) == (429, error_body("Rate limit exceeded"))
    assert gzip.decompress(ingest.stored(key())[0]) == batch()


def test_a_conflict_is_logged_and_counted_without_the_body(
    ingest: Ingest, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ingest.post(batch(metadata={"user_id": "alice"}))["statusCode"] == 200
    capsys.readouterr()
    assert ingest.post(batch(metadata={"user_id": "mallory"})) == CONFLICT
    out = capsys.readouterr().out
    assert "mallory" not in out
    assert "alice" not in out
    [by_reason] = [d for d in emf(out) if "RejectedByReason" in d]
    assert by_reason["reason"] == "conflict"
    capsys.readouterr()
    assert ingest.post(batch(metadata={"user_id": "alice"}))["statusCode"] == 200
    names = metric_names(capsys.readouterr().out)
    assert names.count("BatchesRetried") == 1
    assert names.count("BatchesStored") == 0


def test_concurrent_writers_of_one_key_have_one_winner(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight containers race with eight different batches for one key: one 200, seven 409, and S3
    holds the winner's bytes. moto's in-process S3 checks ``If-None-Match`` and stores in two
    steps, so its ``put_object`` is serialised here, as S3 serialises conditional writes to one
    key; what this proves is that our answers follow from S3's."""
    import threading

    from moto.s3.models import S3Backend

    lock = threading.Lock()
    original = S3Backend.put_object

    def serialised(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "put_object", serialised)
    bodies = [batch(window_id=f"w-{i}") for i in range(8)]
    start = threading.Barrier(len(bodies))
    answers: dict[int, dict[str, Any]] = {}
    # The container's service, without the handler's Powertools decorators (their metric buffer
    # is per process, not per thread); the answers are made by lucent.http as the handler does.
    service: IngestService = sys.modules[MODULE].service()

    def send(i: int) -> None:
        event = proxy_event(
            INGEST,
            "POST",
            headers={"Content-Type": "application/json"},
            body=bodies[i],
            base64_body=True,
            authorizer=AUTH,
        )
        start.wait()
        try:
            result = service.handle(IngestRequest.from_event(event))
            answers[i] = Reply.json(200, result.body(), INGEST_CORS_HEADERS).to_proxy()
        except LucentError as exc:
            answers[i] = Reply.error(exc, INGEST_CORS_HEADERS).to_proxy()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [i for i, a in answers.items() if a["statusCode"] == 200]
    assert len(winners) == 1
    assert [a for i, a in answers.items() if i not in winners] == [CONFLICT] * 7
    assert gzip.decompress(ingest.stored(key())[0]) == bodies[winners[0]]


def test_sessions_and_sequences_get_their_own_objects(ingest: Ingest) -> None:
    for session_id, sequence in [("s1", 0), ("s1", 1), ("s2", 12)]:
        assert ingest.post(batch(session_id, sequence))["statusCode"] == 200
    assert sorted(ingest.keys()) == [key("s1", 0), key("s1", 1), key("s2", 12)]
    assert key("s2", 12) == "replays/org_a/s2/0000000012.json.gz"


def test_org_comes_only_from_the_authorizer(ingest: Ingest) -> None:
    raw = batch(org_id="org_evil")
    response = ingest.post(
        raw, headers={"X-Lucent-Org": "org_evil"}, authorizer={**AUTH, "org_id": "org_b"}
    )
    assert response["statusCode"] == 200
    assert ingest.keys() == [key(org="org_b")]


# --- 400 / 413 / 415: nothing stored ----------------------------------------------------------


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


BAD_REQUESTS: list[tuple[str, bytes | None, str]] = [
    ("no body", None, "Request body is empty"),
    ("empty body", b"", "Request body is empty"),
    ("not json", b"hello", "Body is not valid JSON"),
    ("truncated json", batch()[:-1], "Body is not valid JSON"),
    ("NaN", b'{"session_id": "s", "sequence": NaN, "events": []}', "Body is not valid JSON"),
    ("not utf-8", b'{"session_id": "\xff"}', "Body is not valid JSON: it is not UTF-8"),
    ("utf-8 bom", b"\xef\xbb\xbf" + batch(), "Body is not valid JSON"),
    ("gzip of nothing", _gz(b""), "Request body is empty"),
    ("gzip of not json", _gz(b"hello"), "Body is not valid JSON"),
    (
        "truncated gzip",
        _gz(batch())[:-9],
        "Body is not valid gzip: the stream is truncated",
    ),
    (
        "corrupt gzip",
        b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"\xff" * 30,
        "Body is not valid gzip: Error -3 while decompressing data: invalid block type",
    ),
    (
        "gzip magic only",
        b"\x1f\x8b",
        "Body is not valid gzip: the stream is truncated",
    ),
    (
        "trailing garbage after gzip",
        _gz(batch()) + b"garbage",
        "Body is not valid gzip: unexpected data after the gzip stream",
    ),
    (
        "bad crc",
        _gz(batch())[:-8] + b"\x00\x00\x00\x00" + _gz(batch())[-4:],
        "Body is not valid gzip: Error -3 while decompressing data: incorrect data check",
    ),
    ("top-level array", b"[]", "Invalid batch: Input should be an object"),
    (
        "missing session_id",
        b'{"sequence": 0, "events": []}',
        "Invalid batch: session_id: Field required",
    ),
    (
        "sequence is a bool",
        json.dumps({"session_id": "s", "sequence": True, "events": events()}).encode(),
        "Invalid batch: sequence: Input should be a valid integer",
    ),
    (
        "sequence with a fraction",
        json.dumps({"session_id": "s", "sequence": 1.5, "events": events()}).encode(),
        "Invalid batch: sequence: Input should be a valid integer",
    ),
    (
        "sequence too large for a float to hold",
        b'{"session_id": "s", "sequence": 1e400, "events": [{"type": 3, "timestamp": 1, "data": {}}]}',
        "Invalid batch: sequence: Input should be a valid integer",
    ),
    (
        "integral sequence over ten digits",
        b'{"session_id": "s", "sequence": 1e10, "events": [{"type": 3, "timestamp": 1, "data": {}}]}',
        "Invalid batch: sequence: Input should be less than or equal to 9999999999",
    ),
    (
        "type with a fraction",
        b'{"session_id": "s", "sequence": 0, "events": [{"type": 3.5, "timestamp": 1, "data": {}}]}',
        "Invalid batch: events.0.type: Input should be a valid integer",
    ),
    (
        "timestamp is a bool",
        b'{"session_id": "s", "sequence": 0, "events": [{"type": 3, "timestamp": true, "data": {}}]}',
        "Invalid batch: events.0.timestamp: Input should be a valid integer",
    ),
    (
        "sequence is a string",
        json.dumps({"session_id": "s", "sequence": "1", "events": events()}).encode(),
        "Invalid batch: sequence: Input should be a valid integer",
    ),
    (
        "negative sequence",
        json.dumps({"session_id": "s", "sequence": -1, "events": events()}).encode(),
        "Invalid batch: sequence: Input should be greater than or equal to 0",
    ),
    (
        "sequence over ten digits",
        json.dumps({"session_id": "s", "sequence": 10**10, "events": events()}).encode(),
        "Invalid batch: sequence: Input should be less than or equal to 9999999999",
    ),
    (
        "no events",
        json.dumps({"session_id": "s", "sequence": 0, "events": []}).encode(),
        "Invalid batch: events: List should have at least 1 item after validation, not 0",
    ),
    (
        "events not a list",
        json.dumps({"session_id": "s", "sequence": 0, "events": {}}).encode(),
        "Invalid batch: events: Input should be an array",
    ),
    (
        "float timestamp",
        json.dumps(
            {
                "session_id": "s",
                "sequence": 0,
                "events": [*events(3), {"type": 3, "timestamp": 1.5, "data": {}}],
            }
        ).encode(),
        "Invalid batch: events.3.timestamp: Input should be a valid integer",
    ),
    (
        "event without data",
        json.dumps(
            {"session_id": "s", "sequence": 0, "events": [{"type": 3, "timestamp": 1}]}
        ).encode(),
        "Invalid batch: events.0.data: Field required",
    ),
    (
        "data not an object",
        json.dumps(
            {"session_id": "s", "sequence": 0, "events": [{"type": 3, "timestamp": 1, "data": [1]}]}
        ).encode(),
        "Invalid batch: events.0.data: Input should be an object",
    ),
    (
        "event not an object",
        json.dumps({"session_id": "s", "sequence": 0, "events": [7]}).encode(),
        "Invalid batch: events.0: Input should be an object",
    ),
    (
        "metadata not an object",
        json.dumps(
            {"session_id": "s", "sequence": 0, "events": events(), "metadata": "x"}
        ).encode(),
        "Invalid batch: metadata: Input should be an object",
    ),
    (
        "sent_at a float",
        json.dumps({"session_id": "s", "sequence": 0, "events": events(), "sent_at": 1.5}).encode(),
        "Invalid batch: sent_at: Input should be an integer (epoch milliseconds) or a string",
    ),
    (
        "deep nesting",
        b'{"session_id": "s", "sequence": 0, "events": [{"type": 3, "timestamp": 1, "data": '
        + b'{"a": [' * 100_000
        + b"]}" * 100_000
        + b"}]}",
        "Body is not valid JSON: nested too deeply",
    ),
    ("unbalanced brackets", b"[" * 100_000, "Body is not valid JSON: nested too deeply"),
    (
        "duplicate key at the top",
        b'{"session_id": "s", "sequence": 0, "events": [], "sequence": 1}',
        'Body is not valid JSON: duplicate key "sequence"',
    ),
    (
        "duplicate key inside an event",
        b'{"session_id": "s", "sequence": 0, "events": [{"type": 3, "timestamp": 1, '
        b'"data": {"source": 1, "positions": [{"x": 1, "x": 2}]}}]}',
        'Body is not valid JSON: duplicate key "x"',
    ),
    (
        "duplicate key in gzip",
        _gz(b'{"session_id": "s", "session_id": "t", "sequence": 0, "events": []}'),
        'Body is not valid JSON: duplicate key "session_id"',
    ),
]


def test_bad_bodies_are_400_and_nothing_is_stored(
    ingest: Ingest, subtests: pytest.Subtests
) -> None:
    for case, body, message in BAD_REQUESTS:
        with subtests.test(case):
            response = ingest.post(body)
            assert response == {
                "statusCode": 400,
                "headers": JSON_CORS,
                "body": error_body(message),
            }
    assert ingest.keys() == []


def test_duplicate_keys_cannot_validate_one_batch_and_store_another(
    ingest: Ingest, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 9: this body was accepted with events_stored 1, and the object stored byte for byte
    held 6,001 events and the traversal id (json.loads keeps the last of each key)."""
    one = json.dumps({"type": 3, "timestamp": 1, "data": {}})
    raw = (
        '{"session_id":"../../x","sequence":0,"events":['
        + ",".join([one] * 6000)
        + '],"session_id":"ok","events":['
        + one
        + "]}"
    ).encode()
    capsys.readouterr()
    response = ingest.post(raw)
    assert response == {
        "statusCode": 400,
        "headers": JSON_CORS,
        "body": error_body('Body is not valid JSON: duplicate key "session_id"'),
    }
    assert ingest.keys() == []
    [by_reason] = [d for d in emf(capsys.readouterr().out) if "RejectedByReason" in d]
    assert by_reason["reason"] == "duplicate_key"


def batch_of_depth(levels: int) -> bytes:
    """A valid batch whose JSON nests exactly ``levels`` objects and arrays deep."""
    inner: Any = []
    for _ in range(levels - 5):  # batch, events, event, data, then arrays to the bottom
        inner = [inner]
    body = {
        "session_id": "deep",
        "sequence": 0,
        "events": [{"type": 5, "timestamp": 1, "data": {"tag": "x", "payload": inner}}],
    }
    raw = json.dumps(body, separators=(",", ":")).encode()
    assert json_body.depth(json.loads(raw)) == levels
    return raw


def test_the_nesting_bound_is_exact(ingest: Ingest, capsys: pytest.CaptureFixture[str]) -> None:
    """MAX_JSON_DEPTH levels are stored (parsed from inside the handler's stack, on this
    interpreter), one more is 400; either way nothing raises past the reader."""
    at_bound = batch_of_depth(MAX_JSON_DEPTH)
    response = ingest.post(at_bound)
    assert response["body"] == ok_body("deep", 0, 1).decode()
    assert gzip.decompress(ingest.stored(key("deep"))[0]) == at_bound
    capsys.readouterr()
    response = ingest.post(batch_of_depth(MAX_JSON_DEPTH + 1).replace(b'"deep"', b'"deeper"'))
    assert response == {
        "statusCode": 400,
        "headers": JSON_CORS,
        "body": error_body("Body is not valid JSON: nested too deeply"),
    }
    assert ingest.keys() == [key("deep")]
    [by_reason] = [d for d in emf(capsys.readouterr().out) if "RejectedByReason" in d]
    assert by_reason["reason"] == "too_deep"


def test_invalid_base64_is_400(ingest: Ingest) -> None:
    event = proxy_event(
        INGEST, "POST", headers={"Content-Type": "application/json"}, authorizer=AUTH
    )
    event.update(body="not*base64!", isBase64Encoded=True)
    response = ingest.handler(event, CTX)
    assert response == {
        "statusCode": 400,
        "headers": JSON_CORS,
        "body": error_body("Body is not valid base64"),
    }


def test_deep_but_legitimate_nesting_is_accepted(ingest: Ingest) -> None:
    """A full snapshot nests two JSON levels per DOM level: 300 DOM levels must still pass."""
    node: dict[str, Any] = {"type": 3, "textContent": "x", "id": 1}
    for depth in range(300):
        node = {"type": 2, "tagName": "div", "attributes": {}, "childNodes": [node], "id": depth}
    body = {
        "session_id": "deep",
        "sequence": 0,
        "events": [{"type": 2, "timestamp": 1, "data": {"node": node}}],
    }
    response = ingest.post(json.dumps(body).encode())
    assert response["statusCode"] == 200


SESSION_IDS = [
    "../x",
    "a/b",
    "",
    "a" * 129,
    "é",
    "session\n",
    ".hidden",
    "-x",
    "a b",
    "a%2Fb",
    "a\\b",
]


def test_session_ids_that_could_leave_their_prefix_are_400(
    ingest: Ingest, subtests: pytest.Subtests
) -> None:
    for session_id in SESSION_IDS:
        with subtests.test(repr(session_id)):
            response = ingest.post(batch(session_id=session_id))
            assert response == {
                "statusCode": 400,
                "headers": JSON_CORS,
                "body": error_body(
                    "Invalid batch: session_id: must be 1 to 128 characters of A-Z, a-z, 0-9, "
                    "'_' or '-', starting with a letter or digit"
                ),
            }
    assert ingest.keys() == []


def test_session_id_of_128_characters_is_accepted(ingest: Ingest) -> None:
    session_id = "A" + "b_-9" * 31 + "xyz"
    assert len(session_id) == 128
    assert ingest.post(batch(session_id=session_id))["statusCode"] == 200
    assert ingest.keys() == [key(session_id)]


UNSUPPORTED = [
    (None, "Missing Content-Type: send application/json or text/plain"),
    ("", "Missing Content-Type: send application/json or text/plain"),
    (
        "application/x-www-form-urlencoded",
        "Unsupported content type: application/x-www-form-urlencoded; send application/json or text/plain",
    ),
    (
        "multipart/form-data; boundary=x",
        "Unsupported content type: multipart/form-data; send application/json or text/plain",
    ),
    (
        "application/jsonx",
        "Unsupported content type: application/jsonx; send application/json or text/plain",
    ),
]


def test_unsupported_content_types_are_415(ingest: Ingest, subtests: pytest.Subtests) -> None:
    for content_type, message in UNSUPPORTED:
        with subtests.test(repr(content_type)):
            response = ingest.post(batch(), content_type=content_type)
            assert response == {
                "statusCode": 415,
                "headers": JSON_CORS,
                "body": error_body(message),
            }
    assert ingest.keys() == []


def test_body_over_the_wire_limit_is_413(ingest: Ingest) -> None:
    response = ingest.post(b" " * (MAX_BODY_BYTES + 1))
    assert response == {
        "statusCode": 413,
        "headers": JSON_CORS,
        "body": error_body(f"Request body too large: the limit is {MAX_BODY_BYTES} bytes"),
    }
    assert ingest.keys() == []


def test_body_at_the_wire_limit_is_accepted(ingest: Ingest) -> None:
    raw = batch()
    padded = raw[:-1] + b" " * (MAX_BODY_BYTES - len(raw)) + raw[-1:]
    assert len(padded) == MAX_BODY_BYTES
    assert ingest.post(padded)["statusCode"] == 200


def test_gzip_bomb_is_413(ingest: Ingest) -> None:
    deflater = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(deflater.compress(b"\x00" * (1 << 20)) for _ in range(64)) + deflater.flush()
    assert len(bomb) < 100_000  # 64 MiB of zeros
    response = ingest.post(bomb)
    assert response == {
        "statusCode": 413,
        "headers": JSON_CORS,
        "body": error_body(
            f"Decompressed body too large: the limit is {MAX_DECOMPRESSED_BYTES} bytes"
        ),
    }
    assert ingest.keys() == []


def test_too_many_events_is_413(ingest: Ingest) -> None:
    many = [{"type": 3, "timestamp": i, "data": {}} for i in range(MAX_EVENTS + 1)]
    raw = json.dumps({"session_id": "s", "sequence": 0, "events": many}).encode()
    response = ingest.post(gzip.compress(raw, mtime=0))
    assert response == {
        "statusCode": 413,
        "headers": JSON_CORS,
        "body": error_body(
            f"Too many events in one batch: {MAX_EVENTS + 1} (the limit is {MAX_EVENTS})"
        ),
    }
    assert ingest.keys() == []


def test_max_events_is_accepted(ingest: Ingest) -> None:
    many = [{"type": 3, "timestamp": i, "data": {}} for i in range(MAX_EVENTS)]
    raw = json.dumps({"session_id": "s", "sequence": 0, "events": many}).encode()
    response = ingest.post(raw)
    assert response["body"] == ok_body("s", 0, MAX_EVENTS).decode()


# --- rate limit ---------------------------------------------------------------------------------


LIMIT_2 = {**AUTH, "rate_limit_per_minute": 2}


def test_over_the_limit_is_429_with_exact_retry_after(ingest: Ingest) -> None:
    assert ingest.post(batch(sequence=0), authorizer=LIMIT_2)["statusCode"] == 200
    assert ingest.post(batch(sequence=1), authorizer=LIMIT_2)["statusCode"] == 200
    response = ingest.post(batch(sequence=2), authorizer=LIMIT_2)
    # Both admitted 10 s into the minute: the first leaves the 60-second window at 70 s.
    assert response == {
        "statusCode": 429,
        "headers": {**JSON_CORS, "Retry-After": "60"},
        "body": '{"error": "Rate limit exceeded"}',
    }
    assert ingest.keys() == [key(sequence=0), key(sequence=1)]


def test_a_429_does_not_use_up_the_window(ingest: Ingest, clock: Clock) -> None:
    for sequence in range(2):
        ingest.post(batch(sequence=sequence), authorizer=LIMIT_2)
    for _ in range(3):
        assert ingest.post(batch(sequence=9), authorizer=LIMIT_2)["statusCode"] == 429
    minute = int(MINUTE_START // 60)
    # Two admissions recorded (the container's second on the same microsecond moves one later).
    assert ingest.counters() == {f"t{minute}": [10_000_000, 10_000_001]}
    clock.now += 59.9
    assert ingest.post(batch(sequence=9), authorizer=LIMIT_2)["headers"]["Retry-After"] == "1"
    clock.now = MINUTE_START + 70
    assert ingest.post(batch(sequence=9), authorizer=LIMIT_2)["statusCode"] == 200
    assert ingest.counters() == {
        f"t{minute}": [10_000_000, 10_000_001],
        f"t{minute + 1}": [10_000_000],
    }


def test_rejected_requests_count_against_the_limit(ingest: Ingest) -> None:
    assert ingest.post(b"not json", authorizer=LIMIT_2)["statusCode"] == 400
    assert ingest.post(batch(), content_type="image/png", authorizer=LIMIT_2)["statusCode"] == 415
    response = ingest.post(batch(), authorizer=LIMIT_2)
    assert (response["statusCode"], response["headers"]["Retry-After"]) == (429, "60")
    assert ingest.keys() == []


def test_limits_are_per_key(ingest: Ingest) -> None:
    other = {**LIMIT_2, "credential_id": "cred_fedcba9876543210"}
    for sequence in range(2):
        ingest.post(batch(sequence=sequence), authorizer=LIMIT_2)
    assert ingest.post(batch(sequence=5), authorizer=LIMIT_2)["statusCode"] == 429
    assert ingest.post(batch(sequence=5), authorizer=other)["statusCode"] == 200


def test_the_window_slides_over_the_previous_minute(ingest: Ingest, clock: Clock) -> None:
    limit = {**AUTH, "rate_limit_per_minute": 10}
    for sequence in range(10):
        clock.now = MINUTE_START + 10 + sequence  # 10 s, 11 s, ... 19 s
        assert ingest.post(batch(sequence=sequence), authorizer=limit)["statusCode"] == 200
    clock.now = MINUTE_START + 65
    full = ingest.post(batch(sequence=50), authorizer=limit)
    assert (full["statusCode"], full["headers"]["Retry-After"]) == (429, "5")  # 10 s leaves at 70
    clock.now = MINUTE_START + 72.5  # those of 10, 11 and 12 s have left the window
    answers = [ingest.post(batch(sequence=100 + i), authorizer=limit) for i in range(4)]
    assert [r["statusCode"] for r in answers] == [200] * 3 + [429]
    assert answers[-1]["headers"]["Retry-After"] == "1"  # 13 s leaves at 73 s


# --- faults ------------------------------------------------------------------------------------


def test_s3_failure_is_503_and_nothing_is_acknowledged(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    monkeypatch.setenv("REPLAY_BUCKET", "lucent-local-no-such-bucket")
    container.reset()
    handler = install(clock)
    ingest.handler = handler
    response = ingest.post(batch())
    assert response == {
        "statusCode": 503,
        "headers": {**JSON_CORS, "Retry-After": "5"},
        "body": '{"error": "Storage temporarily unavailable"}',
    }
    assert ingest.keys() == []


def test_s3_failure_after_the_bucket_is_deleted(
    ingest: Ingest, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ingest.post(batch(sequence=0))["statusCode"] == 200
    ingest.s3.delete_object(Bucket=ingest.bucket, Key=key(sequence=0))
    ingest.s3.delete_bucket(Bucket=ingest.bucket)
    capsys.readouterr()
    response = ingest.post(batch(sequence=1))
    assert (response["statusCode"], response["headers"]["Retry-After"]) == (503, "5")
    assert "StorageUnavailable" in metric_names(capsys.readouterr().out)


def test_counter_table_failure_fails_open_and_stores(
    ingest: Ingest,
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RATE_LIMIT_TABLE", "lucent-local-no-such-table")
    container.reset()
    ingest.handler = install(clock)
    capsys.readouterr()
    responses = [ingest.post(batch(sequence=i), authorizer=LIMIT_2) for i in range(3)]
    assert [r["statusCode"] for r in responses] == [200, 200, 200]
    assert sorted(ingest.keys()) == [key(sequence=i) for i in range(3)]
    output = capsys.readouterr().out
    assert metric_names(output).count("RateLimiterUnavailable") == 3
    warnings = [json.loads(line) for line in output.splitlines() if '"level":"WARNING"' in line]
    assert [w["message"] for w in warnings] == [
        "rate limiter unavailable: request admitted (fail open)"
    ] * 3


def test_missing_authorizer_context_is_a_500(ingest: Ingest) -> None:
    for context in ({}, {"org_id": "org_a"}):
        response = ingest.post(batch(), authorizer=context)
        assert response == {
            "statusCode": 500,
            "headers": JSON_CORS,
            "body": '{"error": "Internal server error"}',
        }
    assert ingest.keys() == []


def test_an_org_id_unfit_for_a_key_is_a_500(ingest: Ingest) -> None:
    response = ingest.post(batch(), authorizer={**AUTH, "org_id": "../org_b"})
    assert (response["statusCode"], response["headers"]) == (500, JSON_CORS)
    assert ingest.keys() == []


def test_unexpected_exceptions_are_a_generic_500_with_cors(ingest: Ingest) -> None:
    event = proxy_event(INGEST, "POST", body=batch(), base64_body=True, authorizer=AUTH)
    event["headers"] = ["not", "a", "mapping"]
    response = ingest.handler(event, CTX)
    assert response == {
        "statusCode": 500,
        "headers": JSON_CORS,
        "body": '{"error": "Internal server error"}',
    }


# --- preflight ----------------------------------------------------------------------------------


def test_preflight_needs_no_credential(ingest: Ingest) -> None:
    event = proxy_event(INGEST, "OPTIONS", headers={"Origin": "https://shop.example"})
    assert ingest.handler(event, CTX) == {
        "statusCode": 204,
        "headers": {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Headers": "Content-Type, Content-Encoding, X-Lucent-Api-Key",
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Max-Age": "7200",
        },
        "body": "",
    }
    assert ingest.calls == []


# --- other methods -------------------------------------------------------------------------------

METHOD_NOT_ALLOWED = {
    "statusCode": 405,
    "headers": {**JSON_CORS, "Allow": "OPTIONS, POST"},
    "body": '{"error": "Method not allowed"}',
}


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "PATCH", "DELETE", "get", "TRACE"])
def test_other_methods_are_405_with_allow_and_cors_and_cost_nothing(
    ingest: Ingest, method: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    for authorizer, headers in ((None, {}), (AUTH, {"X-Lucent-Api-Key": "luc_pk_x"})):
        event = proxy_event(
            INGEST,
            method,
            headers={"Content-Type": "application/json", **headers},
            body=batch(),
            base64_body=True,
            authorizer=authorizer,
            query={"api_key": "luc_pk_secret_in_query"},
        )
        assert ingest.handler(event, CTX) == METHOD_NOT_ALLOWED
    assert ingest.calls == []  # no rate-limit count, no storage
    assert ingest.keys() == []
    output = capsys.readouterr().out
    assert metric_names(output).count("MethodNotAllowed") == 2
    assert "luc_pk_secret_in_query" not in output


def test_other_methods_through_the_gateway_need_no_key(aws: dict[str, str]) -> None:
    gateway = Gateway(
        {
            "AuthorizerFunction": load_function("AuthorizerFunction"),
            "IngestFunction": load_function("IngestFunction"),
        }
    )
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = gateway.handle(HttpRequest(method, INGEST, [], body=b""))
        assert (response.status, body_bytes(response)) == (405, b'{"error": "Method not allowed"}')
        assert response.headers["Allow"] == "OPTIONS, POST"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Expose-Headers"] == "Retry-After"
    head = gateway.handle(HttpRequest("HEAD", INGEST, []))
    assert (head.status, head.headers["Allow"]) == (405, "OPTIONS, POST")
    # POST keeps its authorizer: without a key, the gateway's 401
    post = gateway.handle(HttpRequest("POST", INGEST, [("Content-Type", "application/json")]))
    assert (post.status, body_bytes(post)) == (401, b'{"error": "Missing API key"}')


# --- AWS calls, metrics, logs ------------------------------------------------------------------


def test_an_accepted_batch_costs_one_update_and_one_put(ingest: Ingest, clock: Clock) -> None:
    for sequence in range(5):
        ingest.calls.clear()
        assert ingest.post(batch(sequence=sequence))["statusCode"] == 200
        assert ingest.calls == ["DynamoDB.UpdateItem", "S3.PutObject"]
    clock.now += 60  # the next minute: the finished one is known to this container
    ingest.calls.clear()
    assert ingest.post(batch(sequence=9))["statusCode"] == 200
    assert ingest.calls == ["DynamoDB.UpdateItem", "S3.PutObject"]


def test_a_rejected_batch_costs_one_update_and_no_put(ingest: Ingest) -> None:
    assert ingest.post(b"nope")["statusCode"] == 400
    assert ingest.calls == ["DynamoDB.UpdateItem"]


def test_metrics(ingest: Ingest, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    ingest.post(batch())
    [stored_doc] = emf(capsys.readouterr().out)
    stored = len(ingest.stored(key())[0])
    assert stored_doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Lucent"
    assert (
        stored_doc["BatchesStored"],
        stored_doc["EventsStored"],
        stored_doc["BytesStored"],
    ) == ([1.0], [3.0], [float(stored)])
    ingest.post(b"nope")
    out = capsys.readouterr().out
    [by_reason] = [d for d in emf(out) if "RejectedByReason" in d]
    assert by_reason["reason"] == "invalid_json"
    assert ["reason"] in [
        [name for name in dims if name == "reason"]
        for dims in by_reason["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    ]
    assert metric_names(out).count("Rejected") == 1
    for sequence in range(101):
        ingest.post(batch(sequence=sequence))
    assert metric_names(capsys.readouterr().out).count("RateLimited") == 3


def test_each_aws_call_reports_its_latency(
    ingest: Ingest, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ingest has no X-Ray subsegments: one latency metric per AWS call tells a slow S3 from a slow
    rate-limit table (docs/performance.md), on success and on failure alike."""
    capsys.readouterr()
    assert ingest.post(batch(sequence=0))["statusCode"] == 200
    [stored_doc] = emf(capsys.readouterr().out)
    units = {m["Name"]: m["Unit"] for m in stored_doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["RateLimiterLatency"] == units["StorageLatency"] == "Milliseconds"
    for name in ("RateLimiterLatency", "StorageLatency"):
        [value] = stored_doc[name]
        assert 0 < value < 10_000, (name, value)
    ingest.s3.delete_object(Bucket=ingest.bucket, Key=key(sequence=0))
    ingest.s3.delete_bucket(Bucket=ingest.bucket)
    assert ingest.post(batch(sequence=1))["statusCode"] == 503
    names = metric_names(capsys.readouterr().out)
    assert names.count("StorageLatency") == names.count("StorageUnavailable") == 1


def test_logs_carry_no_key_and_no_body(ingest: Ingest, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "luc_pk_" + "ab" * 20
    marker = "very-private-page-text"
    raw = json.dumps(
        {
            "session_id": "s",
            "sequence": 0,
            "events": [{"type": 3, "timestamp": 1, "data": {"t": marker}}],
        }
    ).encode()
    capsys.readouterr()
    ingest.post(raw, headers={"X-Lucent-Api-Key": secret}, query={"api_key": secret})
    ingest.post(raw + b"x", headers={"X-Lucent-Api-Key": secret}, query={"api_key": secret})
    output = capsys.readouterr().out
    assert '"batch stored"' in output
    assert '"batch refused"' in output
    assert secret not in output
    assert "api_key" not in output
    assert marker not in output
    assert '"correlation_id":"c6af9ac6-7b61-11e6-9a41-93e8deadbeef"' in output


# --- through the local API Gateway and the real authorizer ---------------------------------------


def test_end_to_end_through_the_gateway(aws: dict[str, str], dynamodb: Any, s3: Any) -> None:
    issued = store_credential(
        dynamodb, aws["CredentialsTable"], CredentialKind.PUBLIC, "org_e2e", rate_limit=1
    )
    gateway = Gateway(
        {
            "AuthorizerFunction": load_function("AuthorizerFunction"),
            "IngestFunction": load_function("IngestFunction"),
        }
    )
    client_gzip = gzip.compress(batch(), mtime=0)
    request = HttpRequest(
        "POST",
        INGEST,
        [("Content-Type", "text/plain;charset=UTF-8")],
        query=f"api_key={issued.secret}",
        body=client_gzip,
    )
    response = gateway.handle(request)
    assert (response.status, body_bytes(response)) == (200, ok_body())
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    stored = s3.get_object(Bucket=aws["ReplayBucket"], Key=key(org="org_e2e"))["Body"].read()
    assert stored == client_gzip
    second = gateway.handle(request)
    assert second.status == 429
    assert body_bytes(second) == b'{"error": "Rate limit exceeded"}'
    assert int(second.headers["Retry-After"]) >= 1
    assert second.headers["Access-Control-Expose-Headers"] == "Retry-After"


# --- docs/openapi-ingest.yaml against the function ----------------------------------------------

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi-ingest.yaml"
OPENAPI = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
OPENAPI_URI = "urn:lucent:openapi-ingest"
OPENAPI_REGISTRY: Registry[Any] = Registry().with_resource(
    OPENAPI_URI, DRAFT202012.create_resource(OPENAPI)
)


def openapi_errors(pointer: str, instance: Any) -> list[str]:
    validator = Draft202012Validator(
        {"$ref": f"{OPENAPI_URI}#{pointer}"}, registry=OPENAPI_REGISTRY
    )
    return [e.message for e in validator.iter_errors(instance)]


def openapi_response(method: str, status: int) -> dict[str, Any]:
    node = OPENAPI["paths"][INGEST][method]["responses"][str(status)]
    while "$ref" in node:
        node = OPENAPI
        for part in OPENAPI["paths"][INGEST][method]["responses"][str(status)]["$ref"][2:].split(
            "/"
        ):
            node = node[part]
    return node  # type: ignore[no-any-return]


def test_openapi_document_is_valid() -> None:
    validate_openapi(OPENAPI)
    assert set(OPENAPI["paths"]) == {INGEST}
    assert set(OPENAPI["paths"][INGEST]) == {"post", "options", "x-method-not-allowed"}


def test_openapi_documents_the_405_the_function_and_template_give(ingest: Ingest) -> None:
    declared = OPENAPI["paths"][INGEST]["x-method-not-allowed"]
    assert declared["allow"] == sorted(m.upper() for m in ("post", "options"))
    documented = OPENAPI
    for part in declared["response"][2:].split("/"):
        documented = documented[part]
    answer = ingest.handler(proxy_event(INGEST, "GET"), CTX)
    schema = documented["content"]["application/json"]["schema"]["$ref"][1:]
    assert openapi_errors(schema, json.loads(answer["body"])) == []
    assert documented["headers"]["Allow"]["schema"]["const"] == answer["headers"]["Allow"]
    assert json.loads(answer["body"]) == documented["content"]["application/json"]["example"]
    # template.yaml routes every other method of the path to the function, without a key
    routes = [r for r in tpl.routes() if r.api == "IngestApi" and r.path == INGEST]
    assert {(r.method, r.authorized, r.function) for r in routes} == {
        ("POST", True, "IngestFunction"),
        ("OPTIONS", False, "IngestFunction"),
        ("ANY", False, "IngestFunction"),
    }


@pytest.mark.parametrize(
    "document",
    [
        {"session_id": "s", "sequence": 0, "events": events()},
        {"session_id": "s", "sequence": 0, "events": events(), "sent_at": "2026-01-01T00:00:00Z"},
        # null optional fields, integral numbers: accepted by both (issue 9: the schema said no
        # to the first, the decoder to the second)
        {"session_id": "s", "sequence": 0, "events": events(), "metadata": None},
        {"session_id": "s", "sequence": 0, "events": events(), "window_id": None},
        {"session_id": "s", "sequence": 0, "events": events(), "sent_at": None},
        {"session_id": "s", "sequence": 1.0, "events": events()},
        {"session_id": "s", "sequence": 0, "events": [{"type": 2.0, "timestamp": 1e3, "data": {}}]},
        {"session_id": "s", "sequence": 0, "events": events(), "sent_at": 1767225601000.0},
        {"session_id": "s", "sequence": 9999999999.0, "events": events()},
        # refused by both
        {"session_id": "s", "sequence": 1.5, "events": events()},
        {"session_id": "s", "sequence": True, "events": events()},
        {"session_id": "s", "sequence": "1", "events": events()},
        {"session_id": "s", "sequence": 1e10, "events": events()},
        {"session_id": "s", "sequence": 0, "events": [{"type": 1, "timestamp": False, "data": {}}]},
        {"session_id": "s", "sequence": 0, "events": events(), "window_id": "w" * 257},
        {"session_id": "s", "sequence": 0, "events": events(), "window_id": 7},
        {"session_id": "s", "sequence": 0, "events": events(), "sent_at": True},
        {"session_id": "s", "sequence": 0, "events": [{"type": 1, "timestamp": 1, "data": None}]},
        {"session_id": "s", "sequence": 0, "events": [], "window_id": "w"},
        {"session_id": "../x", "sequence": 0, "events": events()},
        {"session_id": "s", "sequence": -1, "events": events()},
        {"session_id": "s", "sequence": 10**10, "events": events()},
        {"session_id": "s", "sequence": 0, "events": [{"type": 1, "timestamp": 1.5, "data": {}}]},
        {"session_id": "s", "sequence": 0, "events": [{"type": 1, "timestamp": 1, "data": []}]},
        {"session_id": "s", "sequence": 0, "events": events(), "metadata": []},
        {"session_id": "s", "sequence": 0, "events": events(), "sent_at": 1.5},
        {"sequence": 0, "events": events()},
    ],
)
def test_openapi_batch_schema_agrees_with_the_decoder(document: dict[str, Any]) -> None:
    schema_accepts = not openapi_errors("/components/schemas/ReplayBatch", document)
    try:
        parse_batch(json.dumps(document).encode())
        decoder_accepts = True
    except InvalidBatch:
        decoder_accepts = False
    assert schema_accepts == decoder_accepts


def test_every_function_answer_is_documented(ingest: Ingest) -> None:
    answers = [
        ingest.post(batch()),
        ingest.post(b""),
        ingest.post(b"{"),
        ingest.post(batch(session_id="../x")),
        ingest.post(b" " * (MAX_BODY_BYTES + 1)),
        ingest.post(batch(), content_type="text/html"),
        ingest.post(batch(), authorizer={}),
        ingest.post(batch(window_id="other")),
        *[ingest.post(batch(sequence=1), authorizer=LIMIT_2) for _ in range(3)],
    ]
    statuses = sorted({a["statusCode"] for a in answers})
    assert statuses == [200, 400, 409, 413, 415, 429, 500]
    for answer in answers:
        documented = openapi_response("post", answer["statusCode"])
        schema = documented["content"]["application/json"]["schema"]["$ref"][1:]
        assert openapi_errors(schema, json.loads(answer["body"])) == []
        for name, spec in documented["headers"].items():
            header_spec = spec
            if "$ref" in spec:
                header_spec = OPENAPI["components"]["headers"][spec["$ref"].rsplit("/", 1)[1]]
            assert not Draft202012Validator(header_spec["schema"]).is_valid(None)
            assert Draft202012Validator(header_spec["schema"]).is_valid(answer["headers"][name])
    preflight = ingest.handler(proxy_event(INGEST, "OPTIONS"), CTX)
    for name, spec in OPENAPI["paths"][INGEST]["options"]["responses"]["204"]["headers"].items():
        schema = (
            spec.get("schema")
            or OPENAPI["components"]["headers"][spec["$ref"].rsplit("/", 1)[1]]["schema"]
        )
        assert Draft202012Validator(schema).is_valid(preflight["headers"][name])
