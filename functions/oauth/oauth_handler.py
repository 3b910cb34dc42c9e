"""OAuth function: the authorization server's five endpoints (docs/oauth.md).

Thin: the event becomes a ``lucent.http.Request`` whose base URL is the issuer
(``Settings.oauth_issuer`` when set, else the request's host: docs/oauth.md, "Where it lives, and
the issuer"); ``OAuthService`` decides; its ``Reply`` becomes the proxy response; and one log line
(Powertools' Logger, scrubbed by ``lucent.observability``) records endpoint, client,
organization, status and error: never a code, token, secret, password or query string. Its
``OAuth2xx``/``OAuth4xx``/``OAuth5xx`` metric goes out in Powertools' EMF line at the
invocation's end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lucent.auth.store import CredentialStore
from lucent.aws import cognito_client, dynamodb_client
from lucent.container import per_container
from lucent.http import Request
from lucent.oauth.endpoints import OAuthService
from lucent.oauth.limits import RegistrationRateLimit, SignInRateLimit
from lucent.oauth.store import CognitoDirectory, OAuthStore
from lucent.oauth.web import Outcome, json_reply
from lucent.observability import get_tracer, logger, metrics
from lucent.ratelimit.limiter import RateLimiter
from lucent.ratelimit.store import RateLimitStore
from lucent.settings import get_settings

tracer = get_tracer()


def _limiter_unavailable(what: str) -> Callable[[Exception], None]:
    def report(exc: Exception) -> None:
        logger.warning(
            f"rate limiter unavailable: {what} admitted (fail open)", extra={"error": str(exc)}
        )
        metrics.add_metric(name="RateLimiterUnavailable", unit=MetricUnit.Count, value=1)

    return report


@per_container
def _parts() -> tuple[
    OAuthStore, CredentialStore, CognitoDirectory, RegistrationRateLimit, SignInRateLimit
]:
    """Clients and stores once per container; the limiter's caches survive invocations."""
    settings = get_settings()
    client = dynamodb_client(settings)
    limiter = RateLimiter(RateLimitStore(client, settings.require("rate_limit_table")))
    return (
        OAuthStore(client, settings.require("oauth_table")),
        CredentialStore(client, settings.require("credentials_table")),
        CognitoDirectory(cognito_client(settings), settings.require("cognito_client_id")),
        RegistrationRateLimit(
            limiter, settings.oauth_register_limit_per_minute, _limiter_unavailable("registration")
        ),
        SignInRateLimit(limiter, on_unavailable=_limiter_unavailable("sign-in")),
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
# Responses carry codes and tokens: keep them out of X-Ray metadata.
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = Outcome()
    try:
        settings = get_settings()
        request = Request.from_event(event, settings.oauth_issuer)
        store, credentials, directory, limit, sign_in_limit = _parts()
        service = OAuthService(
            store,
            credentials,
            directory,
            issuer=request.base_url,
            resources=settings.oauth_resources,
            registration_limit=limit,
            sign_in_limit=sign_in_limit,
            outcome=outcome,
        )
        reply = service.handle(request)
    except Exception:
        # A bug or a missing setting: a generic JSON 500, the traceback in the log only.
        logger.exception("oauth request failed")
        metrics.add_metric(name="OAuthInternalError", unit=MetricUnit.Count, value=1)
        reply = json_reply(500, {"error": "server_error"})
    logger.info(
        "oauth request",
        extra={
            "endpoint": outcome.endpoint,
            "http_method": event.get("httpMethod"),
            "status": reply.status,
            "client_id": outcome.client_id,
            "org_id": outcome.org_id,
            "error": outcome.error,
            "notes": outcome.notes or None,
        },
    )
    metrics.add_metric(name=f"OAuth{reply.status // 100}xx", unit=MetricUnit.Count, value=1)
    return reply.to_proxy()
