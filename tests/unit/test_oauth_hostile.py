"""Hostile requests against the authorization server: each is answered with the error the RFCs
name, exactly, and changes nothing (the OAuth and credentials tables are compared item by item
before and after). A legitimate client, a signed-in person and live tokens exist throughout, so
a refusal that leaked state would show."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from moto import mock_aws

from lucent.oauth.policy import MAX_REGISTRATION_BYTES
from tests.unit.oauth_support import (
    ISSUER,
    REDIRECT,
    Clock,
    Flow,
    OAuthTestClient,
    hidden_fields,
    provision_all,
    query_of,
)


@dataclass
class World:
    oauth: OAuthTestClient
    clock: Clock
    client_id: str
    flow: Flow
    code: str  # issued, not yet exchanged
    used_code: str  # exchanged once already
    used_flow: Flow
    replayed_access_token: str
    tokens: dict[str, Any]
    confidential: dict[str, Any]


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        clock = Clock()
        oauth = OAuthTestClient(provision_all(), clock)
        client_id = oauth.register()["client_id"]
        used_flow = oauth.start(client_id)
        used_code = oauth.code_for(used_flow)
        used = oauth.exchange(used_flow, used_code)
        assert used.status == 200
        tokens = oauth.tokens(client_id)
        flow = oauth.start(client_id)
        code = oauth.code_for(flow)
        confidential = oauth.register(token_endpoint_auth_method="client_secret_post")
        yield World(
            oauth,
            clock,
            client_id,
            flow,
            code,
            used_code,
            used_flow,
            json.loads(used.body)["access_token"],
            tokens,
            confidential,
        )


@dataclass(frozen=True)
class Redirected:
    """The refusal comes back to the client: a 302 to its redirect URI with these parameters."""

    error: str
    description: str


@dataclass(frozen=True)
class Page:
    """The refusal is an HTML page (never a redirect): unknown client or bad redirect URI."""

    status: int
    error: str
    text: str


@dataclass(frozen=True)
class Json:
    status: int
    body: dict[str, Any]


def authorize(w: World, **overrides: str | None) -> Any:
    return w.oauth.authorize(w.flow, **overrides)


def token(w: World, **fields: str | None) -> Any:
    return w.oauth.form("/oauth/token", {k: v for k, v in fields.items() if v is not None})


def exchange(w: World, **overrides: str | None) -> Any:
    return w.oauth.exchange(w.flow, w.code, **overrides)


def register(w: World, document: Any, content_type: str = "application/json") -> Any:
    body = document if isinstance(document, str) else json.dumps(document)
    return w.oauth.send("POST", "/oauth/register", body=body, content_type=content_type)


def consent_post(w: World, fields: dict[str, str], with_cookie: bool = True) -> Any:
    return w.oauth.form("/oauth/authorize", fields, cookies=with_cookie)


def _signed_in_consent(w: World) -> Any:
    return w.oauth.sign_in(w.oauth.authorize(w.flow))


NOT_STRICT_JSON = Json(
    400, {"error": "invalid_client_metadata", "error_description": "the body is not JSON"}
)
INVALID_GRANT = Json(
    400, {"error": "invalid_grant", "error_description": "Invalid 'code' in request."}
)
PLAIN = {"error": "invalid_request", "error_description": "code_challenge_method must be S256"}

CASES: dict[str, tuple[Callable[[World], Any], Redirected | Page | Json]] = {
    # --- open redirects and redirect URIs: never redirected, an error page instead
    "open redirect to another host": (
        lambda w: authorize(w, redirect_uri="https://evil.example/callback"),
        Page(400, "invalid_request", "redirect_uri is not registered for this client"),
    ),
    "open redirect via userinfo": (
        lambda w: authorize(w, redirect_uri="http://127.0.0.1:8765@evil.example/callback"),
        Page(400, "invalid_request", "redirect_uri is not registered for this client"),
    ),
    "open redirect via javascript:": (
        lambda w: authorize(w, redirect_uri="javascript:alert(document.cookie)"),
        Page(400, "invalid_request", "redirect_uri is not registered for this client"),
    ),
    # Issue 17, finding 9: urlsplit drops tabs and line breaks, so the loopback rule (any port)
    # used to match these; what matches is put in the Location and CSP headers.
    "loopback redirect with a line break in its path": (
        lambda w: authorize(w, redirect_uri="http://127.0.0.1:9999/call\nback"),
        Page(400, "invalid_request", "redirect_uri is not registered for this client"),
    ),
    "redirect with CR LF in its port": (
        lambda w: authorize(w, redirect_uri="http://127.0.0.1:87\r\n65/callback"),
        Page(400, "invalid_request", "redirect_uri is not registered for this client"),
    ),
    "redirect with a non-ASCII port digit": (
        lambda w: authorize(w, redirect_uri="http://127.0.0.1:\u0668\u0668/callback"),
        Page(400, "invalid_request", "redirect_uri is not registered for this client"),
    ),
    "mismatched redirect path": (
        lambda w: authorize(w, redirect_uri="http://127.0.0.1:8765/callback/../steal"),
        Page(400, "invalid_request", "redirect_uri is not registered for this client"),
    ),
    "redirect with an added query": (
        lambda w: authorize(w, redirect_uri=REDIRECT + "?next=https://evil.example"),
        Page(400, "invalid_request", "redirect_uri is not registered for this client"),
    ),
    "missing redirect_uri": (
        lambda w: authorize(w, redirect_uri=None),
        Page(400, "invalid_request", "redirect_uri is required"),
    ),
    "unknown client": (
        lambda w: authorize(w, client_id="lcl_doesnotexist000000000"),
        Page(400, "invalid_client", "This application is not registered."),
    ),
    "client id of another shape": (
        lambda w: authorize(w, client_id="../../admin"),
        Page(400, "invalid_client", "This application is not registered."),
    ),
    # Client ID Metadata Documents are not supported (docs/oauth.md): a URL is no client of ours.
    "client id metadata document URL": (
        lambda w: authorize(w, client_id="https://client.example/oauth/client-metadata.json"),
        Page(400, "invalid_client", "This application is not registered."),
    ),
    "two client ids": (
        lambda w: w.oauth.send(
            "GET",
            "/oauth/authorize",
            query=urlencode(w.oauth.authorize_params(w.flow)) + "&client_id=lcl_other",
        ),
        Page(400, "invalid_request", "Multiple 'client_id' in request."),
    ),
    # --- errors sent back to the client (RFC 6749 4.1.2.1), with state and iss
    "unknown scope": (
        lambda w: authorize(w, scope="read:lucent admin:all"),
        Redirected("invalid_scope", "The requested scope is invalid, unknown, or malformed."),
    ),
    "no scope": (
        lambda w: authorize(w, scope=None),
        Redirected("invalid_scope", "The requested scope is invalid, unknown, or malformed."),
    ),
    "response_type token": (
        lambda w: authorize(w, response_type="token"),
        Redirected("unsupported_response_type", "token"),
    ),
    "missing PKCE": (
        lambda w: authorize(w, code_challenge=None, code_challenge_method=None),
        Redirected("invalid_request", "PKCE is required: send code_challenge (S256)"),
    ),
    "plain PKCE": (
        lambda w: authorize(w, code_challenge="a" * 43, code_challenge_method="plain"),
        Redirected(PLAIN["error"], PLAIN["error_description"]),
    ),
    "PKCE without a method (plain by default)": (
        lambda w: authorize(w, code_challenge_method=None),
        Redirected(PLAIN["error"], PLAIN["error_description"]),
    ),
    "malformed challenge": (
        lambda w: authorize(w, code_challenge="short"),
        Redirected("invalid_request", "Invalid 'code_challenge'"),
    ),
    "wrong resource": (
        lambda w: authorize(w, resource="https://evil.example/api"),
        Redirected("invalid_target", "resource is not served by this authorization server"),
    ),
    "missing resource": (
        lambda w: authorize(w, resource=None),
        Redirected("invalid_target", "exactly one resource is required (RFC 8707)"),
    ),
    # --- the consent form
    "CSRF-less consent post": (
        lambda w: consent_post(
            w, {**hidden_fields(_signed_in_consent(w).body), "action": "approve", "csrf_token": ""}
        ),
        Page(403, "csrf", "The form did not come from this page, or it has expired."),
    ),
    "consent post without the cookie (cross-site)": (
        lambda w: consent_post(
            w, {**hidden_fields(_signed_in_consent(w).body), "action": "approve"}, False
        ),
        Page(403, "csrf", "The form did not come from this page, or it has expired."),
    ),
    "consent post with a forged consent id": (
        lambda w: consent_post(
            w,
            {
                **hidden_fields(_signed_in_consent(w).body),
                "consent": "forged-consent-id",
                "action": "approve",
            },
        ),
        Page(403, "consent_expired", "It was already answered, belongs to another browser"),
    ),
    # --- the token endpoint (RFC 6749 5.2)
    "wrong verifier": (
        lambda w: exchange(w, code_verifier="W" * 64),
        Json(400, {"error": "invalid_grant", "error_description": "Code challenge failed."}),
    ),
    "missing verifier": (
        lambda w: exchange(w, code_verifier=None),
        Json(400, {"error": "invalid_request", "error_description": "Missing 'code_verifier'"}),
    ),
    "code replay": (
        lambda w: w.oauth.exchange(w.used_flow, w.used_code),
        INVALID_GRANT,
    ),
    "expired code": (
        lambda w: (setattr(w.clock, "now", w.clock.now + 61), exchange(w))[1],
        INVALID_GRANT,
    ),
    "code for another client": (
        lambda w: exchange(
            w, client_id=w.confidential["client_id"], client_secret=w.confidential["client_secret"]
        ),
        INVALID_GRANT,
    ),
    "mismatched redirect at the token endpoint": (
        lambda w: exchange(w, redirect_uri="http://127.0.0.1:8765/other"),
        Json(
            400,
            {"error": "invalid_grant", "error_description": "Invalid 'redirect_uri' in request."},
        ),
    ),
    "wrong resource at the token endpoint": (
        lambda w: exchange(w, resource="https://evil.example/api"),
        Json(
            400,
            {
                "error": "invalid_target",
                "error_description": "resource differs from the one granted",
            },
        ),
    ),
    "unknown client at the token endpoint": (
        lambda w: exchange(w, client_id="lcl_unknown000000000000"),
        Json(
            400,
            {
                "error": "invalid_client",
                "error_description": "The client does not exist on this server.",
            },
        ),
    ),
    "client id metadata document URL at the token endpoint": (
        lambda w: exchange(w, client_id="https://client.example/oauth/client-metadata.json"),
        Json(
            400,
            {
                "error": "invalid_client",
                "error_description": "The client does not exist on this server.",
            },
        ),
    ),
    "wrong client secret": (
        lambda w: token(
            w,
            grant_type="authorization_code",
            code=w.code,
            redirect_uri=REDIRECT,
            code_verifier=w.flow.verifier,
            client_id=w.confidential["client_id"],
            client_secret="luc_ocs_wrong",
        ),
        Json(
            401,  # client_secret_basic is among the methods: the answer names Basic
            {
                "error": "invalid_client",
                "error_description": "The client cannot authenticate with methods: ['none', 'client_secret_basic', 'client_secret_post']",
            },
        ),
    ),
    "unsupported grant type": (
        lambda w: token(
            w, grant_type="password", username="a", password="b", client_id=w.client_id
        ),
        Json(
            400,
            {
                "error": "unsupported_grant_type",
            },
        ),
    ),
    "repeated parameter": (
        lambda w: w.oauth.send(
            "POST",
            "/oauth/token",
            body=f"grant_type=authorization_code&code={w.code}&code=other&client_id={w.client_id}",
            content_type="application/x-www-form-urlencoded",
        ),
        Json(
            400, {"error": "invalid_request", "error_description": "parameter 'code' is repeated"}
        ),
    ),
    "JSON instead of a form": (
        lambda w: w.oauth.send(
            "POST",
            "/oauth/token",
            body=json.dumps({"grant_type": "authorization_code"}),
            content_type="application/json",
        ),
        Json(
            400,
            {
                "error": "invalid_request",
                "error_description": "send the parameters as application/x-www-form-urlencoded",
            },
        ),
    ),
    "refresh token as a code": (
        lambda w: token(
            w,
            grant_type="authorization_code",
            code=w.tokens["refresh_token"],
            redirect_uri=REDIRECT,
            code_verifier=w.flow.verifier,
            client_id=w.client_id,
        ),
        INVALID_GRANT,
    ),
    "access token as a refresh token": (
        lambda w: w.oauth.refresh(w.client_id, w.tokens["access_token"]),
        Json(400, {"error": "invalid_grant"}),
    ),
    "broader scope on refresh": (
        lambda w: w.oauth.refresh(
            w.client_id, w.tokens["refresh_token"], scope="read:lucent write:issues"
        ),
        Json(
            400,
            {
                "error": "invalid_scope",
                "error_description": "The requested scope is invalid, unknown, or malformed.",
            },
        ),
    ),
    # --- registration
    "oversized registration": (
        lambda w: register(
            w,
            {
                "redirect_uris": [REDIRECT],
                "client_name": "x",
                "padding": "p" * MAX_REGISTRATION_BYTES,
            },
        ),
        Json(
            413,
            {
                "error": "invalid_client_metadata",
                "error_description": f"client metadata is limited to {MAX_REGISTRATION_BYTES} bytes",
            },
        ),
    ),
    "too many redirect URIs": (
        lambda w: register(w, {"redirect_uris": [f"https://a{i}.example/cb" for i in range(11)]}),
        Json(
            400,
            {
                "error": "invalid_redirect_uri",
                "error_description": "at most 10 redirect URIs may be registered",
            },
        ),
    ),
    "registration that is not JSON": (
        lambda w: register(
            w, "redirect_uris=https://a.example/cb", "application/x-www-form-urlencoded"
        ),
        Json(
            400,
            {
                "error": "invalid_client_metadata",
                "error_description": "send the client metadata as application/json",
            },
        ),
    ),
    # Issue 17, finding 11: registration bodies go through lucent.json_body like every API's.
    "registration with a key twice": (
        lambda w: register(
            w,
            f'{{"redirect_uris": ["https://evil.example/cb"], "redirect_uris": ["{REDIRECT}"]}}',
        ),
        Json(
            400,
            {
                "error": "invalid_client_metadata",
                "error_description": 'the body is not JSON: duplicate key "redirect_uris"',
            },
        ),
    ),
    "registration with NaN": (
        lambda w: register(w, f'{{"redirect_uris": ["{REDIRECT}"], "client_name": NaN}}'),
        NOT_STRICT_JSON,
    ),
    "registration nested 3,000 levels deep": (
        lambda w: register(
            w, '{{"redirect_uris": ["{}"], "x": {}}}'.format(REDIRECT, "[" * 3000 + "]" * 3000)
        ),
        NOT_STRICT_JSON,
    ),
    "registration with the implicit grant": (
        lambda w: register(w, {"redirect_uris": [REDIRECT], "grant_types": ["implicit"]}),
        Json(
            400,
            {
                "error": "invalid_client_metadata",
                "error_description": "grant_types must include authorization_code and may add refresh_token only",
            },
        ),
    ),
    "registration with a data: redirect": (
        lambda w: register(w, {"redirect_uris": ["data:text/html,<script>alert(1)</script>"]}),
        Json(
            400,
            {
                "error": "invalid_redirect_uri",
                "error_description": "a redirect URI must be an absolute URI with a host",
            },
        ),
    ),
    # --- revocation
    "revocation by an unknown client": (
        lambda w: w.oauth.form(
            "/oauth/revoke",
            {"token": w.tokens["access_token"], "client_id": "lcl_unknown00000000000"},
        ),
        Json(
            400,
            {
                "error": "invalid_client",
                "error_description": "The client does not exist on this server.",
            },
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_request_is_refused_and_changes_nothing(world: World, name: str) -> None:
    send, expected = CASES[name]
    before = world.oauth.snapshot()
    reply = send(world)
    after = world.oauth.snapshot()
    if isinstance(expected, Redirected):
        assert reply.status == 302, reply.body
        assert reply.headers["Location"].startswith(REDIRECT + "?")
        assert query_of(reply.headers["Location"]) == {
            "error": [expected.error],
            "error_description": [expected.description],
            "state": [world.flow.state],
            "iss": [ISSUER],
        }
    elif isinstance(expected, Page):
        assert reply.status == expected.status, reply.body
        assert "Location" not in reply.headers
        assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
        assert f'<code id="error-code">{expected.error}</code>' in reply.body
        assert html.escape(expected.text) in reply.body
    else:
        assert (reply.status, json.loads(reply.body)) == (expected.status, expected.body)
        assert reply.headers["Cache-Control"] == "no-store"
    if name == "code replay":
        # The one refusal that must change something: what the code issued is revoked.
        assert not world.oauth.usable(world.replayed_access_token)
        return
    # A consent session made by the case itself (the sign-in it needs) is the one allowed change.
    consent_items = [
        i
        for i in after["OAuthTable"]
        if i["pk"]["S"].startswith("CONSENT#") and i not in before["OAuthTable"]
    ]
    after["OAuthTable"] = [i for i in after["OAuthTable"] if i not in consent_items]
    assert after == before
    # And the legitimate grant still works.
    assert world.oauth.usable(world.tokens["access_token"])


def test_there_are_at_least_thirty_hostile_requests() -> None:
    assert len(CASES) >= 30


def test_basic_auth_with_garbage_is_invalid_client(world: World) -> None:
    garbage = base64.b64encode(b"no-colon-here").decode()
    reply = world.oauth.form(
        "/oauth/token",
        {"grant_type": "authorization_code", "code": world.code},
        headers={"Authorization": f"Basic {garbage}"},
    )
    assert (reply.status, json.loads(reply.body)["error"]) == (401, "invalid_client")


def test_the_legitimate_code_still_works_after_every_kind_of_attack(world: World) -> None:
    for name in (
        "wrong verifier",
        "mismatched redirect at the token endpoint",
        "wrong resource at the token endpoint",
    ):
        CASES[name][0](world)
    assert world.oauth.exchange(world.flow, world.code).status == 200
