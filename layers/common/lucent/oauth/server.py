"""The OAuth 2.1 authorization server: one HTTP request in, one HTTP reply out (docs/oauth.md).

authlib 1.9 makes the protocol's checks: its ``AuthorizationServer`` dispatches and authenticates
clients (``none``, ``client_secret_basic``, ``client_secret_post``), ``AuthorizationCodeGrant``
validates authorization and token requests (client, exact redirect URI, response type, scope,
state, duplicated parameters), ``CodeChallenge`` checks PKCE verifiers, ``RefreshTokenGrant``
refuses broader scopes, ``RevocationEndpoint`` runs RFC 7009, and its errors serialise as RFC 6749
section 5.2 JSON with ``Cache-Control: no-store``. This module is the adapter (our request and
reply types) plus what authlib leaves to the application: storage with single-use conditional
writes, S256-only PKCE, RFC 8707 resources, RFC 9207 ``iss`` on every redirect, refresh
rotation with reuse detection, the consent page, and registration (RFC 7591, by our own rules in
``lucent.oauth.policy``; authlib's endpoint would pull joserfc and cryptography into the cold
start for nothing we use).
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge

from lucent import json_body
from lucent.auth.audience import normalize_resource
from lucent.auth.credentials import (
    CredentialKind,
    CredentialRecord,
    IssuedCredential,
    hash_secret,
    issue_credential,
    kind_of,
)
from lucent.auth.store import CredentialStore
from lucent.contract import (
    KNOWN_SCOPES,
    OAUTH_AUTHORIZE_PATH,
    OAUTH_METADATA_PATH,
    OAUTH_REGISTER_PATH,
    OAUTH_REVOKE_PATH,
    OAUTH_TOKEN_PATH,
)
from lucent.errors import ServiceUnavailable
from lucent.oauth import pages
from lucent.oauth.models import (
    AuthorizationCode,
    Client,
    Consent,
    Family,
    Person,
    RefreshToken,
    hash_value,
    wrap_successor,
)
from lucent.oauth.policy import (
    ACCESS_TOKEN_SECONDS,
    CODE_CHALLENGE_METHODS,
    CODE_SECONDS,
    CONSENT_SECONDS,
    GRANT_TYPES,
    MAX_REGISTRATION_BYTES,
    REFRESH_FAMILY_SECONDS,
    REFRESH_REUSE_GRACE_SECONDS,
    RESPONSE_TYPES,
    TOKEN_ENDPOINT_AUTH_METHODS,
    RegistrationError,
    canonical_scope,
    default_resources,
    validate_registration,
)
from lucent.oauth.store import CognitoDirectory, OAuthStore, SignInRefused

REFRESH_TOKEN_PREFIX = "luc_ort_"  # noqa: S105 - a prefix
CLIENT_SECRET_PREFIX = "luc_ocs_"  # noqa: S105 - a prefix
CSRF_COOKIE = "lucent_oauth_csrf"
CSRF_COOKIE_SECONDS = 1800
MAX_FORM_BYTES = 16 * 1024
SIGN_IN_THROTTLED = "Too many sign-in attempts. Wait a minute, then try again."
# Client metadata (RFC 7591) is shallow: jwks, the deepest member, nests four levels.
REGISTRATION_MAX_DEPTH = 8
_JSON_HEADERS = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}


# --- HTTP in and out ------------------------------------------------------------------------------


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


class RegistrationLimit(Protocol):
    def admit(self, source_ip: str) -> int | None:
        """None if admitted; else the seconds to wait."""


class SignInLimit(Protocol):
    def admit(self, source_ip: str, username: str) -> int | None:
        """None if admitted; else the seconds to wait."""


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


class _Request(OAuth2Request):  # type: ignore[misc]
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


# --- the grant being worked on --------------------------------------------------------------------


@dataclass
class _Holder:
    """The "user" authlib passes from grant to token generation: who, for what, which family."""

    org_id: str
    subject: str
    resource: str
    family_id: str
    grant_scope: str  # the scope consented to (a refresh may ask for less, never for more)
    family_expires_at: int
    issued: IssuedCredential | None = None


class InvalidTargetError(OAuth2Error):  # type: ignore[misc]
    """RFC 8707 section 2: the resource is not ours, malformed, or not the one granted."""

    error = "invalid_target"


# --- authlib grants and endpoints -----------------------------------------------------------------


class _S256Challenge(CodeChallenge):  # type: ignore[misc]
    """PKCE required on every authorization request, S256 only (OAuth 2.1, MCP)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = list(CODE_CHALLENGE_METHODS)  # noqa: RUF012 - authlib reads it from the class

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


