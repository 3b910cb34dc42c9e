"""The sign-in and consent flow of the authorization endpoint: the sign-in page, the password
check (Cognito), the consent page, the decision, and the redirect back to the client with
RFC 9207's ``iss`` (docs/oauth.md, "Consent").

Forms are bound to the browser by a CSRF cookie; an error goes back to the client only when a
person has approved it (RFC 9700 section 4.11.2), otherwise it is an error page.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidClientError

from lucent.contract import OAUTH_AUTHORIZE_PATH
from lucent.http import Reply, Request
from lucent.oauth import pages
from lucent.oauth.grants import CodeGrant, Grants
from lucent.oauth.models import Client, Consent, hash_value
from lucent.oauth.policy import CONSENT_SECONDS
from lucent.oauth.store import CognitoDirectory, SignInRefused
from lucent.oauth.web import (
    MAX_FORM_BYTES,
    NO_STORE,
    AuthlibRequest,
    body_text,
    cookie,
    media_type,
    page,
    parse_pairs,
)

CSRF_COOKIE = "lucent_oauth_csrf"
CSRF_COOKIE_SECONDS = 1800
SIGN_IN_THROTTLED = "Too many sign-in attempts. Wait a minute, then try again."


class SignInLimit(Protocol):
    def admit(self, source_ip: str, username: str) -> int | None:
        """None if admitted; else the seconds to wait."""


class ConsentFlow:
    """``GET`` and ``POST /oauth/authorize`` for one request."""

    def __init__(
        self,
        grants: Grants,
        directory: CognitoDirectory,
        *,
        issuer: str,
        sign_in_limit: SignInLimit | None = None,
    ) -> None:
        self.grants = grants
        self.server = grants.server
        self.store = grants.store
        self.outcome = grants.outcome
        self.directory = directory
        self.issuer = issuer
        self.sign_in_limit = sign_in_limit
        self._secure = issuer.startswith("https://")

    def _redirect(self, location: str) -> Reply:
        # RFC 9207: every authorization response, success or error, names its issuer.
        return Reply(
            302, {"Location": add_params_to_uri(location, [("iss", self.issuer)]), **NO_STORE}
        )

    def _error_page(self, status: int, title: str, message: str, error: str) -> Reply:
        self.outcome.error = error
        return page(status, pages.error_page(title, message, error))

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

    def _grant_for(self, query: str) -> tuple[CodeGrant, str] | Reply:
        """Validate an authorization request: its grant and redirect URI, or the reply that
        refuses it. A redirect with the error only when the client and redirect URI are known
        (RFC 6749 section 4.1.2.1) and a person has approved that client (RFC 9700 section
        4.11.2: anyone can register a redirect URI, and an unapproved one would make this
        endpoint an open redirector); an error page otherwise."""
        pairs = parse_pairs(query)
        request = AuthlibRequest("GET", self.issuer + OAUTH_AUTHORIZE_PATH, {}, pairs)
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

    def _approved(self, request: AuthlibRequest) -> bool:
        """Whether a person has approved the request's client. authlib has set ``client``
        unless it refused the response type first (having checked the redirect URI against the
        client all the same)."""
        client = getattr(request, "client", None)
        if not isinstance(client, Client):
            client = self.grants.get_client(request.payload.client_id or "")
        return client is not None and client.approved_at is not None

    def authorize(self, request: Request) -> Reply:
        if request.method == "GET":
            return self._authorize_page(request)
        return self._authorize_decision(request)

    def _action(self) -> str:
        """Where the pages' forms post: this endpoint, under the issuer's path (a stage)."""
        return urlsplit(self.issuer).path + OAUTH_AUTHORIZE_PATH

    def _authorize_page(self, request: Request) -> Reply:
        found = self._grant_for(request.query_string)
        if isinstance(found, Reply):
            return found
        grant, redirect_uri = found
        csrf = cookie(request, self._csrf_cookie_name())
        if not csrf or len(csrf) != 43:
            csrf = secrets.token_urlsafe(32)
        html = pages.sign_in_page(
            action=self._action(),
            client_name=grant.request.client.client_name,
            redirect_uri=redirect_uri,
            scopes=str(grant.request.scope).split(),
            request_query=request.query_string,
            csrf_token=csrf,
        )
        return page(200, html, (redirect_uri,), self._csrf_cookie(csrf))

    def _authorize_decision(self, request: Request) -> Reply:  # noqa: PLR0911 - one exit per refusal
        body = body_text(request) or ""
        form_type = media_type(request) == "application/x-www-form-urlencoded"
        if not form_type or len(body) > MAX_FORM_BYTES:
            return self._error_page(
                400,
                "This form cannot be used",
                "The form was not sent as a form.",
                "invalid_request",
            )
        form = dict(parse_pairs(body))
        sent = cookie(request, self._csrf_cookie_name())
        token = form.get("csrf_token", "")
        if not sent or not token or not hmac.compare_digest(sent, token):
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
        if isinstance(found, Reply):
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
                again = self._sign_in_again(grant, redirect_uri, query, username, SIGN_IN_THROTTLED)
                return replace(again, status=429).with_headers({"Retry-After": str(wait)})
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
                expires_at=self.grants.now() + CONSENT_SECONDS,
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
        return page(200, html, (redirect_uri,))

    def _sign_in_again(
        self, grant: CodeGrant, redirect_uri: str, query: str, username: str, error: str
    ) -> Reply:
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
        return page(401, html, (redirect_uri,), self._csrf_cookie(csrf))

    def _decide(self, form: Mapping[str, str], csrf_token: str, action: str | None) -> Reply:
        if action not in ("approve", "deny"):
            return self._error_page(
                400, "Unknown action", "Choose allow or deny.", "invalid_request"
            )
        consent = self.store.take_consent(
            hash_value(form.get("consent", "")), hash_value(csrf_token), self.grants.now()
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
        if isinstance(found, Reply):
            return found
        grant, redirect_uri = found
        if action == "deny":
            return self._deny(grant, redirect_uri)
        self.outcome.org_id = consent.person.org_id
        status, _, headers = grant.create_authorization_response(redirect_uri, consent.person)
        location = dict(headers)["Location"]
        assert status == 302
        return self._redirect(location)

    def _deny(self, grant: CodeGrant, redirect_uri: str) -> Reply:
        self.outcome.error = "access_denied"
        error = AccessDeniedError(redirect_uri=redirect_uri, state=grant.request.payload.state)
        return self._redirect(add_params_to_uri(redirect_uri, error.get_body()))
