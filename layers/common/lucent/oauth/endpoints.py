"""The authorization server's endpoints: one request in, one reply out (docs/oauth.md).

``OAuthService.handle`` routes the five endpoints: RFC 8414 metadata, RFC 7591 registration (by
our own rules in ``lucent.oauth.policy``; authlib's endpoint would pull joserfc and cryptography
into the cold start for nothing we use), the token and revocation endpoints (authlib, through
``lucent.oauth.grants``), and the authorization endpoint (``lucent.oauth.consent``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

from lucent import json_body
from lucent.auth.audience import normalize_resource
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
from lucent.http import Reply, Request
from lucent.oauth.consent import ConsentFlow, SignInLimit
from lucent.oauth.grants import Grants
from lucent.oauth.models import Client, hash_value
from lucent.oauth.policy import (
    CODE_CHALLENGE_METHODS,
    GRANT_TYPES,
    MAX_REGISTRATION_BYTES,
    RESPONSE_TYPES,
    TOKEN_ENDPOINT_AUTH_METHODS,
    RegistrationError,
    default_resources,
    validate_registration,
)
from lucent.oauth.store import CognitoDirectory, OAuthStore
from lucent.oauth.web import (
    NO_STORE,
    Outcome,
    body_text,
    error_of,
    form_request,
    json_reply,
    media_type,
    oauth_error,
    route,
    unavailable,
)

CLIENT_SECRET_PREFIX = "luc_ocs_"  # noqa: S105 - a prefix
# Client metadata (RFC 7591) is shallow: jwks, the deepest member, nests four levels.
REGISTRATION_MAX_DEPTH = 8


class RegistrationLimit(Protocol):
    def admit(self, source_ip: str) -> int | None:
        """None if admitted; else the seconds to wait."""


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
        self.issuer = issuer.rstrip("/")
        self.registration_limit = registration_limit
        self.outcome = outcome if outcome is not None else Outcome()
        self.grants = Grants(
            store,
            credentials,
            resources=tuple(
                normalize_resource(r) for r in (resources or default_resources(self.issuer))
            ),
            clock=clock,
            outcome=self.outcome,
        )
        self.server = self.grants.server
        self.consent = ConsentFlow(
            self.grants, directory, issuer=self.issuer, sign_in_limit=sign_in_limit
        )

    def now(self) -> int:
        return self.grants.now()

    # --- dispatch -----------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        routes: dict[str, tuple[tuple[str, ...], Callable[[Request], Reply]]] = {
            OAUTH_METADATA_PATH: (("GET",), self.metadata),
            OAUTH_REGISTER_PATH: (("POST",), self.register),
            OAUTH_AUTHORIZE_PATH: (("GET", "POST"), self.consent.authorize),
            OAUTH_TOKEN_PATH: (("POST",), self.token),
            OAUTH_REVOKE_PATH: (("POST",), self.revoke_endpoint),
        }
        path = route(request)
        self.outcome.endpoint = path
        found = routes.get(path)
        if found is None:
            return json_reply(404, {"error": "Not found"})
        methods, handler = found
        if request.method not in methods:
            self.outcome.error = "method_not_allowed"
            return json_reply(405, {"error": "Method not allowed"}, {"Allow": ", ".join(methods)})
        try:
            return handler(request)
        except ServiceUnavailable as exc:
            self.outcome.error = "temporarily_unavailable"
            return unavailable(path, exc)

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

    def metadata(self, request: Request) -> Reply:
        # Public and the same for everyone: caches may keep it for an hour.
        return Reply.json(200, self.metadata_document(), {"Cache-Control": "public, max-age=3600"})

    # --- RFC 7591 registration ----------------------------------------------------------------

    def register(self, request: Request) -> Reply:
        body = body_text(request) or ""
        if len(body.encode("utf-8")) > MAX_REGISTRATION_BYTES:
            self.outcome.error = "too_large"
            return oauth_error(
                413,
                "invalid_client_metadata",
                f"client metadata is limited to {MAX_REGISTRATION_BYTES} bytes",
            )
        if self.registration_limit is not None:
            wait = self.registration_limit.admit(request.source_ip)
            if wait is not None:
                self.outcome.error = "rate_limited"
                return oauth_error(
                    429,
                    "rate_limited",
                    "too many registrations from this address; retry later",
                    {"Retry-After": str(wait)},
                )
        if media_type(request) != "application/json":
            self.outcome.error = "invalid_client_metadata"
            return oauth_error(
                400, "invalid_client_metadata", "send the client metadata as application/json"
            )
        try:
            # The strict reader, as for every API's body: no duplicate keys, NaN or deep nesting.
            document = json_body.loads(body, max_depth=REGISTRATION_MAX_DEPTH)
        except json_body.InvalidJson as exc:
            self.outcome.error = "invalid_client_metadata"
            description = "the body is not JSON"
            if exc.reason == json_body.DUPLICATE_KEY:
                # Named, as every API names it: ': duplicate key "redirect_uris"'.
                description += exc.message.removeprefix(json_body.NOT_JSON)
            return oauth_error(400, "invalid_client_metadata", description)
        try:
            metadata = validate_registration(document)
        except RegistrationError as exc:
            self.outcome.error = exc.error
            return oauth_error(400, exc.error, exc.description)

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
        return json_reply(201, answer)

    # --- token and revocation endpoints -------------------------------------------------------

    def token(self, request: Request) -> Reply:
        built = form_request(request, self.issuer)
        if isinstance(built, Reply):
            self.outcome.error = "invalid_request"
            return built
        reply: Reply = self.server.create_token_response(built)
        reply = reply.with_headers(NO_STORE)
        if reply.status >= 400:
            self.outcome.error = error_of(reply)
        return reply

    def revoke_endpoint(self, request: Request) -> Reply:
        built = form_request(request, self.issuer)
        if isinstance(built, Reply):
            self.outcome.error = "invalid_request"
            return built
        reply: Reply = self.server.create_endpoint_response("revocation", built)
        reply = reply.with_headers(NO_STORE)
        if reply.status == 200:  # RFC 7009 section 2.2: no body
            headers = {k: v for k, v in reply.headers.items() if k != "Content-Type"}
            reply = Reply(200, headers)
        if reply.status >= 400:
            self.outcome.error = error_of(reply)
        return reply