def _validate_resource(grant: Any, redirect_uri: str) -> None:
    """The authorization request names exactly one of our resources (RFC 8707)."""
    values = grant.request.payload.datalist.get("resource", [])
    server: LucentAuthorizationServer = grant.server
    if len(values) != 1:
        raise InvalidTargetError("exactly one resource is required (RFC 8707)")
    if "#" in values[0] or normalize_resource(values[0]) not in server.resources:
        # RFC 8707 §2: a resource MUST NOT include a fragment (normalizing would drop it).
        raise InvalidTargetError("resource is not served by this authorization server")


class _ResourceIndicator:
    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_validate_authorization_request_payload", _validate_resource)


def _check_token_resource(request: Any, granted: str) -> None:
    """A token request may repeat the resource; it must then be the one granted."""
    values = request.payload.datalist.get("resource", [])
    if len(values) > 1:
        raise InvalidTargetError("at most one resource per token request")
    if values and normalize_resource(values[0]) != granted:
        raise InvalidTargetError("resource differs from the one granted")


class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = list(TOKEN_ENDPOINT_AUTH_METHODS)  # noqa: RUF012 - authlib reads it from the class
    RESPONSE_TYPES = set(RESPONSE_TYPES)  # noqa: RUF012 - authlib reads it from the class
    server: LucentAuthorizationServer

    @staticmethod
    def validate_authorization_redirect_uri(request: Any, client: Client) -> str:
        # authlib's own message quotes the URI, which may hold characters an error_description
        # must not; and OAuth 2.1 always requires redirect_uri.
        uri = request.payload.redirect_uri
        if not uri:
            raise InvalidRequestError("redirect_uri is required")
        if not client.check_redirect_uri(uri):
            raise InvalidRequestError("redirect_uri is not registered for this client")
        return str(uri)

    def save_authorization_code(self, code: str, request: Any) -> None:
        self.server.service.save_code(code, request)

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        return self.server.service.find_code(code, client)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Kept (marked used) until its TTL, so that a replay is recognised and revokes.
        return None

    def authenticate_user(self, authorization_code: AuthorizationCode) -> _Holder:
        return self.server.service.consume_code(authorization_code)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        _check_token_resource(self.request, self.request.authorization_code.resource)


class _RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = list(TOKEN_ENDPOINT_AUTH_METHODS)  # noqa: RUF012 - authlib reads it from the class
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation on every use (OAuth 2.1 for public clients)
    server: LucentAuthorizationServer

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        return self.server.service.find_refresh(refresh_token)

    def authenticate_user(self, refresh_token: RefreshToken) -> _Holder:
        return self.server.service.holder_for(refresh_token)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """authlib's, but the rotation is one conditional write made after the successor is
        saved, and a token rotated already gets the one retry's answer or revokes the grant."""
        token: RefreshToken = self.request.refresh_token
        raw = str(self.request.payload.data["refresh_token"])
        service = self.server.service
        if token.rotated_at is None:
            user = self.authenticate_user(token)
            issued: dict[str, Any] = self.issue_token(user, token)
            self.request.user = user
            if service.rotate_refresh(token, raw, issued, self.request):
                return 200, issued, self.TOKEN_RESPONSE_HEADER
        return 200, service.replay_refresh(token, raw), self.TOKEN_RESPONSE_HEADER

    def validate_token_request(self) -> None:
        super().validate_token_request()
        _check_token_resource(self.request, self.request.refresh_token.resource)


@dataclass(frozen=True)
class _AccessTokenRef:
    key_hash: str
    record: CredentialRecord

    def check_client(self, client: Client) -> bool:
        return self.record.client_id == client.client_id


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = list(TOKEN_ENDPOINT_AUTH_METHODS)  # noqa: RUF012 - authlib reads it from the class
    server: LucentAuthorizationServer

    def authenticate_token(self, request: Any, client: Client) -> Any:
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        # Another client's token, or one we never issued: answered 200 all the same (RFC 7009
        # section 2.2) and nothing is revoked.
        if token is None or not token.check_client(client):
            return None
        return token

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return self.server.service.find_token(token_string)

    def revoke_token(self, token: Any, request: Any) -> None:
        self.server.service.revoke(token)


class LucentAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's server bound to our request and reply types and to ``OAuthService``."""

    def __init__(self, service: OAuthService, resources: tuple[str, ...]) -> None:
        super().__init__(scopes_supported=list(KNOWN_SCOPES))
        self.service = service
        self.resources = resources
        self.register_grant(_CodeGrant, [_S256Challenge(required=True), _ResourceIndicator()])
        self.register_grant(_RefreshGrant)
        self.register_endpoint(_Revocation)
        self.register_token_generator("default", service.generate_token)

    def query_client(self, client_id: str) -> Client | None:
        return self.service.get_client(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        self.service.save_token(token, request)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: Any) -> Any:
        return request  # built by OAuthService, already an OAuth2Request

    def handle_response(self, status: int, body: Any, headers: Any) -> HttpReply:
        out = dict(headers or [])
        text = json.dumps(body) if isinstance(body, dict) else str(body or "")
        return HttpReply(status, out, text)


# --- the service ----------------------------------------------------------------------------------


class OAuthService:
    """Everything the endpoints do, over the stores. One per request (it holds the issuer and
    resources the request's host decides); cheap to build."""

    def __init__(
        self,
        store: OAuthStore,
        credentials: CredentialStore,
        directory: CognitoDirectory,
        *,
        issuer: str,
        resources: tuple[str, ...] = (),
        registration_limit: RegistrationLimit | None = None,
        sign_in_limit: SignInLimit | None = None,
        clock: Callable[[], float] = time.time,
        outcome: Outcome | None = None,
    ) -> None:
        self.store = store
        self.credentials = credentials
        self.directory = directory
        self.issuer = issuer.rstrip("/")
        self.resources = tuple(
            normalize_resource(r) for r in (resources or default_resources(self.issuer))
        )
        self.registration_limit = registration_limit
        self.sign_in_limit = sign_in_limit
        self.clock = clock
        self.outcome = outcome if outcome is not None else Outcome()
        self.server = LucentAuthorizationServer(self, self.resources)
        self._secure = self.issuer.startswith("https://")

    def now(self) -> int:
        return int(self.clock())

    # --- dispatch -----------------------------------------------------------------------------

    def handle(self, request: OAuthRequest) -> HttpReply:
        routes: dict[str, tuple[tuple[str, ...], Callable[[OAuthRequest], HttpReply]]] = {
            OAUTH_METADATA_PATH: (("GET",), self.metadata),
            OAUTH_REGISTER_PATH: (("POST",), self.register),
            OAUTH_AUTHORIZE_PATH: (("GET", "POST"), self.authorize),
            OAUTH_TOKEN_PATH: (("POST",), self.token),
            OAUTH_REVOKE_PATH: (("POST",), self.revoke_endpoint),
        }
        self.outcome.endpoint = request.path
        route = routes.get(request.path)
        if route is None:
            return HttpReply.json(404, {"error": "Not found"})
        methods, handler = route
        if request.method not in methods:
            self.outcome.error = "method_not_allowed"
            return HttpReply.json(
                405, {"error": "Method not allowed"}, {"Allow": ", ".join(methods)}
            )
        try:
            return handler(request)
        except ServiceUnavailable as exc:
            # DynamoDB or Cognito failed: nothing was issued; the client may retry.
            self.outcome.error = "temporarily_unavailable"
            retry = {"Retry-After": str(exc.retry_after_seconds)}
            if request.path == OAUTH_AUTHORIZE_PATH:
                reply = self._page(
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

    # --- RFC 8414 metadata --------------------------------------------------------------------

    def metadata_document(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + OAUTH_AUTHORIZE_PATH,
            "token_endpoint": self.issuer + OAUTH_TOKEN_PATH,
            "registration_endpoint": self.issuer + OAUTH_REGISTER_PATH,
            "revocation_endpoint": self.issuer + OAUTH_REVOKE_PATH,
            "scopes_supported": list(KNOWN_SCOPES),
            "response_types_supported": list(RESPONSE_TYPES),
            "response_modes_supported": ["query"],
            "grant_types_supported": list(GRANT_TYPES),
            "code_challenge_methods_supported": list(CODE_CHALLENGE_METHODS),
            "token_endpoint_auth_methods_supported": list(TOKEN_ENDPOINT_AUTH_METHODS),
            "revocation_endpoint_auth_methods_supported": list(TOKEN_ENDPOINT_AUTH_METHODS),
            "authorization_response_iss_parameter_supported": True,
            "service_documentation": "https://docs.lucenthq.com/mcp",
        }

    def metadata(self, request: OAuthRequest) -> HttpReply:
        # Public and the same for everyone: caches may keep it for an hour.
        return HttpReply(
            200,
            {"Content-Type": "application/json", "Cache-Control": "public, max-age=3600"},
            json.dumps(self.metadata_document()),
        )

    # --- RFC 7591 registration ----------------------------------------------------------------

    def register(self, request: OAuthRequest) -> HttpReply:
        body = request.body or ""
        if len(body.encode("utf-8")) > MAX_REGISTRATION_BYTES:
            self.outcome.error = "too_large"
            return HttpReply.oauth_error(
                413,
                "invalid_client_metadata",
                f"client metadata is limited to {MAX_REGISTRATION_BYTES} bytes",
            )
        if self.registration_limit is not None:
            wait = self.registration_limit.admit(request.source_ip)
            if wait is not None:
                self.outcome.error = "rate_limited"
                return HttpReply.oauth_error(
                    429,
                    "rate_limited",
                    "too many registrations from this address; retry later",
                    {"Retry-After": str(wait)},
                )
        media_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            self.outcome.error = "invalid_client_metadata"
            return HttpReply.oauth_error(
                400, "invalid_client_metadata", "send the client metadata as application/json"
            )
        try:
            # The strict reader, as for every API's body: no duplicate keys, NaN or deep nesting.
            document = json_body.loads(body, max_depth=REGISTRATION_MAX_DEPTH)
        except json_body.InvalidJson:
            self.outcome.error = "invalid_client_metadata"
            return HttpReply.oauth_error(400, "invalid_client_metadata", "the body is not JSON")
        try:
            metadata = validate_registration(document)
        except RegistrationError as exc:
            self.outcome.error = exc.error
            return HttpReply.oauth_error(400, exc.error, exc.description)

        now = self.now()
        client_id = "lcl_" + secrets.token_urlsafe(18)
        secret = None
        if metadata.token_endpoint_auth_method != "none":  # noqa: S105 - a method name
            secret = CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32)
        client = Client(
            client_id=client_id,
            client_name=metadata.client_name,
            redirect_uris=metadata.redirect_uris,
            token_endpoint_auth_method=metadata.token_endpoint_auth_method,
            grant_types=metadata.grant_types,
            scope=metadata.scope,
            created_at=now,
            secret_hash=hash_value(secret) if secret else None,
            client_uri=metadata.client_uri,
        )
        self.store.put_client(client)
        self.outcome.client_id = client_id
        answer: dict[str, Any] = {
            "client_id": client_id,
            "client_id_issued_at": now,
            **metadata.document(),
        }
        if secret:
            answer["client_secret"] = secret
            answer["client_secret_expires_at"] = 0
        return HttpReply.json(201, answer)

    # --- clients, codes, tokens (called by the authlib grants) --------------------------------

    def get_client(self, client_id: str) -> Client | None:
        if not isinstance(client_id, str) or not client_id.startswith("lcl_"):
            return None
        if len(client_id) > 64:
            return None
        return self.store.get_client(client_id, self.now())

    def save_code(self, code: str, request: Any) -> None:
        person: Person = request.user
        data = request.payload.data
        now = self.now()
        self.store.put_code(
            AuthorizationCode(
                code_hash=hash_value(code),
                client_id=request.client.client_id,
                redirect_uri=data["redirect_uri"],
                scope=canonical_scope(str(request.scope).split()),
                resource=normalize_resource(data["resource"]),
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                subject=person.subject,
                org_id=person.org_id,
                created_at=now,
                expires_at=now + CODE_SECONDS,
            )
        )
        # Only an approval issues a code: the client is now one a person vouched for.
        self.store.approve_client(request.client.client_id, person.subject, now)

    def find_code(self, code: str, client: Client) -> AuthorizationCode | None:
        if not isinstance(code, str) or not 20 <= len(code) <= 128:
            return None
        found = self.store.get_code(hash_value(code))
        if found is None:
            return None
        if found.used_at is not None:
            # RFC 6749 section 4.1.2: a code used twice is refused and what it issued revoked.
            self.outcome.notes.append("code_replay")
            if found.family_id:
                self.revoke_family(found.family_id)
            return None
        if found.client_id != client.client_id or found.expires_at <= self.now():
            return None
        return found

    def consume_code(self, code: AuthorizationCode) -> _Holder:
        """Use the code once (a conditional write), and open the grant's refresh family."""
        now = self.now()
        family_id = "fam_" + secrets.token_urlsafe(16)
        if not self.store.consume_code(code.code_hash, family_id, now):
            # Raced by another exchange of the same code (or it expired meanwhile).
            again = self.store.get_code(code.code_hash)
            if again is not None and again.family_id:
                self.outcome.notes.append("code_replay")
                self.revoke_family(again.family_id)
            raise InvalidGrantError("the code is invalid, expired or used")
        expires_at = now + REFRESH_FAMILY_SECONDS
        self.store.create_family(
            Family(family_id, code.client_id, code.org_id, code.subject, now, expires_at)
        )
        self.outcome.org_id = code.org_id
        return _Holder(code.org_id, code.subject, code.resource, family_id, code.scope, expires_at)

    def find_refresh(self, raw: str) -> RefreshToken | None:
        if not isinstance(raw, str) or not raw.startswith(REFRESH_TOKEN_PREFIX):
            return None
        if len(raw) > 128:
            return None
        token = self.store.get_refresh(hash_value(raw))
        if token is None:
            return None
        now = self.now()
        family = self.store.get_family(token.family_id)
        if family is None or family.revoked_at is not None or token.expires_at <= now:
            return None
        if token.rotated_at is not None and now - token.rotated_at > REFRESH_REUSE_GRACE_SECONDS:
            # A rotated token, used again after the grace: it leaked. End the whole grant.
            self.outcome.notes.append("refresh_reuse")
            self.revoke_family(token.family_id)
            return None
        return token

    def holder_for(self, token: RefreshToken) -> _Holder:
        self.outcome.org_id = token.org_id
        return _Holder(
            token.org_id,
            token.subject,
            token.resource,
            token.family_id,
            token.scope,
            token.expires_at,
        )

    def rotate_refresh(
        self, token: RefreshToken, raw: str, issued: dict[str, Any], request: Any
    ) -> bool:
        """Save the successor pair, then rotate ``token`` to it in one conditional write that
        also keeps the response, wrapped, for the one retry. False when another request rotated
        it first: what this one saved is undone (it was never answered)."""
        self.save_token(issued, request)
        successor_hash = hash_value(issued["refresh_token"])
        answer = {k: issued[k] for k in ("access_token", "refresh_token", "scope", "token_type")}
        wrapped = wrap_successor(raw, json.dumps(answer, sort_keys=True).encode("utf-8"))
        if self.store.rotate_refresh(token.token_hash, self.now(), successor_hash, wrapped):
            return True
        holder: _Holder = request.user
        assert holder.issued is not None
        self.credentials.revoke(holder.issued.key_hash, self.now())
        self.store.delete_refresh(successor_hash)
        return False

    def replay_refresh(self, token: RefreshToken, raw: str) -> dict[str, Any]:
        """A rotated token presented again within the grace: the first such request gets the
        response its rotation gave (the same refresh and access tokens), provided the successor
        is unused; any other revokes the whole grant."""
        now = self.now()
        claimed = self.store.claim_replay(token.token_hash, now, REFRESH_REUSE_GRACE_SECONDS)
        successor = None
        if claimed is not None and claimed.successor_hash:
            successor = self.store.get_refresh(claimed.successor_hash)
        if (
            claimed is None
            or claimed.successor_wrapped is None
            or claimed.rotated_at is None
            or successor is None
            or successor.rotated_at is not None
        ):
            self.outcome.notes.append("refresh_reuse")
            self.revoke_family(token.family_id)
            raise InvalidGrantError()
        answer: dict[str, Any] = json.loads(wrap_successor(raw, claimed.successor_wrapped))
        if hash_value(answer["refresh_token"]) != claimed.successor_hash:
            raise ServiceUnavailable()  # the stored answer is damaged; nothing was issued
        answer["expires_in"] = max(0, ACCESS_TOKEN_SECONDS - (now - claimed.rotated_at))
        self.outcome.notes.append("refresh_retry")
        self.outcome.org_id = token.org_id
        self.outcome.client_id = token.client_id
        return answer

    def generate_token(  # noqa: PLR0917 - authlib's generator signature
        self,
        grant_type: str,
        client: Client,
        user: _Holder | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        assert user is not None  # both grants authenticate a user first
        granted = canonical_scope((scope or user.grant_scope).split())
        issued = issue_credential(
            CredentialKind.OAUTH,
            user.org_id,
            scopes=granted.split(),
            expires_in=ACCESS_TOKEN_SECONDS,
            label=f"OAuth: {client.client_name}"[:120],
            now=self.now(),
            client_id=client.client_id,
            resource=user.resource,
            family_id=user.family_id,
        )
        user.issued = issued
        token: dict[str, Any] = {
            "access_token": issued.secret,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "scope": granted,
        }
        if include_refresh_token:
            token["refresh_token"] = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)
        return token

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        holder: _Holder = request.user
        client: Client = request.client
        assert holder.issued is not None
        self.credentials.put(holder.issued)
        if not self.store.add_access_token(holder.family_id, holder.issued.key_hash):
            # The family was revoked while this request ran: the token must not outlive it.
            self.credentials.revoke(holder.issued.key_hash, self.now())
            raise InvalidGrantError("the grant was revoked")
        refresh = token.get("refresh_token")
        if refresh:
            self.store.put_refresh(
                RefreshToken(
                    token_hash=hash_value(refresh),
                    family_id=holder.family_id,
                    client_id=client.client_id,
                    scope=holder.grant_scope,
                    resource=holder.resource,
                    subject=holder.subject,
                    org_id=holder.org_id,
                    created_at=self.now(),
                    expires_at=holder.family_expires_at,
                )
            )
        self.outcome.client_id = client.client_id

    def revoke_family(self, family_id: str) -> None:
        now = self.now()
        family = self.store.revoke_family(family_id, now)
        if family is None:
            return
        for key_hash in sorted(family.access_key_hashes):
            self.credentials.revoke(key_hash, now)

    def find_token(self, raw: str) -> Any:
        if not isinstance(raw, str):
            return None
        if raw.startswith(REFRESH_TOKEN_PREFIX) and len(raw) <= 128:
            return self.store.get_refresh(hash_value(raw))
        if kind_of(raw) is CredentialKind.OAUTH:
            key_hash = hash_secret(raw)
            record = self.credentials.get(key_hash)
            if record is not None and record.client_id is not None:
                return _AccessTokenRef(key_hash, record)
        return None

    def revoke(self, token: Any) -> None:
        if isinstance(token, RefreshToken):
            # RFC 7009 section 2.1: revoking a refresh token ends the grant's access tokens too.
            self.revoke_family(token.family_id)
        elif isinstance(token, _AccessTokenRef):
            self.credentials.revoke(token.key_hash, self.now())

    # --- token and revocation endpoints -------------------------------------------------------

    def _form_request(self, request: OAuthRequest) -> _Request | HttpReply:
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
        return _Request("POST", self.issuer + request.path, request.headers, pairs)

    def token(self, request: OAuthRequest) -> HttpReply:
        built = self._form_request(request)
        if isinstance(built, HttpReply):
            self.outcome.error = "invalid_request"
            return built
        reply: HttpReply = self.server.create_token_response(built)
        reply.headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
        self._note_error(reply)
        return reply

    def revoke_endpoint(self, request: OAuthRequest) -> HttpReply:
        built = self._form_request(request)
        if isinstance(built, HttpReply):
            self.outcome.error = "invalid_request"
            return built
        reply: HttpReply = self.server.create_endpoint_response("revocation", built)
        reply.headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
        if reply.status == 200:
            reply.body = ""
            reply.headers.pop("Content-Type", None)
        self._note_error(reply)
        return reply

    def _note_error(self, reply: HttpReply) -> None:
        if reply.status >= 400:
            try:
                self.outcome.error = str(json.loads(reply.body).get("error"))
            except (ValueError, AttributeError):
                self.outcome.error = "error"

    # --- authorization endpoint ---------------------------------------------------------------

    def _redirect(self, location: str) -> HttpReply:
        # RFC 9207: every authorization response, success or error, names its issuer.
        return HttpReply(
            302,
            {"Location": add_params_to_uri(location, [("iss", self.issuer)]), **_NO_STORE},
        )

    def _page(
        self, status: int, html: str, form_targets: tuple[str, ...] = (), cookie: str | None = None
    ) -> HttpReply:
        headers = pages.security_headers(form_targets)
        if cookie is not None:
            headers["Set-Cookie"] = cookie
        return HttpReply(status, headers, html)

    def _error_page(self, status: int, title: str, message: str, error: str) -> HttpReply:
        self.outcome.error = error
        return self._page(status, pages.error_page(title, message, error))

    def _csrf_cookie_name(self) -> str:
        # __Host-: only this exact host may set it, over https, for path / (no sibling domain
        # can plant a value). Plain http (the local API) cannot use the prefix.
        return ("__Host-" if self._secure else "") + CSRF_COOKIE

    def _csrf_cookie(self, value: str) -> str:
        parts = [
            f"{self._csrf_cookie_name()}={value}",
            "Path=/",
            f"Max-Age={CSRF_COOKIE_SECONDS}",
            "HttpOnly",
            "SameSite=Strict",
        ]
        if self._secure:
            parts.append("Secure")
        return "; ".join(parts)

    def _grant_for(self, query: str) -> tuple[_CodeGrant, str] | HttpReply:
        """Validate an authorization request: its grant and redirect URI, or the reply that
        refuses it. A redirect with the error only when the client and redirect URI are known
        (RFC 6749 section 4.1.2.1) and a person has approved that client (RFC 9700 section
        4.11.2: anyone can register a redirect URI, and an unapproved one would make this
        endpoint an open redirector); an error page otherwise."""
        pairs = parse_pairs(query)
        request = _Request("GET", self.issuer + OAUTH_AUTHORIZE_PATH, {}, pairs)
        try:
            grant = self.server.get_consent_grant(request)
        except OAuth2Error as error:
            self.outcome.error = error.error
            if error.redirect_uri and self._approved(request):
                location = add_params_to_uri(error.redirect_uri, error.get_body())
                return self._redirect(location)
            description = error.description or "The request is not valid."
            if isinstance(error, InvalidClientError):
                title, description = "Unknown application", "This application is not registered."
            else:
                title = "This authorization request cannot be used"
            return self._error_page(400, title, description, error.error)
        except ValueError:
            # authlib refuses to build an error description from some inputs (quotes,
            # backslashes): the request is malformed all the same.
            return self._error_page(
                400,
                "This authorization request cannot be used",
                "The request is malformed.",
                "invalid_request",
            )
        self.outcome.client_id = grant.request.client.client_id
        return grant, str(grant.redirect_uri)

    def _approved(self, request: _Request) -> bool:
        """Whether a person has approved the request's client. authlib has set ``client``
        unless it refused the response type first (having checked the redirect URI against the
        client all the same)."""
        client = getattr(request, "client", None)
        if not isinstance(client, Client):
            client = self.get_client(request.payload.client_id or "")
        return client is not None and client.approved_at is not None

    def authorize(self, request: OAuthRequest) -> HttpReply:
        if request.method == "GET":
            return self._authorize_page(request)
        return self._authorize_decision(request)

    def _action(self) -> str:
        """Where the pages' forms post: this endpoint, under the issuer's path (a stage)."""
        return urlsplit(self.issuer).path + OAUTH_AUTHORIZE_PATH

    def _authorize_page(self, request: OAuthRequest) -> HttpReply:
        found = self._grant_for(request.query)
        if isinstance(found, HttpReply):
            return found
        grant, redirect_uri = found
        csrf = request.cookie(self._csrf_cookie_name())
        if not csrf or len(csrf) != 43:
            csrf = secrets.token_urlsafe(32)
        html = pages.sign_in_page(
            action=self._action(),
            client_name=grant.request.client.client_name,
            redirect_uri=redirect_uri,
            scopes=str(grant.request.scope).split(),
            request_query=request.query,
            csrf_token=csrf,
        )
        return self._page(200, html, (redirect_uri,), self._csrf_cookie(csrf))

    def _authorize_decision(self, request: OAuthRequest) -> HttpReply:  # noqa: PLR0911 - one exit per refusal
        media_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
        body = request.body or ""
        if media_type != "application/x-www-form-urlencoded" or len(body) > MAX_FORM_BYTES:
            return self._error_page(
                400,
                "This form cannot be used",
                "The form was not sent as a form.",
                "invalid_request",
            )
        form = dict(parse_pairs(body))
        cookie = request.cookie(self._csrf_cookie_name())
        token = form.get("csrf_token", "")
        if not cookie or not token or not hmac.compare_digest(cookie, token):
            return self._error_page(
                403,
                "This form has expired",
                "The form did not come from this page, or it has expired. Go back to the "
                "application and start again.",
                "csrf",
            )
        action = form.get("action")
        if "consent" in form:
            return self._decide(form, token, action)
        query = form.get("request", "")
        found = self._grant_for(query)
        if isinstance(found, HttpReply):
            return found
        grant, redirect_uri = found
        if action == "deny":
            return self._deny(grant, redirect_uri)
        if action != "sign_in":
            return self._error_page(
                400, "Unknown action", "Choose sign in or cancel.", "invalid_request"
            )
        username = form.get("username", "").strip()[:256]
        password = form.get("password", "")[:256]
        if self.sign_in_limit is not None:
            wait = self.sign_in_limit.admit(request.source_ip, username)
            if wait is not None:
                self.outcome.error = "sign_in_throttled"
                reply = self._sign_in_again(grant, redirect_uri, query, username, SIGN_IN_THROTTLED)
                reply.status = 429
                reply.headers["Retry-After"] = str(wait)
                return reply
        try:
            person = self.directory.sign_in(username, password)
        except SignInRefused as exc:
            self.outcome.error = "sign_in_refused"
            return self._sign_in_again(grant, redirect_uri, query, username, str(exc))
        consent_id = secrets.token_urlsafe(32)
        self.store.put_consent(
            Consent(
                consent_hash=hash_value(consent_id),
                csrf_hash=hash_value(token),
                query=query,
                person=person,
                expires_at=self.now() + CONSENT_SECONDS,
            )
        )
        self.outcome.org_id = person.org_id
        html = pages.consent_page(
            action=self._action(),
            client_name=grant.request.client.client_name,
            redirect_uri=redirect_uri,
            scopes=str(grant.request.scope).split(),
            org_id=person.org_id,
            username=person.username,
            consent_id=consent_id,
            csrf_token=token,
        )
        return self._page(200, html, (redirect_uri,))

    def _sign_in_again(
        self, grant: _CodeGrant, redirect_uri: str, query: str, username: str, error: str
    ) -> HttpReply:
        """The sign-in page again (401) with ``error``, under a new CSRF token: a form that
        failed is never posted twice."""
        csrf = secrets.token_urlsafe(32)
        html = pages.sign_in_page(
            action=self._action(),
            client_name=grant.request.client.client_name,
            redirect_uri=redirect_uri,
            scopes=str(grant.request.scope).split(),
            request_query=query,
            csrf_token=csrf,
            username=username,
            error=error,
        )
        return self._page(401, html, (redirect_uri,), self._csrf_cookie(csrf))

    def _decide(self, form: Mapping[str, str], csrf_token: str, action: str | None) -> HttpReply:
        if action not in ("approve", "deny"):
            return self._error_page(
                400, "Unknown action", "Choose allow or deny.", "invalid_request"
            )
        consent = self.store.take_consent(
            hash_value(form.get("consent", "")), hash_value(csrf_token), self.now()
        )
        if consent is None:
            return self._error_page(
                403,
                "This consent has expired",
                "It was already answered, belongs to another browser, or is too old. Go back "
                "to the application and start again.",
                "consent_expired",
            )
        found = self._grant_for(consent.query)
        if isinstance(found, HttpReply):
            return found
        grant, redirect_uri = found
        if action == "deny":
            return self._deny(grant, redirect_uri)
        self.outcome.org_id = consent.person.org_id
        status, _, headers = grant.create_authorization_response(redirect_uri, consent.person)
        location = dict(headers)["Location"]
        assert status == 302
        return self._redirect(location)

    def _deny(self, grant: _CodeGrant, redirect_uri: str) -> HttpReply:
        self.outcome.error = "access_denied"
        error = AccessDeniedError(redirect_uri=redirect_uri, state=grant.request.payload.state)
        return self._redirect(add_params_to_uri(redirect_uri, error.get_body()))


_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
