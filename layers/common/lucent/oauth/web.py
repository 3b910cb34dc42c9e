"""The authorization server's HTTP: the request and reply types, forms and cookies read, the
JSON error replies (RFC 6749 section 5.2), the pages' replies, and the one place where an
unavailable dependency becomes a 503 (docs/oauth.md)."""

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

from lucent.contract import OAUTH_AUTHORIZE_PATH
from lucent.errors import ServiceUnavailable
from lucent.oauth import pages

MAX_FORM_BYTES = 16 * 1024
_JSON_HEADERS = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class _Headers(dict[str, str]):
    """Request headers by case-insensitive name (authlib reads ``Authorization`` by that name)."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


@dataclass(frozen=True)
class OAuthRequest:
    method: str
    path: str  # the route: one of the OAUTH_* paths of lucent.contract
    query: str  # the raw query string, as sent
    headers: Mapping[str, str]  # lower-case names
    body: str | None
    source_ip: str
    base_url: str  # the issuer: this API as clients reach it

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def cookie(self, name: str) -> str | None:
        raw = self.header("cookie")
        if not raw:
            return None
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            return None
        morsel = jar.get(name)
        return morsel.value if morsel is not None else None


@dataclass
class HttpReply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> HttpReply:
        return cls(status, {**_JSON_HEADERS, **(headers or {})}, json.dumps(payload))

    @classmethod
    def oauth_error(
        cls, status: int, error: str, description: str, headers: Mapping[str, str] | None = None
    ) -> HttpReply:
        return cls.json(status, {"error": error, "error_description": description}, headers)


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


def form_request(request: OAuthRequest, issuer: str) -> AuthlibRequest | HttpReply:
    """A token or revocation request as authlib reads it, or the reply refusing its form."""
    media_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        return HttpReply.oauth_error(
            400, "invalid_request", "send the parameters as application/x-www-form-urlencoded"
        )
    if len((request.body or "").encode("utf-8")) > MAX_FORM_BYTES:
        return HttpReply.oauth_error(400, "invalid_request", "the request is too large")
    pairs = parse_pairs(request.body)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen and key != "resource":  # duplicated resources: invalid_target
            return HttpReply.oauth_error(
                400, "invalid_request", f"parameter {key[:40]!r} is repeated"
            )
        seen.add(key)
    return AuthlibRequest("POST", issuer + request.path, request.headers, pairs)


def error_of(reply: HttpReply) -> str | None:
    """The ``error`` of an authlib error reply, for the log line; None for a success."""
    if reply.status < 400:
        return None
    try:
        return str(json.loads(reply.body).get("error"))
    except (ValueError, AttributeError):
        return "error"


def page(
    status: int, html: str, form_targets: tuple[str, ...] = (), cookie: str | None = None
) -> HttpReply:
    headers = pages.security_headers(form_targets)
    if cookie is not None:
        headers["Set-Cookie"] = cookie
    return HttpReply(status, headers, html)


def unavailable(path: str, exc: ServiceUnavailable) -> HttpReply:
    """DynamoDB or Cognito failed: nothing was issued; the client may retry. The authorization
    endpoint answers a person (a page), the others a client (JSON)."""
    retry = {"Retry-After": str(exc.retry_after_seconds)}
    if path == OAUTH_AUTHORIZE_PATH:
        reply = page(
            503,
            pages.error_page(
                "Lucent is temporarily unavailable",
                "Please try again in a few seconds.",
                "temporarily_unavailable",
            ),
        )
        reply.headers.update(retry)
        return reply
    return HttpReply.oauth_error(
        503, "temporarily_unavailable", "a dependency is unavailable; retry later", retry
    )
