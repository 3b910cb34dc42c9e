"""From an API Gateway (REST) proxy event to an ``McpRequest``, and back to a proxy response.

The base URL of the API (for ``resource`` and the challenges' ``resource_metadata``) must be the
one the client used. Decided (docs/mcp.md): ``Settings.mcp_base_url`` when set (a custom domain
with a base-path mapping needs it); otherwise the request's ``Host`` with the scheme of
``X-Forwarded-Proto`` (API Gateway always sends ``https``; the local API sends none: ``http``),
plus ``/<stage>`` on an ``execute-api`` host, where the stage is the first path segment.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from lucent import http
from lucent.contract import MCP_PATH, MCP_RESOURCE_METADATA_PATH
from lucent.mcp.protocol import Headers
from lucent.mcp.server import HttpReply, McpRequest


def _header_pairs(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict) and multi:
        return [(str(k), str(v)) for k, values in multi.items() for v in (values or [])]
    return [(str(k), str(v)) for k, v in (event.get("headers") or {}).items() if v is not None]


def base_url(event: Mapping[str, Any], headers: Headers, configured: str = "") -> str:
    return http.base_url(event, headers.get("host"), headers.get("x-forwarded-proto"), configured)


def request_from_event(event: Mapping[str, Any], configured_base_url: str = "") -> McpRequest:
    headers = Headers.from_pairs(_header_pairs(event))
    resource = str(event.get("resource") or event.get("path") or "")
    path = (
        resource if resource in (MCP_PATH, MCP_RESOURCE_METADATA_PATH) else str(event.get("path"))
    )
    body = event.get("body")
    if body is not None and event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            body = "\x00"  # not JSON: the parser answers -32700
    return McpRequest(
        method=str(event.get("httpMethod") or "").upper(),
        path=path,
        headers=headers,
        body=body if isinstance(body, str) else None,
        base_url=base_url(event, headers, configured_base_url),
    )


def proxy_response(reply: HttpReply) -> dict[str, Any]:
    return {"statusCode": reply.status, "headers": dict(reply.headers), "body": reply.body}
