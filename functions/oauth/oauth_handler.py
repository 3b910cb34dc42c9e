"""OAuth function: the authorization server's five endpoints (docs/oauth.md).

Thin: the event becomes a ``lucent.http.Request`` whose base URL is the issuer
(``Settings.oauth_issuer`` when set, else the request's host: docs/oauth.md, "Where it lives, and
the issuer"); ``OAuthService`` decides; its ``Reply`` becomes the proxy response; and one audit
line (log entry and EMF metric at once, no Powertools) records endpoint, client, organization,
status and error: never a code, token, secret, password or query string.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lucent.auth.store import CredentialStore
from lucent.aws import cognito_client, dynamodb_client
from lucent.container import per_container
from lucent.http import Request
from lucent.oauth.endpoints import OAuthService
from lucent.oauth.limits import RegistrationRateLimit, SignInRateLimit
from lucent.oauth.store import CognitoDirectory, OAuthStore
from lucent.oauth.web import Outcome, json_reply
from lucent.observability import audit
from lucent.ratelimit.limiter import RateLimiter
from lucent.ratelimit.store import RateLimitStore
from lucent.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _limiter_unavailable(what: str) -> Callable[[Exception], None]:
    def report(exc: Exception) -> None:
        audit(
            f"rate limiter unavailable: {what} admitted (fail open)",
            metric="RateLimiterUnavailable",
            fields={"error": str(exc)},
            level="WARNING",
        )

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
        audit(
            "oauth request failed",
            metric="OAuthInternalError",
            fields={"correlation_id": (event.get("requestContext") or {}).get("requestId")},
            context=context,
            level="ERROR",
            with_traceback=True,
        )
        reply = json_reply(500, {"error": "server_error"})
    audit(
        "oauth request",
        metric=f"OAuth{reply.status // 100}xx",
        fields={
            "correlation_id": (event.get("requestContext") or {}).get("requestId"),
            "endpoint": outcome.endpoint,
            "http_method": event.get("httpMethod"),
            "status": reply.status,
            "client_id": outcome.client_id,
            "org_id": outcome.org_id,
            "error": outcome.error,
            "notes": outcome.notes or None,
        },
        context=context,
    )
    return reply.to_proxy()
