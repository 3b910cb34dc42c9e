"""Faults of the AWS dependencies, end to end: HTTP -> LocalApi (gateway, authorizer, functions)
-> botocore -> moto's HTTP server. Faults are injected at botocore's transport
(``Endpoint._send``), below every client the warm functions already hold, so nothing of ours is
stubbed; botocore's own retries run (their sleeps are skipped to keep the suite fast).

Documented outcomes (docs/errors.md, docs/ingest.md):
* S3 unavailable: 503 ``{"error": "Storage temporarily unavailable"}`` with Retry-After, nothing
  acknowledged that is not stored; a retry once S3 is back stores the batch;
* counter table throttled or unreachable: the limiter fails open, the batch is stored (200);
* credential table unavailable: 503 ``{"error": "Service temporarily unavailable"}``, Retry-After 5,
  for the ingest and Data APIs (the authorizer cannot decide).
"""

from __future__ import annotations

import gzip
import itertools
import json
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import botocore.endpoint
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import EndpointConnectionError

from lucent_dev import demo
from lucent_dev.local_api import LocalApi
from tests.integration.live_api import batch, ingest, public_key, send, stored_objects

ORG = "org_faults"
_sessions = itertools.count()


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_: Any, **__: Any) -> bytes:
        return self._body


def _s3_503(request: AWSPreparedRequest) -> AWSResponse:
    body = b"<Error><Code>ServiceUnavailable</Code><Message>Service Unavailable</Message></Error>"
    return AWSResponse(request.url, 503, {"Content-Type": "application/xml"}, _Raw(body))


def _dynamodb_error(code: str, status: int) -> Callable[[AWSPreparedRequest], AWSResponse]:
    def answer(request: AWSPreparedRequest) -> AWSResponse:
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code})
        headers = {"Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, status, headers, _Raw(body.encode()))

    return answer


def _unreachable(request: AWSPreparedRequest) -> AWSResponse:
    raise EndpointConnectionError(endpoint_url=request.url)


class Faults:
    """Which AWS requests fail, and how: a rule is (predicate, answer, remaining count or None)."""

    def __init__(self) -> None:
        self.rules: list[list[Any]] = []
        self.failed = 0
        self._lock = threading.Lock()

    def add(
        self,
        matches: Callable[[AWSPreparedRequest], bool],
        answer: Callable[[AWSPreparedRequest], AWSResponse],
        times: int | None = None,
    ) -> None:
        with self._lock:
            self.rules.append([matches, answer, times])

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def pick(
        self, request: AWSPreparedRequest
    ) -> Callable[[AWSPreparedRequest], AWSResponse] | None:
        with self._lock:
            for rule in self.rules:
                matches, answer, times = rule
                if matches(request) and (times is None or times > 0):
                    if times is not None:
                        rule[2] = times - 1
                    self.failed += 1
                    return answer  # type: ignore[no-any-return]
        return None


def _target(operation: str) -> Callable[[AWSPreparedRequest], bool]:
    """DynamoDB requests by their X-Amz-Target operation (GetItem, UpdateItem...)."""

    def matches(request: AWSPreparedRequest) -> bool:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else str(target)
        return target == f"DynamoDB_20120810.{operation}"

    return matches


def _on_table(operation: str, table: str) -> Callable[[AWSPreparedRequest], bool]:
    """DynamoDB ``operation`` requests on ``table`` only (detection, running in the background,
    reads and writes the data table at the same time)."""
    is_operation = _target(operation)

    def matches(request: AWSPreparedRequest) -> bool:
        body = request.body
        text = body.decode() if isinstance(body, bytes) else str(body or "")
        return is_operation(request) and json.loads(text or "{}").get("TableName") == table

    return matches


def _s3_put(request: AWSPreparedRequest) -> bool:
    return request.method == "PUT" and "/replays/" in request.url


@pytest.fixture(scope="module")
def api(shared_api: LocalApi) -> LocalApi:
    return shared_api  # conftest.py: one LocalApi for the modules that need nothing special


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    state = Faults()
    original = botocore.endpoint.Endpoint._send

    def send_or_fail(self: Any, request: AWSPreparedRequest) -> Any:
        answer = state.pick(request)
        return original(self, request) if answer is None else answer(request)

    monkeypatch.setattr(botocore.endpoint.Endpoint, "_send", send_or_fail)
    # botocore's retry back-off: skipped, the retries themselves still happen.
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=lambda _: None))
    return state


def _stored(api: LocalApi, org: str, session: str) -> dict[int, Any]:
    out = {}
    for key, data in stored_objects(api, f"replays/{org}/{session}/").items():
        out[int(key.rsplit("/", 1)[1].split(".")[0])] = json.loads(gzip.decompress(data))
    return out


def test_s3_unavailable_is_a_503_and_nothing_acknowledged_is_lost(
    api: LocalApi, faults: Faults
) -> None:
    key = public_key(api, ORG)
    session = "s3-outage"
    acknowledged: dict[int, dict[str, Any]] = {}
    refused: list[int] = []
    for sequence in range(12):
        # S3 is down for every third batch (every attempt botocore makes fails), up otherwise.
        if sequence % 3 == 1:
            faults.add(_s3_put, _s3_503)
        document = batch(session, sequence, events=sequence + 1)
        reply = ingest(api, key, document, compress=sequence % 2 == 0)
        faults.clear()
        if reply.status == 200:
            assert reply.json() == {
                "session_id": session,
                "sequence": sequence,
                "events_stored": sequence + 1,
            }
            acknowledged[sequence] = document
        else:
            assert reply.status == 503, reply
            assert reply.json() == {"error": "Storage temporarily unavailable"}
            assert reply.header("Retry-After") == "5"
            assert reply.header("Access-Control-Allow-Origin") == "*"
            assert reply.header("Access-Control-Expose-Headers") == "Retry-After"
            refused.append(sequence)
    assert refused == [1, 4, 7, 10]
    assert faults.failed >= 2 * len(refused)  # botocore retried each before giving up
    assert _stored(api, ORG, session) == acknowledged

    # The client retries what was refused once S3 is back: every batch is then stored.
    for sequence in refused:
        document = batch(session, sequence, events=sequence + 1)
        assert ingest(api, key, document).status == 200
        acknowledged[sequence] = document
    assert _stored(api, ORG, session) == acknowledged


