"""The single place where typed errors and results become API Gateway proxy responses.

Bodies are serialised with ``json.dumps`` defaults (``{"error": "..."}``, a space after each
separator) so that they match the product documentation byte for byte, the same bytes the
gateway responses in template.yaml produce.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lucent.errors import LucentError

JSON_CONTENT_TYPE = "application/json"

# The ingest API is called from any origin (docs: "Access-Control-Allow-Origin: *"). Retry-After
# is not CORS-safelisted, so browser code can only read it when it is exposed explicitly.
INGEST_CORS_HEADERS: Mapping[str, str] = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Retry-After",
}
INGEST_ALLOWED_HEADERS = "Content-Type, Content-Encoding, X-Lucent-Api-Key"
INGEST_ALLOWED_METHODS = "POST, OPTIONS"
PREFLIGHT_MAX_AGE_SECONDS = 7200  # Chromium's cap; Firefox allows 86400.


def dumps(body: Any) -> str:
    return json.dumps(body)


def json_response(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    all_headers = {"Content-Type": JSON_CONTENT_TYPE}
    if headers:
        all_headers.update(headers)
    return {"statusCode": status, "headers": all_headers, "body": dumps(body)}


def error_response(
    error: LucentError, extra_headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    headers = dict(extra_headers or {})
    headers.update(error.headers())
    return json_response(error.status, error.body(), headers)


def internal_error_response(extra_headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What a client sees for a bug: a generic JSON 500, never a traceback."""
    return json_response(500, {"error": "Internal server error"}, extra_headers)


def preflight_response() -> dict[str, Any]:
    return {
        "statusCode": 204,
        "headers": {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Headers": INGEST_ALLOWED_HEADERS,
            "Access-Control-Allow-Methods": INGEST_ALLOWED_METHODS,
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
        },
        "body": "",
    }
