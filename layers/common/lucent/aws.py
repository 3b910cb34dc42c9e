"""boto3 clients built from Settings, with timeouts sized for a synchronous API.

Clients are created once per container and reused. The budget is sized so that a hanging
dependency fails *inside* the function's 10 s timeout, where it becomes our documented 503 with
Retry-After (or, for the rate-limit table, fail-open) instead of a bare API Gateway 5xx:
two attempts in total (``total_max_attempts`` counts the first one; ``max_attempts`` would count
retries only) x (1 s connect + 3 s read) + back-off stays under 10 s.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from lucent.container import on_reset, per_container
from lucent.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client

CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=3,
    retries={"mode": "standard", "total_max_attempts": 2},
    tcp_keepalive=True,
)


# One session per container: each new Session loads botocore's service data again, which cost
# ~90 ms of ingest's cold start for its two clients (measured: 265 ms vs 170 ms). A Session is not
# safe for concurrent client creation, hence the lock (the local API and tests use threads).
_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def _client(service: str, settings: Settings) -> Any:
    global _session  # noqa: PLW0603
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(
            service,  # type: ignore[call-overload]
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=CLIENT_CONFIG,
        )


def _forget_session() -> None:
    global _session  # noqa: PLW0603
    with _session_lock:
        _session = None


# A new session after a reset: botocore hooks registered since (the bench's call counter, a
# test's stubs) attach to the session they see, so an old one would hide the calls.
on_reset(_forget_session)


@per_container
def dynamodb_client(settings: Settings | None = None) -> DynamoDBClient:
    return _client("dynamodb", settings or get_settings())  # type: ignore[no-any-return]


@per_container
def s3_client(settings: Settings | None = None) -> S3Client:
    return _client("s3", settings or get_settings())  # type: ignore[no-any-return]


@per_container
def secretsmanager_client(settings: Settings | None = None) -> Any:
    return _client("secretsmanager", settings or get_settings())


@per_container
def cognito_client(settings: Settings | None = None) -> Any:
    """The OAuth server's password check (docs/oauth.md): Cognito's InitiateAuth and GetUser."""
    return _client("cognito-idp", settings or get_settings())
