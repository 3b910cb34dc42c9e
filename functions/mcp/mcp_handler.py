"""MCP function: ``POST /mcp`` and its protected-resource metadata (docs/mcp.md).

Thin: the event becomes the one ``lucent.http.Request``, ``lucent.mcp.server.McpServer`` decides
(a ``lucent.http.Reply``), and one log line (Powertools' Logger, scrubbed by
``lucent.observability``) records method, tool, caller and status, never arguments or tokens; its
``Mcp2xx``/``Mcp4xx``/``Mcp5xx`` metric goes out in Powertools' EMF line at the invocation's end.

There is no API Gateway authorizer in front of this function: its 401/403 challenges carry the
absolute URL of the resource metadata, which static gateway responses cannot build. It
authenticates with the same credential core as the authorizer (``Authenticator`` over
``CredentialStore``, cached per container).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lucent.auth.authenticator import Authenticator
from lucent.auth.credentials import Principal
from lucent.auth.store import CredentialStore
from lucent.aws import dynamodb_client
from lucent.container import per_container
from lucent.http import Reply, Request
from lucent.issues.service import DataService
from lucent.issues.store import DataStore
from lucent.mcp.server import McpServer, Outcome
from lucent.observability import get_tracer, logger, metrics
from lucent.ratelimit.bearer import BearerRateLimit
from lucent.ratelimit.limiter import RateLimiter
from lucent.ratelimit.store import RateLimitStore
from lucent.settings import get_settings

tracer = get_tracer()


class _Telemetry:
    def metric(self, name: str) -> None:
        logger.debug(name)
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _limiter_unavailable(principal: Principal, exc: Exception) -> None:
    # Fail open (docs/data-api.md): the request goes on; the metric is what alarms.
    logger.warning(
        "rate limiter unavailable: request admitted (fail open)",
        extra={"credential_id": principal.credential_id, "error": str(exc)},
    )
    metrics.add_metric(name="RateLimiterUnavailable", unit=MetricUnit.Count, value=1)


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
        telemetry=_Telemetry(),
        retry_after_seconds=settings.unavailable_retry_after_seconds,
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
# Responses carry customer data: keep them out of X-Ray metadata.
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = Outcome()
    try:
        request = Request.from_event(event, get_settings().mcp_base_url)
        reply = server().handle(request, outcome)
    except Exception:
        # A bug or a missing setting: a generic JSON 500, the traceback in the log only.
        logger.exception("mcp request failed")
        metrics.add_metric(name="McpInternalError", unit=MetricUnit.Count, value=1)
        reply = Reply.internal_error()
    principal = outcome.principal
    logger.info(
        "mcp request",
        extra={
            "http_method": event.get("httpMethod"),
            "status": reply.status,
            "rpc_method": outcome.rpc_method,
            "tool": outcome.tool,
            "protocol_version": outcome.protocol_version,
            "error": outcome.error,
            "org_id": principal.org_id if principal else None,
            "credential_id": principal.credential_id if principal else None,
        },
    )
    metrics.add_metric(name=f"Mcp{reply.status // 100}xx", unit=MetricUnit.Count, value=1)
    return reply.to_proxy()
