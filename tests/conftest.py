"""Shared fixtures: an AWS environment backed by moto, built from template.yaml.

Tables and buckets are created from the template's own definitions (lucent_dev.template), so a
test cannot pass against a table shape the stack would not deploy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lucent import container, observability
from lucent_dev import template as tpl

REGION = "us-east-1"


def table_env() -> dict[str, str]:
    names = {lid: kw["TableName"] for lid, kw in tpl.table_definitions().items()}
    return {
        "CREDENTIALS_TABLE": names["CredentialsTable"],
        "RATE_LIMIT_TABLE": names["RateLimitTable"],
        "DATA_TABLE": names["DataTable"],
        "REPLAY_BUCKET": tpl.physical_name("ReplayBucket"),
    }


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Fake credentials and the functions' environment, for every test: nothing reaches AWS."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "Lucent",
        "POWERTOOLS_SERVICE_NAME": "tests",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **table_env(),
    }
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    container.reset()
    # Powertools' Metrics reads its service name once, when made: a local API that ran functions
    # in this process (the integration tests) must not leave one made without it.
    monkeypatch.delitem(vars(observability), "metrics", raising=False)
    yield env
    container.reset()


@pytest.fixture
def aws() -> Iterator[dict[str, str]]:
    """In-process moto with every table and bucket of template.yaml; yields logical id -> name."""
    with mock_aws():
        names = tpl.create_storage(
            boto3.client("dynamodb", region_name=REGION), boto3.client("s3", region_name=REGION)
        )
        yield names


@pytest.fixture
def dynamodb(aws: dict[str, str]) -> Any:
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def s3(aws: dict[str, str]) -> Any:
    return boto3.client("s3", region_name=REGION)


def load_function(logical_id: str) -> tpl.Handler:
    """A function's handler from its CodeUri, in a fresh module (a new container)."""
    return tpl.load_handler(tpl.functions()[logical_id], fresh=True)
