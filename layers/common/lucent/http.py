"""The one HTTP edge of every API: a REST proxy event in (``Request``), a ``Reply`` out, and the
single place where typed errors become replies.

Every API function (ingest, the Data API, MCP, OAuth) builds one ``Request.from_event`` and
answers one ``Reply``, turned into the proxy response by ``Reply.to_proxy``. The authorizer's
REQUEST events are not proxy events: it reads them with ``header`` and ``query_parameter``. This
module imports only the standard library: it is on the browser's path
(docs/decisions/026-lean-no-event-handler.md).

Bodies are serialised with ``json.dumps`` defaults (``{"error": "..."}``, a space after each
separator) so that they match the product documentation byte for byte, the same bytes the
gateway responses in template.yaml produce (both from ``lucent.contract``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from lucent.contract import (
    INGEST_ALLOWED_HEADERS,
    INGEST_ALLOWED_METHODS,
    INGEST_CORS_HEADERS,
    INTERNAL_ERROR,
    PREFLIGHT_MAX_AGE_SECONDS,
)
from lucent.errors import LucentError

JSON_CONTENT_TYPE = "application/json"
# What a body API Gateway could not have sent (invalid base64) reads as: no reader accepts it.
UNDECODABLE_BODY = b"\x00"


@dataclass(frozen=True, slots=True)
class Headers:
    """Request headers by case-insensitive name, keeping repeats in the order sent."""

    values: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Headers:
        values: dict[str, list[str]] = {}
        for name, value in pairs:
            values.setdefault(name.lower(), []).append(value)
        return cls(values)

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Headers:
        """``multiValueHeaders`` when the event has them (REST proxy events do), else
        ``headers``."""
        multi = event.get("multiValueHeaders")
        if isinstance(multi, dict) and multi:
            return cls.from_pairs(
                (str(k), str(v))
                for k, values in multi.items()
                for v in (values or [])
                if v is not None
            )
        return cls.from_pairs(
            (str(k), str(v)) for k, v in (event.get("headers") or {}).items() if v is not None
        )

    def get(self, name: str) -> str | None:
        """The value API Gateway's single-value ``headers`` would hold: the last one sent."""
        found = self.values.get(name.lower())
        return found[-1] if found else None

    def all(self, name: str) -> Sequence[str]:
        return self.values.get(name.lower(), ())

    def joined(self, name: str) -> str | None:
        """Repeats joined as HTTP allows (RFC 9110 §5.3); ``; `` for cookies (RFC 6265 §5.4)."""
        found = self.values.get(name.lower())
        if not found:
            return None
        return ("; " if name.lower() == "cookie" else ", ").join(found)

    def repeated(self, names: Iterable[str]) -> str | None:
        """The first of ``names`` sent more than once, if any."""
        return next((n for n in names if len(self.values.get(n.lower(), ())) > 1), None)


@dataclass(frozen=True, slots=True)
class Request:
    """The parts of a REST proxy event an API reads. ``resource`` is the route API Gateway
    matched (template.yaml is the only route table); ``body`` is the decoded bytes."""

    method: str
    resource: str
    path: str
    path_parameters: Mapping[str, str]
    query: Mapping[str, Sequence[str]]
    headers: Headers
    body: bytes | None
    base_url: str
    source_ip: str
    authorizer: Mapping[str, Any] | None
    request_id: str | None

    @classmethod
    def from_event(cls, event: Mapping[str, Any], configured_base_url: str = "") -> Request:
        headers = Headers.from_event(event)
        context = event.get("requestContext") or {}
        authorizer = context.get("authorizer")
        return cls(
            method=str(event.get("httpMethod") or "").upper(),
            resource=str(event.get("resource") or ""),
            path=str(event.get("path") or ""),
            path_parameters={
                str(k): str(v)
                for k, v in (event.get("pathParameters") or {}).items()
                if v is not None
            },
            query=_query(event),
            headers=headers,
            body=_body(event),
            base_url=base_url(
                event, headers.get("host"), headers.get("x-forwarded-proto"), configured_base_url
            ),
            source_ip=str((context.get("identity") or {}).get("sourceIp") or "unknown"),
            authorizer=authorizer if isinstance(authorizer, Mapping) else None,
            request_id=str(context["requestId"]) if context.get("requestId") else None,
        )

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def query_value(self, name: str) -> str | None:
        """The value API Gateway's single-value ``queryStringParameters`` would hold: the last."""
        found = self.query.get(name)
        return found[-1] if found else None

    def query_values(self) -> dict[str, str]:
        """Every parameter with its last value, as ``queryStringParameters`` has them."""
        return {name: values[-1] for name, values in self.query.items() if values}

    @property
    def query_string(self) -> str:
        """The query string rebuilt from the multi-value form (repeats kept, in order)."""
        return urlencode([(k, v) for k, values in self.query.items() for v in values])

    def text(self) -> str | None:
        """The body as UTF-8 text; None when there is none or it is not UTF-8."""
        if self.body is None:
            return None
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            return None


def _query(event: Mapping[str, Any]) -> dict[str, list[str]]:
    multi = event.get("multiValueQueryStringParameters")
    if isinstance(multi, dict) and multi:
        return {
            str(k): [str(v) for v in values if v is not None]
            for k, values in multi.items()
            if values
        }
    single = event.get("queryStringParameters") or {}
    return {str(k): [str(v)] for k, v in single.items() if v is not None}


def _body(event: Mapping[str, Any]) -> bytes | None:
    raw = event.get("body")
    if raw is None:
        return None
    if not isinstance(raw, str):
        return UNDECODABLE_BODY
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return UNDECODABLE_BODY
    return raw.encode("utf-8", "surrogatepass")


@dataclass(frozen=True, slots=True)
class Reply:
    """What an API answers: the status, the headers in the order sent, the body text."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(
            status, {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})}, json.dumps(payload)
        )

    @classmethod
    def error(cls, error: LucentError, extra_headers: Mapping[str, str] | None = None) -> Reply:
        return cls.json(error.status, error.body(), {**(extra_headers or {}), **error.headers()})

    @classmethod
    def internal_error(cls, extra_headers: Mapping[str, str] | None = None) -> Reply:
        """What a client sees for a bug: a generic JSON 500, never a traceback."""
        return cls.json(500, {"error": INTERNAL_ERROR}, extra_headers)

    def with_headers(self, headers: Mapping[str, str]) -> Reply:
        return Reply(self.status, {**self.headers, **headers}, self.body)

    def to_proxy(self) -> dict[str, Any]:
        """The REST proxy response API Gateway expects."""
        return {"statusCode": self.status, "headers": dict(self.headers), "body": self.body}


def header(event: Mapping[str, Any], name: str) -> str | None:
    """A request header of an authorizer or proxy event, by case-insensitive name, from its
    single-value ``headers`` (what the authorizer reads: a REQUEST authorizer event)."""
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


def preflight_reply() -> Reply:
    return Reply(
        204,
        {
            "Access-Control-Allow-Origin": INGEST_CORS_HEADERS["Access-Control-Allow-Origin"],
            "Access-Control-Allow-Headers": ", ".join(INGEST_ALLOWED_HEADERS),
            "Access-Control-Allow-Methods": ", ".join(INGEST_ALLOWED_METHODS),
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
        },
    )
