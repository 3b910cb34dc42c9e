"""From an API Gateway (REST) proxy event to an ``OAuthRequest``, and back to a proxy response.

The issuer is the OAuth API's base URL as clients reach it: ``Settings.oauth_issuer`` when set
(a custom domain, the deployed case); otherwise the request's ``Host`` with the scheme of
``X-Forwarded-Proto`` (API Gateway always sends ``https``; the local API sends none: ``http``),
plus ``/<stage>`` on an ``execute-api`` host (docs/oauth.md, "Issuer").
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from lucent import http
from lucent.contract import (
    OAUTH_AUTHORIZE_PATH,
    OAUTH_METADATA_PATH,
    OAUTH_REGISTER_PATH,
    OAUTH_REVOKE_PATH,
    OAUTH_TOKEN_PATH,
)
from lucent.oauth.web import HttpReply, OAuthRequest

ROUTES = frozenset(
    {
        OAUTH_METADATA_PATH,
        OAUTH_AUTHORIZE_PATH,
        OAUTH_TOKEN_PATH,
        OAUTH_REGISTER_PATH,
        OAUTH_REVOKE_PATH,
    }
)


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict) and multi:
        for name, values in multi.items():
            if values:
                # Repeated headers (two Cookie lines) are joined as HTTP allows; "; " for cookies.
                joiner = "; " if str(name).lower() == "cookie" else ", "
                out[str(name).lower()] = joiner.join(str(v) for v in values)
        return out
    for name, value in (event.get("headers") or {}).items():
        if value is not None:
            out[str(name).lower()] = str(value)
    return out


def base_url(event: Mapping[str, Any], headers: Mapping[str, str], configured: str = "") -> str:
    return http.base_url(event, headers.get("host"), headers.get("x-forwarded-proto"), configured)


def _query(event: Mapping[str, Any]) -> str:
    """The query string as sent. REST proxy events carry it parsed, so it is rebuilt from the
    multi-value form (repeated parameters kept, in order): authlib refuses duplicates."""
    from urllib.parse import urlencode

    multi = event.get("multiValueQueryStringParameters")
    if isinstance(multi, dict) and multi:
        return urlencode([(k, v) for k, values in multi.items() for v in (values or [])])
    single = event.get("queryStringParameters") or {}
    return urlencode([(k, v) for k, v in single.items() if v is not None])


def request_from_event(event: Mapping[str, Any], configured_issuer: str = "") -> OAuthRequest:
    headers = _headers(event)
    resource = str(event.get("resource") or "")
    path = resource if resource in ROUTES else str(event.get("path") or "")
    body = event.get("body")
    if body is not None and event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            body = "\x00"  # neither a form nor JSON: refused as such
    context = event.get("requestContext") or {}
    return OAuthRequest(
        method=str(event.get("httpMethod") or "").upper(),
        path=path,
        query=_query(event),
        headers=headers,
        body=body if isinstance(body, str) else None,
        source_ip=str((context.get("identity") or {}).get("sourceIp") or "unknown"),
        base_url=base_url(event, headers, configured_issuer),
    )


def proxy_response(reply: HttpReply) -> dict[str, Any]:
    return {"statusCode": reply.status, "headers": dict(reply.headers), "body": reply.body}
