"""The grants: authlib's grant classes and endpoints bound to our storage, and the issuing of
codes, access tokens and refresh tokens (docs/oauth.md, "Grants").

authlib 1.9 makes the protocol's checks: its ``AuthorizationServer`` dispatches and authenticates
clients (``none``, ``client_secret_basic``, ``client_secret_post``), ``AuthorizationCodeGrant``
validates authorization and token requests (client, exact redirect URI, response type, scope,
state, duplicated parameters), ``CodeChallenge`` checks PKCE verifiers, ``RefreshTokenGrant``
refuses broader scopes, ``RevocationEndpoint`` runs RFC 7009, and its errors serialise as RFC 6749
section 5.2 JSON with ``Cache-Control: no-store``. This module adds what authlib leaves to the
application: storage with single-use conditional writes, S256-only PKCE, RFC 8707 resources, and
refresh rotation with reuse detection.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import AuthorizationServer
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge

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
from lucent.contract import KNOWN_SCOPES
from lucent.errors import ServiceUnavailable
from lucent.http import Reply
from lucent.oauth.models import (
    AuthorizationCode,
    Client,
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
    REFRESH_FAMILY_SECONDS,
    REFRESH_REUSE_GRACE_SECONDS,
    RESPONSE_TYPES,
    TOKEN_ENDPOINT_AUTH_METHODS,
    canonical_scope,
)
from lucent.oauth.store import OAuthStore
from lucent.oauth.web import Outcome

REFRESH_TOKEN_PREFIX = "luc_ort_"  # noqa: S105 - a prefix


# --- the grant being worked on --------------------------------------------------------------------


@dataclass
class Holder:
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


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
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
        self.server.grants.save_code(code, request)

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        return self.server.grants.find_code(code, client)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Kept (marked used) until its TTL, so that a replay is recognised and revokes.
        return None

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Holder:
        return self.server.grants.consume_code(authorization_code)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        _check_token_resource(self.request, self.request.authorization_code.resource)


class _RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = list(TOKEN_ENDPOINT_AUTH_METHODS)  # noqa: RUF012 - authlib reads it from the class
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation on every use (OAuth 2.1 for public clients)
    server: LucentAuthorizationServer

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        return self.server.grants.find_refresh(refresh_token)

    def authenticate_user(self, refresh_token: RefreshToken) -> Holder:
        return self.server.grants.holder_for(refresh_token)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """authlib's, but the rotation is one conditional write made after the successor is
        saved, and a token rotated already gets the one retry's answer or revokes the grant."""
        token: RefreshToken = self.request.refresh_token
        raw = str(self.request.payload.data["refresh_token"])
        service = self.server.grants
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
        return self.server.grants.find_token(token_string)

    def revoke_token(self, token: Any, request: Any) -> None:
        self.server.grants.revoke(token)


class LucentAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's server bound to our request and reply types and to ``Grants``."""

    def __init__(self, grants: Grants, resources: tuple[str, ...]) -> None:
        super().__init__(scopes_supported=list(KNOWN_SCOPES))
        self.grants = grants
        self.resources = resources
        self.register_grant(CodeGrant, [_S256Challenge(required=True), _ResourceIndicator()])
        self.register_grant(_RefreshGrant)
        self.register_endpoint(_Revocation)
        self.register_token_generator("default", grants.generate_token)

    def query_client(self, client_id: str) -> Client | None:
        return self.grants.get_client(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        self.grants.save_token(token, request)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: Any) -> Any:
        return request  # already an OAuth2Request (lucent.oauth.web.AuthlibRequest)

    def handle_response(self, status: int, body: Any, headers: Any) -> Reply:
        out = dict(headers or [])
        text = json.dumps(body) if isinstance(body, dict) else str(body or "")
        return Reply(status, out, text)


# --- codes and tokens -----------------------------------------------------------------------------


class Grants:
    """Clients, codes and tokens over the stores, as the authlib grants ask for them. One per
    request (it holds the resources the request's host decides); cheap to build."""

    def __init__(
        self,
        store: OAuthStore,
        credentials: CredentialStore,
        *,
        resources: tuple[str, ...],
        clock: Callable[[], float] = time.time,
        outcome: Outcome,
    ) -> None:
        self.store = store
        self.credentials = credentials
        self.clock = clock
        self.outcome = outcome
        self.server = LucentAuthorizationServer(self, resources)

    def now(self) -> int:
        return int(self.clock())

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

    def consume_code(self, code: AuthorizationCode) -> Holder:
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
        return Holder(code.org_id, code.subject, code.resource, family_id, code.scope, expires_at)

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

    def holder_for(self, token: RefreshToken) -> Holder:
        self.outcome.org_id = token.org_id
        return Holder(
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
        holder: Holder = request.user
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
        user: Holder | None = None,
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
        holder: Holder = request.user
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
