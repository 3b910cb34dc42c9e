"""The authorizer's decision: which credential family an API takes, and what API Gateway returns.

Outcomes map onto gateway responses defined in template.yaml (docs/authorizer.md):

============================  ==========================  ======================================
outcome                       authorizer output           gateway response (status, body)
============================  ==========================  ======================================
ingest, no key                raise ``Unauthorized``      UNAUTHORIZED 401 "Missing API key"
ingest, bad key               Deny policy                 ACCESS_DENIED 401 "Invalid or revoked.."
data read, bad/no token       raise ``Unauthorized``      UNAUTHORIZED 401, scope="read:lucent"
data write, bad/no token      Deny policy                 ACCESS_DENIED 401, scope="write:issues"
credential store down         raise another error         AUTHORIZER_* 503 with Retry-After
valid credential              Allow policy + context      the function runs
============================  ==========================  ======================================

Every gateway response body and header is static, so nothing depends on mapping authorizer
context into headers (undocumented). The family comes from the resource API Gateway matched, which
a client cannot choose beyond picking an API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lucent.auth.authenticator import Authenticator
from lucent.auth.credentials import Principal
from lucent.contract import OAUTH_DATA_RESOURCE_PATH, READ_SCOPE, WRITE_ISSUES_SCOPE
from lucent.errors import InvalidApiKey, InvalidBearerToken, MissingApiKey
from lucent.http import base_url, header, query_parameter

INGEST_PATH_PREFIX = "/api/sdk/"
DATA_PATH_PREFIX = "/api/v1/"
API_KEY_HEADER = "x-lucent-api-key"
API_KEY_QUERY_PARAMETER = "api_key"  # sendBeacon cannot set headers (docs/ingest.md)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The exact message API Gateway recognises to answer with the UNAUTHORIZED gateway response.
UNAUTHORIZED_MESSAGE = "Unauthorized"


class ApiFamily(StrEnum):
    INGEST = "ingest"
    DATA = "data"


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"
    UNAUTHORIZED = "Unauthorized"


@dataclass(frozen=True, slots=True)
class Decision:
    effect: Effect
    family: ApiFamily | None
    reason: str
    principal: Principal | None = None


def family_for(resource: str) -> ApiFamily | None:
    if resource.startswith(INGEST_PATH_PREFIX):
        return ApiFamily.INGEST
    if resource.startswith(DATA_PATH_PREFIX):
        return ApiFamily.DATA
    return None


def challenge_scope_for(method: str) -> str:
    """The scope a 401 challenge names: write endpoints ask for write:issues (docs)."""
    return READ_SCOPE if method.upper() in READ_METHODS else WRITE_ISSUES_SCOPE


def ingest_key(event: Mapping[str, Any]) -> str | None:
    """The public key from the header, else from ``?api_key=`` (sendBeacon); the header wins."""
    return header(event, API_KEY_HEADER) or query_parameter(event, API_KEY_QUERY_PARAMETER) or None


def data_resource(event: Mapping[str, Any]) -> str:
    """The Data API's RFC 8707 resource URL as this request reached it: the rule of
    ``lucent.http.base_url`` (as for MCP and OAuth) plus ``/api/v1``.

    It cannot be configured from template.yaml: the authorizer's environment naming its own
    API's URL would make the API depend on the function that the API already depends on. So
    it is read from the request, the way the resource server sees itself: the ``Host`` (the
    execute-api host, or the custom domain) and, on execute-api hosts, ``/<stage>``
    (docs/oauth.md, "Audience").
    """
    return (
        base_url(event, header(event, "host"), header(event, "x-forwarded-proto"))
        + OAUTH_DATA_RESOURCE_PATH
    )


def decide(event: Mapping[str, Any], authenticator: Authenticator) -> Decision:
    """Authenticate a REQUEST authorizer event. Raises CredentialStoreUnavailable on outages."""
    resource = str(event.get("resource") or event.get("path") or "")
    family = family_for(resource)
    if family is ApiFamily.INGEST:
        try:
            principal = authenticator.authenticate_ingest(ingest_key(event))
        except MissingApiKey:
            return Decision(Effect.UNAUTHORIZED, family, "missing_api_key")
        except InvalidApiKey:
            return Decision(Effect.DENY, family, "invalid_api_key")
        return Decision(Effect.ALLOW, family, "ok", principal)
    if family is ApiFamily.DATA:
        scope = challenge_scope_for(str(event.get("httpMethod") or "GET"))
        try:
            # An OAuth token granted for another resource (the MCP endpoint) is refused here
            # exactly like an unknown token (RFC 8707; lucent.auth.audience).
            principal = authenticator.authenticate_bearer(
                header(event, "authorization"), scope, data_resource(event)
            )
        except InvalidBearerToken:
            # Reads and writes need different WWW-Authenticate challenges, and gateway response
            # headers are static, so each takes its own gateway response type.
            effect = Effect.UNAUTHORIZED if scope == READ_SCOPE else Effect.DENY
            return Decision(effect, family, "invalid_bearer_token")
        return Decision(Effect.ALLOW, family, "ok", principal)
    return Decision(Effect.UNAUTHORIZED, None, "unknown_api")


def policy_for(decision: Decision, method_arn: str) -> dict[str, Any]:
    """The IAM policy document API Gateway expects for an Allow or Deny decision."""
    # Wildcard over the stage's methods: should result caching ever be turned on, a policy naming
    # one method ARN would deny the others (docs/authorizer.md).
    arn_parts = method_arn.split("/")
    resource = "/".join([*arn_parts[:2], "*", "*"]) if len(arn_parts) >= 2 else method_arn
    principal = decision.principal
    output: dict[str, Any] = {
        "principalId": principal.credential_id if principal else "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": decision.effect.value,
                    "Resource": resource,
                }
            ],
        },
    }
    if principal is not None:
        output["context"] = principal.to_context()
    else:
        output["context"] = {"reason": decision.reason}
    return output
