"""Lambda REQUEST authorizer for both APIs. Thin: read the event, decide, shape the output.

Imports stay lean (no pydantic, no event handler, no X-Ray): this runs before every ingest request.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lucent.auth.authenticator import Authenticator
from lucent.auth.authorizer import UNAUTHORIZED_MESSAGE, Decision, Effect, decide, policy_for
from lucent.auth.store import CredentialStore
from lucent.aws import dynamodb_client
from lucent.container import per_container
from lucent.errors import CredentialStoreUnavailable
from lucent.observability import logger, metrics
from lucent.settings import get_settings


@per_container
def authenticator() -> Authenticator:
    """One per container, so its lookup cache survives between invocations."""
    settings = get_settings()
    store = CredentialStore(dynamodb_client(settings), settings.require("credentials_table"))
    return Authenticator(store, cache_ttl_seconds=settings.auth_cache_ttl_seconds)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        decision: Decision = decide(event, authenticator())
    except CredentialStoreUnavailable:
        # Any exception other than "Unauthorized" becomes the AUTHORIZER_* gateway response,
        # which template.yaml turns into a 503 with Retry-After: clients retry, nothing is dropped.
        logger.exception("credential store unavailable")
        metrics.add_metric(name="CredentialStoreUnavailable", unit="Count", value=1)
        raise
    logger.info(
        "authorizer decision",
        extra={
            "effect": decision.effect.value,
            "family": decision.family.value if decision.family else None,
            "reason": decision.reason,
            "credential_id": decision.principal.credential_id if decision.principal else None,
            "org_id": decision.principal.org_id if decision.principal else None,
        },
    )
    metrics.add_metric(name=f"Authorizer{decision.effect.value}", unit="Count", value=1)
    if decision.effect is Effect.UNAUTHORIZED:
        raise Exception(UNAUTHORIZED_MESSAGE)
    return policy_for(decision, str(event.get("methodArn", "")))
