"""The public contract's exact words, defined once (docs/errors.md).

Error bodies, ``WWW-Authenticate`` challenges, CORS header lists and scope names that clients read
to the letter come from here: the Python error mapping (``lucent.errors``, ``lucent.http``) uses
them, and ``gateway_responses`` spells out the gateway responses that template.yaml must declare
for each API (tests/unit/test_contract.py holds the template equal to it). The strings the product
documentation prints are copied from it to the letter.

Import-light on purpose (stdlib ``json`` only): the authorizer reads it on every cold start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

# --- scopes ---------------------------------------------------------------------------------------

READ_SCOPE = "read:lucent"
WRITE_ISSUES_SCOPE = "write:issues"
KNOWN_SCOPES = (READ_SCOPE, WRITE_ISSUES_SCOPE)

# --- messages (the "error" member of every JSON error body) --------------------------------------

MISSING_API_KEY = "Missing API key"
INVALID_API_KEY = "Invalid or revoked API key"
INVALID_BEARER_TOKEN = "Missing or invalid bearer token"  # noqa: S105 - a message
RATE_LIMIT_EXCEEDED = "Rate limit exceeded"
SERVICE_UNAVAILABLE = "Service temporarily unavailable"
STORAGE_UNAVAILABLE = "Storage temporarily unavailable"
NOT_FOUND = "Not found"
METHOD_NOT_ALLOWED = "Method not allowed"
REQUEST_TOO_LARGE = "Request body too large"
INTERNAL_ERROR = "Internal server error"
# Ingest: a batch is written once; another body for the same (session_id, sequence) is refused.
BATCH_CONFLICT = "A different batch is already stored for this session_id and sequence"

# Seconds a client is told to wait after a 503 (a dependency failed) and after the stage's own
# throttle. The functions' 503s use Settings.unavailable_retry_after_seconds, whose default this is.
UNAVAILABLE_RETRY_AFTER_SECONDS = 5
THROTTLED_RETRY_AFTER_SECONDS = 1

# --- challenges (RFC 6750) ------------------------------------------------------------------------


def bearer_challenge(scope: str) -> str:
    """The challenge of a 401: no usable token; names the scope the endpoint needs."""
    return f'Bearer scope="{scope}"'


def insufficient_scope_challenge(scope: str) -> str:
    """The challenge of a 403: a valid token without ``scope`` (RFC 6750 section 3.1)."""
    return f'Bearer error="insufficient_scope", scope="{scope}"'


# --- MCP (POST /mcp, docs/mcp.md) -----------------------------------------------------------------
# The MCP authorization spec (2025-11-25 and later) has clients discover the authorization server
# from the challenge: every 401 and 403 names the RFC 9728 metadata document of this deployment,
# an absolute URL that only the function can build (hence MCP's own REST API with no authorizer).

MCP_PATH = "/mcp"
MCP_RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
MCP_BEARER_METHODS = ("header",)


def mcp_bearer_challenge(scope: str, resource_metadata_url: str) -> str:
    """The challenge of an MCP 401: no usable token; where to read how to get one."""
    return f'Bearer resource_metadata="{resource_metadata_url}", scope="{scope}"'


def mcp_insufficient_scope_challenge(scope: str, resource_metadata_url: str) -> str:
    """The challenge of an MCP 403 (step-up): a valid token without ``scope``."""
    return (
        f'Bearer error="insufficient_scope", scope="{scope}", '
        f'resource_metadata="{resource_metadata_url}"'
    )


def missing_scope_message(scope: str) -> str:
    """The 403 message of the Data API and MCP alike."""
    return f"Missing required scope: {scope}"


# --- CORS (ingest only: the Data API is for servers and agents) -----------------------------------

# Retry-After is not CORS-safelisted: browser code reads it only when it is exposed explicitly.
INGEST_CORS_HEADERS: Mapping[str, str] = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Retry-After",
}
INGEST_ALLOWED_HEADERS = ("Content-Type", "Content-Encoding", "X-Lucent-Api-Key")
INGEST_ALLOWED_METHODS = ("POST", "OPTIONS")
PREFLIGHT_MAX_AGE_SECONDS = 7200  # Chromium's cap; Firefox allows 86400.


def error_body(message: str) -> str:
    """A JSON error body as clients read it: ``{"error": "..."}`` (a space after the colon)."""
    return json.dumps({"error": message})


# --- gateway responses (what API Gateway answers without calling a function) ----------------------

ApiName = Literal["ingest", "data"]


def _quoted(value: str) -> str:
    # Gateway response header values are mapping expressions: a static value is single-quoted.
    return f"'{value}'"


def _response(
    status: int | None, message_or_template: str, headers: Mapping[str, str], *, raw: bool = False
) -> dict[str, Any]:
    response: dict[str, Any] = {}
    if status is not None:
        response["StatusCode"] = str(status)
    if headers:
        response["ResponseParameters"] = {
            "Headers": {name: _quoted(value) for name, value in headers.items()}
        }
    body = message_or_template if raw else error_body(message_or_template)
    response["ResponseTemplates"] = {"application/json": body}
    return response


def gateway_responses(api: ApiName) -> dict[str, Any]:
    """The ``GatewayResponses`` an API must declare in template.yaml, exactly.

    Customised types do not inherit DEFAULT_4XX's headers, so the ingest API repeats its CORS
    headers on every type (browsers cannot read an error without them). The Data API's 401s
    challenge for the scope of the method: reads fail with UNAUTHORIZED, writes with
    ACCESS_DENIED (docs/authorizer.md).
    """
    cors = dict(INGEST_CORS_HEADERS) if api == "ingest" else {}
    unavailable = {**cors, "Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)}
    if api == "ingest":
        unauthorized = _response(401, MISSING_API_KEY, cors)
        denied = _response(401, INVALID_API_KEY, cors)
    else:
        unauthorized = _response(
            401, INVALID_BEARER_TOKEN, {"WWW-Authenticate": bearer_challenge(READ_SCOPE)}
        )
        denied = _response(
            401, INVALID_BEARER_TOKEN, {"WWW-Authenticate": bearer_challenge(WRITE_ISSUES_SCOPE)}
        )
    return {
        "UNAUTHORIZED": unauthorized,
        "ACCESS_DENIED": denied,
        "AUTHORIZER_CONFIGURATION_ERROR": _response(503, SERVICE_UNAVAILABLE, unavailable),
        "AUTHORIZER_FAILURE": _response(503, SERVICE_UNAVAILABLE, unavailable),
        "MISSING_AUTHENTICATION_TOKEN": _response(404, NOT_FOUND, cors),
        "REQUEST_TOO_LARGE": _response(413, REQUEST_TOO_LARGE, cors),
        "THROTTLED": _response(
            429,
            RATE_LIMIT_EXCEEDED,
            {**cors, "Retry-After": str(THROTTLED_RETRY_AFTER_SECONDS)},
        ),
        "DEFAULT_4XX": _response(None, '{"error": $context.error.messageString}', cors, raw=True),
        "DEFAULT_5XX": _response(None, INTERNAL_ERROR, cors),
    }


def mcp_gateway_responses() -> dict[str, Any]:
    """The ``GatewayResponses`` of the MCP API (no authorizer, so no authorizer types): what API
    Gateway answers itself, in the same JSON shape as every other error."""
    return {
        "MISSING_AUTHENTICATION_TOKEN": _response(404, NOT_FOUND, {}),
        "REQUEST_TOO_LARGE": _response(413, REQUEST_TOO_LARGE, {}),
        "THROTTLED": _response(
            429, RATE_LIMIT_EXCEEDED, {"Retry-After": str(THROTTLED_RETRY_AFTER_SECONDS)}
        ),
        "DEFAULT_4XX": _response(None, '{"error": $context.error.messageString}', {}, raw=True),
        "DEFAULT_5XX": _response(None, INTERNAL_ERROR, {}),
    }


# --- OAuth 2.1 authorization server (docs/oauth.md) ---------------------------------------------
# Paths on the OAuth API; the issuer is that API's base URL (no path on a custom domain).

OAUTH_METADATA_PATH = "/.well-known/oauth-authorization-server"
OAUTH_AUTHORIZE_PATH = "/oauth/authorize"
OAUTH_TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path
OAUTH_REGISTER_PATH = "/oauth/register"
OAUTH_REVOKE_PATH = "/oauth/revoke"
# The RFC 8707 resources a grant can name, as paths under their API's base URL: the MCP endpoint
# (what its RFC 9728 metadata calls "resource") and the Data API's versioned root.
OAUTH_MCP_RESOURCE_PATH = "/mcp"
OAUTH_DATA_RESOURCE_PATH = "/api/v1"
# What the consent page says each scope allows, in the words of the product documentation.
SCOPE_DESCRIPTIONS: Mapping[str, str] = {
    READ_SCOPE: "Read issues, signals, and insights.",
    WRITE_ISSUES_SCOPE: "Update issue status.",
}
