"""The authorization server's records: clients, codes, refresh tokens, families, consents.

Plain data. ``Client`` also answers authlib's ``ClientMixin`` questions (duck-typed: authlib
only calls these methods). Every secret is held as its SHA-256 only (``hash_value``); the
plaintext exists in one response and nowhere else.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from lucent.contract import KNOWN_SCOPES
from lucent.oauth.policy import redirect_uri_matches


def wrap_successor(raw_token: str, payload: bytes) -> bytes:
    """``payload`` XOR a key stream drawn from the refresh token it answers (its own inverse).

    Each refresh token wraps one payload, once, so the stream is a one-time pad; it derives from
    the token's value, which the table never holds (only its SHA-256, a different function of
    it): the table alone cannot unwrap a successor, and the one grace retry, which presents the
    token, can (docs/decisions/019-oauth-grants.md)."""
    stream = hashlib.shake_256(b"lucent refresh successor\x00" + raw_token.encode("utf-8"))
    return bytes(a ^ b for a, b in zip(payload, stream.digest(len(payload)), strict=True))


def hash_value(raw: str) -> str:
    """SHA-256 of a code, refresh token, client secret or consent id: each carries >= 190
    random bits, so a fast hash is enough (as for credentials, docs/credentials.md)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    client_name: str
    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    scope: tuple[str, ...]
    created_at: int
    secret_hash: str | None = None
    client_uri: str | None = None
    # When a person first approved it on the consent page: until then the authorization endpoint
    # never redirects an error to it (RFC 9700 section 4.11.2).
    approved_at: int | None = None

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105 - a method name

    # --- authlib ClientMixin ------------------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OAuth 2.1: redirect_uri is always required; no default is ever assumed.
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scope, in the documented order, if every scope in it is known; None
        refuses (``invalid_scope``). No scope requested is refused too: clients must ask for
        what they need.

        Not limited to the scopes the client registered (docs/oauth.md, "Scopes and step-up"):
        MCP clients register with the scope of the first 401 challenge and answer a 403
        ``insufficient_scope`` by authorizing the same registration for a wider scope (the
        Python SDK does, SEP-2350). RFC 7591 §2 calls ``scope`` what the client "can use", not a
        ceiling; the person's consent is, and the consent page shows every requested scope.
        """
        requested = (scope or "").split()
        if not requested or not set(requested) <= set(KNOWN_SCOPES):
            return None
        return " ".join(s for s in KNOWN_SCOPES if s in requested)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(redirect_uri_matches(uri, redirect_uri) for uri in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None:
            return False
        return hmac.compare_digest(self.secret_hash, hash_value(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass(frozen=True, slots=True)
class Person:
    """Who signed in on the consent page, as Cognito says (``sub``, ``custom:org_id``)."""

    subject: str
    username: str
    org_id: str


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    code_hash: str
    client_id: str
    redirect_uri: str
    scope: str
    resource: str
    code_challenge: str
    code_challenge_method: str
    subject: str
    org_id: str
    created_at: int
    expires_at: int
    used_at: int | None = None
    family_id: str | None = None  # the grant it was exchanged for, once used

    # --- authlib AuthorizationCodeMixin ---------------------------------------------------------

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass(frozen=True, slots=True)
class RefreshToken:
    token_hash: str
    family_id: str
    client_id: str
    scope: str
    resource: str
    subject: str
    org_id: str
    created_at: int
    expires_at: int
    rotated_at: int | None = None
    # Once rotated: the successor's hash, and the token response that rotation answered, wrapped
    # under this token's own value (``wrap_successor``); ``replayed_at`` when the one retry the
    # grace allows was answered with it.
    successor_hash: str | None = None
    successor_wrapped: bytes | None = None
    replayed_at: int | None = None

    def get_scope(self) -> str:
        return self.scope

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id


@dataclass(frozen=True, slots=True)
class Family:
    """One grant: the chain of refresh tokens from one consent, and the access tokens issued."""

    family_id: str
    client_id: str
    org_id: str
    subject: str
    created_at: int
    expires_at: int
    access_key_hashes: frozenset[str] = frozenset()
    revoked_at: int | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    """A signed-in person on the consent page, before they approve or deny."""

    consent_hash: str
    csrf_hash: str
    query: str  # the authorization request, as it came, re-validated when they decide
    person: Person
    expires_at: int