def test_a_transient_s3_error_is_retried_by_botocore_and_the_batch_stored(
    api: LocalApi, faults: Faults
) -> None:
    key = public_key(api, ORG)
    faults.add(_s3_put, _s3_503, times=1)
    document = batch("s3-blip", 0)
    reply = ingest(api, key, document)
    assert reply.status == 200, reply
    assert faults.failed == 1
    assert _stored(api, ORG, "s3-blip") == {0: document}


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(_dynamodb_error("ThrottlingException", 400), id="throttled"),
        pytest.param(
            _dynamodb_error("ProvisionedThroughputExceededException", 400), id="over-capacity"
        ),
        pytest.param(_dynamodb_error("InternalServerError", 500), id="internal-error"),
        pytest.param(_unreachable, id="unreachable"),
    ],
)
def test_counter_table_failure_fails_open_and_stores_the_batch(
    api: LocalApi, faults: Faults, failure: Callable[[AWSPreparedRequest], AWSResponse]
) -> None:
    # A limit of 1: if the failing limiter were taken as "refuse", the second batch would be 429.
    key = public_key(api, ORG, rate_limit=1)
    faults.add(_target("UpdateItem"), failure)
    session = f"counter-{next(_sessions)}"
    documents = {seq: batch(session, seq) for seq in range(3)}
    for seq, document in documents.items():
        reply = ingest(api, key, document)
        assert reply.status == 200, reply
        assert reply.json() == {"session_id": session, "sequence": seq, "events_stored": 3}
    assert faults.failed >= 3
    assert _stored(api, ORG, session) == documents


def test_counter_table_back_after_an_outage_limits_again(api: LocalApi, faults: Faults) -> None:
    key = public_key(api, ORG, rate_limit=1)
    faults.add(_target("UpdateItem"), _dynamodb_error("ThrottlingException", 400))
    assert ingest(api, key, batch("back", 0)).status == 200
    faults.clear()
    assert ingest(api, key, batch("back", 1)).status == 200
    refused = ingest(api, key, batch("back", 2))
    assert refused.status == 429
    assert refused.json() == {"error": "Rate limit exceeded"}
    assert sorted(_stored(api, ORG, "back")) == [0, 1]


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(_dynamodb_error("ThrottlingException", 400), id="throttled"),
        pytest.param(_dynamodb_error("InternalServerError", 500), id="internal-error"),
        pytest.param(_dynamodb_error("ResourceNotFoundException", 400), id="table-missing"),
        pytest.param(_unreachable, id="unreachable"),
    ],
)
def test_credential_table_unavailable_is_a_503_for_both_apis(
    api: LocalApi, faults: Faults, failure: Callable[[AWSPreparedRequest], AWSResponse]
) -> None:
    # Fresh credentials: the authorizer has never cached them, so it must read the table.
    key = public_key(api, ORG)
    session = f"credentials-down-{next(_sessions)}"
    faults.add(_target("GetItem"), failure)
    reply = ingest(api, key, batch(session, 0))
    assert reply.status == 503, reply
    assert reply.json() == {"error": "Service temporarily unavailable"}
    assert reply.header("Retry-After") == "5"
    assert reply.header("Access-Control-Allow-Origin") == "*"

    from lucent.auth.credentials import CredentialKind, issue_credential
    from lucent.auth.store import CredentialStore

    assert api.aws is not None
    token = issue_credential(CredentialKind.API, ORG)
    faults.clear()
    CredentialStore(api.aws.client("dynamodb"), api.names["CredentialsTable"]).put(token)
    faults.add(_target("GetItem"), failure)
    data = send(api, "GET", "/api/v1/issues", headers=[("Authorization", f"Bearer {token.secret}")])
    assert data.status == 503, data
    assert data.json() == {"error": "Service temporarily unavailable"}
    assert data.header("Retry-After") == "5"
    faults.clear()
    assert stored_objects(api, f"replays/{ORG}/{session}/") == {}

    # Once the table answers again, the same credentials work.
    assert ingest(api, key, batch(session, 0)).status == 200
    again = send(
        api, "GET", "/api/v1/issues", headers=[("Authorization", f"Bearer {token.secret}")]
    )
    assert again.status == 200


def test_demo_key_cached_by_a_warm_authorizer_survives_a_credential_table_blip(
    api: LocalApi, faults: Faults
) -> None:
    key = demo.roles()["other_public_key"]
    assert ingest(api, key, batch("cached", 0)).status == 200  # now cached (60 s)
    credentials = api.names["CredentialsTable"]
    faults.add(_on_table("GetItem", credentials), _dynamodb_error("InternalServerError", 500))
    assert ingest(api, key, batch("cached", 1)).status == 200
    assert faults.failed == 0  # no credential read at all
    assert sorted(_stored(api, demo.OTHER_ORG_ID, "cached")) == [0, 1]
