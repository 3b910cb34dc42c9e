"""Typed settings, read from the environment once per container.

Every AWS resource name a store needs comes from here; no other module reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from lucent.container import per_container
from lucent.contract import UNAVAILABLE_RETRY_AFTER_SECONDS
from lucent.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Settings:
    region: str = "us-east-1"
    credentials_table: str = ""
    rate_limit_table: str = ""
    data_table: str = ""
    replay_bucket: str = ""
    # How long a warm container trusts a credential lookup. API Gateway's own authorizer cache is
    # off (see docs/authorizer.md), so this is the longest a revoked key keeps working.
    auth_cache_ttl_seconds: int = 60
    # Seconds a client is told to wait after a 503 (storage or credential store unavailable).
    unavailable_retry_after_seconds: int = UNAVAILABLE_RETRY_AFTER_SECONDS
    endpoint_url: str | None = None
    # The canary (functions/canary): the deployed APIs it calls and where its credentials live.
    ingest_url: str = ""
    data_url: str = ""
    mcp_url: str = ""
    canary_credentials_secret_arn: str = ""
    canary_events_dir: str = ""
    # Observability, as Powertools reads them (the authorizer's audit line reads them here).
    service_name: str = "service_undefined"
    metrics_namespace: str = "Lucent"
    log_level: str = "INFO"
    # MCP (docs/mcp.md). The base URL of this deployment's MCP API as clients reach it (a custom
    # domain with a base path needs it); empty: derived from each request's Host.
    mcp_base_url: str = ""
    # Browser origins allowed to call POST /mcp; any other Origin header is refused (403) against
    # DNS rebinding. Requests without Origin (every non-browser client) are not affected.
    mcp_allowed_origins: tuple[str, ...] = ()
    # The OAuth authorization server named in the resource metadata; empty: this API's own base
    # URL, where the OAuth server of the next issue is to be served (docs/mcp.md).
    mcp_authorization_server: str = ""
    # The OAuth authorization server (docs/oauth.md). Its table (clients, codes, refresh tokens,
    # consent sessions), the Cognito app client people sign in with, its issuer URL (empty:
    # derived from each request's Host, as the local API needs) and the RFC 8707 resources a
    # grant may name (empty: this host's /mcp and /api/v1).
    oauth_table: str = ""
    cognito_client_id: str = ""
    oauth_issuer: str = ""
    oauth_resources: tuple[str, ...] = ()
    # Dynamic client registrations admitted per source IP and minute.
    oauth_register_limit_per_minute: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if env is None else env
        return cls(
            region=source.get("AWS_REGION") or source.get("AWS_DEFAULT_REGION") or "us-east-1",
            credentials_table=source.get("CREDENTIALS_TABLE", ""),
            rate_limit_table=source.get("RATE_LIMIT_TABLE", ""),
            data_table=source.get("DATA_TABLE", ""),
            replay_bucket=source.get("REPLAY_BUCKET", ""),
            auth_cache_ttl_seconds=_int(source, "AUTH_CACHE_TTL_SECONDS", 60),
            unavailable_retry_after_seconds=_int(
                source, "UNAVAILABLE_RETRY_AFTER_SECONDS", UNAVAILABLE_RETRY_AFTER_SECONDS
            ),
            endpoint_url=source.get("AWS_ENDPOINT_URL") or None,
            ingest_url=source.get("INGEST_URL", ""),
            data_url=source.get("DATA_URL", ""),
            mcp_url=source.get("MCP_URL", ""),
            canary_credentials_secret_arn=source.get("CANARY_CREDENTIALS_SECRET_ARN", ""),
            canary_events_dir=source.get("CANARY_EVENTS_DIR", ""),
            service_name=source.get("POWERTOOLS_SERVICE_NAME") or "service_undefined",
            metrics_namespace=source.get("POWERTOOLS_METRICS_NAMESPACE") or "Lucent",
            log_level=source.get("POWERTOOLS_LOG_LEVEL") or source.get("LOG_LEVEL") or "INFO",
            mcp_base_url=source.get("MCP_BASE_URL", "").rstrip("/"),
            mcp_authorization_server=source.get("MCP_AUTHORIZATION_SERVER", "").rstrip("/"),
            mcp_allowed_origins=tuple(
                origin.strip().rstrip("/")
                for origin in source.get("MCP_ALLOWED_ORIGINS", "").split(",")
                if origin.strip()
            ),
            oauth_table=source.get("OAUTH_TABLE", ""),
            cognito_client_id=source.get("COGNITO_CLIENT_ID", ""),
            oauth_issuer=source.get("OAUTH_ISSUER", "").rstrip("/"),
            oauth_resources=tuple(
                value.strip().rstrip("/")
                for value in source.get("OAUTH_RESOURCES", "").split(",")
                if value.strip()
            ),
            oauth_register_limit_per_minute=_int(source, "OAUTH_REGISTER_LIMIT_PER_MINUTE", 10),
        )

    def require(self, name: str) -> str:
        """The value of a resource-name setting, or a clear error naming the missing variable."""
        value = getattr(self, name)
        if not value:
            raise ConfigurationError(f"setting {name} is empty: set {name.upper()}")
        return str(value)


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{key} must be an integer, got {raw!r}") from exc


@per_container
def get_settings() -> Settings:
    """The container's settings, read once (``lucent.container.reset`` reads them again)."""
    return Settings.from_env()
