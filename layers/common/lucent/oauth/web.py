"""The authorization server's HTTP, over the one edge (``lucent.http.Request`` and ``Reply``):
forms and cookies read, the request as authlib reads it, the JSON replies (never cached) and
their RFC 6749 section 5.2 errors, the pages' replies, and the one place where an unavailable
dependency becomes a 503 (docs/oauth.md)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import OAuth2Payload

from lucent import json_body
from lucent.contract import (
    OAUTH_AUTHORIZE_PATH,
    OAUTH_METADATA_PATH,
    OAUTH_REGISTER_PATH,
    OAUTH_REVOKE_PATH,
    OAUTH_TOKEN_PATH,
)
from lucent.errors import ServiceUnavailable
from lucent.http import Reply, Request
from lucent.oauth import pages

MAX_FORM_BYTES = 16 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
ROUTES = frozenset(
    {
        OAUTH_METADATA_PATH,
        OAUTH_AUTHORIZE_PATH,
        OAUTH_TOKEN_PATH,
        OAUTH_REGISTER_PATH,
        OAUTH_REVOKE_PATH,
    }
)


class _Headers(dict[str, str]):
    """Request headers by case-insensitive name (authlib reads ``Authorization`` by that name)."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


def json_reply(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
    """A JSON answer of the authorization server: never cached (RFC 6749 section 5.1)."""
    return Reply.json(status, payload, {**NO_STORE, **(headers or {})})


def oauth_error(
    status: int, error: str, description: str, headers: Mapping[str, str] | None = None
) -> Reply:
    """An RFC 6749 section 5.2 (RFC 7591 section 3.2.2) error."""
    return json_reply(status, {"error": error, "error_description": description}, headers)


def route(request: Request) -> str:
    """The endpoint: the resource API Gateway matched, else the path (the local API)."""
    return request.resource if request.resource in ROUTES else request.path


def body_text(request: Request) -> str | None:
    """The body as text; a body that is not UTF-8 reads as NUL, which no form or JSON reader
    accepts (as an undecodable body does in ``lucent.http``)."""
    text = request.text()
    if text is None and request.body is not None:
        return "\x00"
    return text


def media_type(request: Request) -> str | None:
    return json_body.media_type(request.headers.joined("content-type"))


def cookie(request: Request, name: str) -> str | None:
    raw = request.headers.joined("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def authlib_headers(request: Request) -> dict[str, str]:
    """Every header once, repeats joined (what authlib reads ``Authorization`` from)."""
    return {name: request.headers.joined(name) or "" for name in request.headers.values}


@dataclass
class Outcome:
    """What happened, for the handler's one log line (never a secret)."""

    endpoint: str = ""
    client_id: str | None = None
    org_id: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def parse_pairs(text: str | None) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text or "", keep_blank_values=True, strict_parsing=False)
    except ValueError:
        return []


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._list: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._list[key].append(value)
        self._data = {key: values[0] for key, values in self._list.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._list


class AuthlibRequest(OAuth2Request):  # type: ignore[misc]
    """authlib's view of our request: ``args`` for the authorization endpoint, ``form`` for the
    token and revocation endpoints, and one of them as the payload."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        pairs: list[tuple[str, str]],
    ) -> None:
        super().__init__(method, uri, headers=_Headers(headers))
        self.payload = _Payload(pairs)

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data


def form_request(request: Request, issuer: str) -> AuthlibRequest | Reply:
    """A token or revocation request as authlib reads it, or the reply refusing its form."""
    if media_type(request) != "application/x-www-form-urlencoded":
        return oauth_error(
            400, "invalid_request", "send the parameters as application/x-www-form-urlencoded"
        )
    body = body_text(request)
    if len((body or "").encode("utf-8")) > MAX_FORM_BYTES:
        return oauth_error(400, "invalid_request", "the request is too large")
    pairs = parse_pairs(body)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen and key != "resource":  # duplicated resources: invalid_target
            return oauth_error(400, "invalid_request", f"parameter {key[:40]!r} is repeated")
        seen.add(key)
    return AuthlibRequest("POST", issuer + route(request), authlib_headers(request), pairs)


def error_of(reply: Reply) -> str | None:
    """The ``error`` of an authlib error reply, for the log line; None for a success."""
    if reply.status < 400:
        return None
    try:
        return str(json.loads(reply.body).get("error"))
    except (ValueError, AttributeError):
        return "error"


def page(
    status: int, html: str, form_targets: tuple[str, ...] = (), set_cookie: str | None = None
) -> Reply:
    headers = pages.security_headers(form_targets)
    if set_cookie is not None:
        headers["Set-Cookie"] = set_cookie
    return Reply(status, headers, html)


def unavailable(path: str, exc: ServiceUnavailable) -> Reply:
    """DynamoDB or Cognito failed: nothing was issued; the client may retry. The authorization
    endpoint answers a person (a page), the others a client (JSON)."""
    retry = {"Retry-After": str(exc.retry_after_seconds)}
    if path == OAUTH_AUTHORIZE_PATH:
        return page(
            503,
            pages.error_page(
                "Lucent is temporarily unavailable",
                "Please try again in a few seconds.",
                "temporarily_unavailable",
            ),
        ).with_headers(retry)
    return oauth_error(
        503, "temporarily_unavailable", "a dependency is unavailable; retry later", retry
    )
