"""MCP function: ``POST /mcp`` and its protected-resource metadata (docs/mcp.md).

Thin: the event becomes the one ``lucent.http.Request``, ``lucent.mcp.server.McpServer`` decides
(a ``lucent.http.Reply``), and one audit line (``lucent.observability.audit``: log entry and EMF
metric at once) records method, tool, caller and status, never arguments or tokens.

There is no API Gateway authorizer in front of this function: its 401/403 challenges carry the
absolute URL of the resource metadata, which static gateway responses cannot build. It
authenticates with the same credential core as the authorizer (``Authenticator`` over
``CredentialStore``, cached per container).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lucent.auth.authenticator import Authenticator
from lucent.auth.credentials import Principal
from lucent.auth.store import CredentialStore
from lucent.aws import dynamodb_client
from lucent.container import per_container
from lucent.http import Reply, Request
from lucent.issues.service import DataService
from lucent.issues.store import DataStore
from lucent.mcp.server import McpServer, Outcome
from lucent.observability import audit
from lucent.ratelimit.bearer import BearerRateLimit
from lucent.ratelimit.limiter import RateLimiter
from lucent.ratelimit.store import RateLimitStore
from lucent.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


class _AuditTelemetry:
    def metric(self, name: str) -> None:
        audit(name, metric=name, fields={}, level="DEBUG")


def _limiter_unavailable(principal: Principal, exc: Exception) -> None:
    # Fail open (docs/data-api.md): the request goes on; the metric is what alarms.
    audit(
        "rate limiter unavailable: request admitted (fail open)",
        metric="RateLimiterUnavailable",
        fields={"credential_id": principal.credential_id, "error": str(exc)},
        level="WARNING",
    )


@per_container
def data_service() -> DataService:
    settings = get_settings()
    return DataService(DataStore(dynamodb_client(settings), settings.require("data_table")))


@per_container
def server() -> McpServer:
    """One per container: the credential cache and the limiter's cache survive invocations."""
    settings = get_settings()
    client = dynamodb_client(settings)
    authenticator = Authenticator(
        CredentialStore(client, settings.require("credentials_table")),
        cache_ttl_seconds=settings.auth_cache_ttl_seconds,
    )
    limiter = RateLimiter(RateLimitStore(client, settings.require("rate_limit_table")))
    return McpServer(
        authenticator,
        data_service,
        BearerRateLimit(limiter, _limiter_unavailable),
        allowed_origins=frozenset(settings.mcp_allowed_origins),
        # An explicit McpAuthorizationServer wins; else the OAuth API's issuer (the template
        # passes it); else (the local API, where every API shares one origin) the request's base.
        authorization_server=settings.mcp_authorization_server or settings.oauth_issuer,
        telemetry=_AuditTelemetry(),
        retry_after_seconds=settings.unavailable_retry_after_seconds,
    )


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = Outcome()
    try:
        request = Request.from_event(event, get_settings().mcp_base_url)
        reply = server().handle(request, outcome)
    except Exception:
        # A bug or a missing setting: a generic JSON 500, the traceback in the log only.
        audit(
            "mcp request failed",
            metric="McpInternalError",
            fields={"correlation_id": (event.get("requestContext") or {}).get("requestId")},
            context=context,
            level="ERROR",
            with_traceback=True,
        )
        reply = Reply.internal_error()
    principal = outcome.principal
    audit(
        "mcp request",
        metric=f"Mcp{reply.status // 100}xx",
        fields={
            "correlation_id": (event.get("requestContext") or {}).get("requestId"),
            "http_method": event.get("httpMethod"),
            "status": reply.status,
            "rpc_method": outcome.rpc_method,
            "tool": outcome.tool,
            "protocol_version": outcome.protocol_version,
            "error": outcome.error,
            "org_id": principal.org_id if principal else None,
            "credential_id": principal.credential_id if principal else None,
        },
        context=context,
    )
    return reply.to_proxy()
