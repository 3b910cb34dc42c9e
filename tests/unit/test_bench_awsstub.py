"""The bench's botocore stubs (bench/awsstub.py): what the floors and the call counts rest on.

The Replayer answers at ``before-send`` with recorded bytes, counts what it answered and captures
the parameters our code passed, so a floor can repeat the very same call with bare boto3. Its
hooks reach only sessions created after it is entered, which is why it resets the container.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from bench.awsstub import Canned, Replayer
from lucent import aws as lucent_aws

ITEM = Canned(
    200,
    {"Content-Type": "application/x-amz-json-1.0"},
    b'{"Item": {"key_hash": {"S": "abc"}, "org_id": {"S": "org_bench"}}}',
)


CLOSED_PORT = "http://127.0.0.1:9"  # discard: nothing listens there


def _client(endpoint_url: str | None = None) -> Any:
    return boto3.session.Session().client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )


def test_the_replayer_answers_counts_and_captures() -> None:
    with Replayer({"dynamodb.GetItem": ITEM}) as replayer:
        client = _client()
        with replayer.capture() as params:
            served, answer = replayer.calls_of(
                lambda: client.get_item(TableName="creds", Key={"key_hash": {"S": "abc"}})
            )
    assert served == {"dynamodb.GetItem": 1}
    assert answer["Item"] == {"key_hash": {"S": "abc"}, "org_id": {"S": "org_bench"}}
    assert params == {"dynamodb.GetItem": {"TableName": "creds", "Key": {"key_hash": {"S": "abc"}}}}
    assert replayer.served == {"dynamodb.GetItem": 1}


def test_parameters_are_captured_only_inside_capture() -> None:
    with Replayer({"dynamodb.GetItem": ITEM}) as replayer:
        client = _client()
        with replayer.capture() as params:
            pass
        client.get_item(TableName="creds", Key={"key_hash": {"S": "abc"}})
    assert params == {}
    assert replayer.served == {"dynamodb.GetItem": 1}


def test_an_operation_without_an_answer_fails_instead_of_reaching_the_network() -> None:
    with Replayer({"dynamodb.GetItem": ITEM}), pytest.raises(RuntimeError, match="PutItem"):
        _client().put_item(TableName="creds", Item={"key_hash": {"S": "abc"}})


def test_the_replayer_reaches_the_layer_clients_built_after_it() -> None:
    """Entering resets the container: the layer's next client is built with the hooks on it."""
    before = lucent_aws.dynamodb_client()
    with Replayer({"dynamodb.GetItem": ITEM}) as replayer:
        inside = lucent_aws.dynamodb_client()
        assert inside is not before
        inside.get_item(TableName="creds", Key={"key_hash": {"S": "abc"}})
    assert replayer.served == {"dynamodb.GetItem": 1}


def test_a_session_built_before_the_replayer_does_not_carry_its_hooks() -> None:
    """Why every stub resets the container: hooks join sessions created afterwards only. Both
    clients point at a closed local port, so whatever the Replayer does not answer is refused."""
    early = _client(endpoint_url=CLOSED_PORT)
    with Replayer({"dynamodb.GetItem": ITEM}) as replayer:
        late = _client(endpoint_url=CLOSED_PORT)
        assert late.get_item(TableName="creds", Key={"key_hash": {"S": "abc"}})["Item"]
        with pytest.raises(EndpointConnectionError):
            early.get_item(TableName="creds", Key={"key_hash": {"S": "abc"}})
    assert replayer.served == {"dynamodb.GetItem": 1}
