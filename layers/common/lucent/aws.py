"""boto3 clients built from Settings, with timeouts sized for a synchronous API.

Clients are created once per container and reused. The standard retry mode retries throttling
and 5xx twice; the read timeout stays well under API Gateway's 29 s integration limit.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from lucent.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client

CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
    # Keep requests small and fast: no parameter validation round trips beyond botocore's own.
    tcp_keepalive=True,
)


def _client(service: str, settings: Settings) -> Any:
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name=settings.region,
        endpoint_url=settings.endpoint_url,
        config=CLIENT_CONFIG,
    )


@lru_cache(maxsize=4)
def dynamodb_client(settings: Settings | None = None) -> DynamoDBClient:
    return _client("dynamodb", settings or get_settings())  # type: ignore[no-any-return]


@lru_cache(maxsize=4)
def s3_client(settings: Settings | None = None) -> S3Client:
    return _client("s3", settings or get_settings())  # type: ignore[no-any-return]
