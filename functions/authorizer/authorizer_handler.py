"""Lambda REQUEST authorizer of the ingest API and the Data API (``AuthorizerFunction`` and
``DataAuthorizerFunction`` run this code). Thin: read the event, decide, shape the output.

It runs before every ingest request, so it imports no Powertools, pydantic or X-Ray
(docs/decisions/024-lean-authorizer.md): its one line per decision (audit log entry and EMF
metric at once) comes from ``lucent.observability.audit`` (docs/authorizer.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lucent.auth.authenticator import Authenticator
from lucent.auth.authorizer import UNAUTHORIZED_MESSAGE, Effect, decide, policy_for
from lucent.auth.store import CredentialStore
from lucent.aws import dynamodb_client
from lucent.container import per_container
from lucent.errors import CredentialStoreUnavailable
from lucent.observability import audit
from lucent.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@per_container
def authenticator() -> Authenticator:
    """One per container, so its lookup cache survives between invocations."""
    settings = get_settings()
    store = CredentialStore(dynamodb_client(settings), settings.require("credentials_table"))
    return Authenticator(store, cache_ttl_seconds=settings.auth_cache_ttl_seconds)


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request_id = (event.get("requestContext") or {}).get("requestId")
    try:
        decision = decide(event, authenticator())
    except CredentialStoreUnavailable:
        # Any exception other than "Unauthorized" becomes the AUTHORIZER_* gateway response,
        # which template.yaml turns into a 503 with Retry-After: clients retry, nothing is dropped.
        audit(
            "credential store unavailable",
            metric="CredentialStoreUnavailable",
            fields={"correlation_id": request_id},
            context=context,
            level="ERROR",
            with_traceback=True,
        )
        raise
    principal = decision.principal
    audit(
        "authorizer decision",
        metric=f"Authorizer{decision.effect.value}",
        fields={
            "correlation_id": request_id,
            "effect": decision.effect.value,
            "family": decision.family.value if decision.family else None,
            "reason": decision.reason,
            "credential_id": principal.credential_id if principal else None,
            "org_id": principal.org_id if principal else None,
        },
        context=context,
    )
    if decision.effect is Effect.UNAUTHORIZED:
        raise Exception(UNAUTHORIZED_MESSAGE)
    return policy_for(decision, str(event.get("methodArn", "")))
