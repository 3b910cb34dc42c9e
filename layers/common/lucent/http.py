"""API Gateway proxy events in and out: request headers and query parameters as the functions
read them, and the single place where typed errors and results become proxy responses.

Bodies are serialised with ``json.dumps`` defaults (``{"error": "..."}``, a space after each
separator) so that they match the product documentation byte for byte, the same bytes the
gateway responses in template.yaml produce (both from ``lucent.contract``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from lucent.contract import (
    INGEST_ALLOWED_HEADERS,
    INGEST_ALLOWED_METHODS,
    INGEST_CORS_HEADERS,
    INTERNAL_ERROR,
    PREFLIGHT_MAX_AGE_SECONDS,
)
from lucent.errors import LucentError

JSON_CONTENT_TYPE = "application/json"


def header(event: Mapping[str, Any], name: str) -> str | None:
    """A request header by case-insensitive name (HTTP header names are case-insensitive)."""
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == wanted:
            return str(value) if value is not None else None
    return None


_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_STAGE = re.compile(r"^[A-Za-z0-9_]+$")


def base_url(
    event: Mapping[str, Any],
    host: str | None,
    forwarded_proto: str | None,
    configured: str = "",
) -> str:
    """The URL this API is reached at, for absolute URLs in answers (MCP's resource metadata,
    the OAuth issuer): ``configured`` when set (a custom domain), else the request's ``Host``
    (when it is a plain host[:port]) or API Gateway's domain name, the forwarded scheme, and the
    stage on execute-api hosts."""
    if configured:
        return configured.rstrip("/")
    context = event.get("requestContext") or {}
    if not host or not _HOST.fullmatch(host):
        host = str(context.get("domainName") or "localhost")
    proto = (forwarded_proto or "http").split(",")[0].strip().lower()
    scheme = "https" if proto == "https" else "http"
    stage = str(context.get("stage") or "")
    prefix = f"/{stage}" if ".execute-api." in host and _STAGE.fullmatch(stage) else ""
    return f"{scheme}://{host}{prefix}"


def query_parameter(event: Mapping[str, Any], name: str) -> str | None:
    value = (event.get("queryStringParameters") or {}).get(name)
    return str(value) if value is not None else None


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
    return json_response(500, {"error": INTERNAL_ERROR}, extra_headers)


def preflight_response() -> dict[str, Any]:
    return {
        "statusCode": 204,
        "headers": {
            "Access-Control-Allow-Origin": INGEST_CORS_HEADERS["Access-Control-Allow-Origin"],
            "Access-Control-Allow-Headers": ", ".join(INGEST_ALLOWED_HEADERS),
            "Access-Control-Allow-Methods": ", ".join(INGEST_ALLOWED_METHODS),
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
        },
        "body": "",
    }
