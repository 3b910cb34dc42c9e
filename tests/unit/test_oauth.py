"""The authorization server end to end in-process: registration, consent, codes, tokens,
rotation, reuse detection and revocation, over moto's DynamoDB and Cognito (docs/oauth.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lucent.auth.credentials import CredentialKind, hash_secret
from lucent.oauth.limits import RegistrationRateLimit
from lucent.oauth.models import hash_value
from lucent.oauth.policy import REFRESH_REUSE_GRACE_SECONDS
from lucent.ratelimit.limiter import RateLimiter
from lucent.ratelimit.store import RateLimitStore
from lucent_dev import identity
from tests.unit.oauth_support import (
    CSRF_COOKIE,
    DATA_RESOURCE,
    ISSUER,
    JSON_NO_STORE,
    MCP_RESOURCE,
    REDIRECT,
    Clock,
    OAuthTestClient,
    clock,
    hidden_fields,
    names,
    oauth,
    query_of,
)

__all__ = ["clock", "names", "oauth"]  # the fixtures, used by name


def error_of(reply: Any) -> dict[str, Any]:
    return dict(json.loads(reply.body))


# --- metadata ---------------------------------------------------------------------------------


def test_metadata_names_every_endpoint_and_capability(oauth: OAuthTestClient) -> None:
    reply = oauth.send("GET", "/.well-known/oauth-authorization-server")
    assert reply.status == 200
    assert reply.headers == {
        "Content-Type": "application/json",
        "Cache-Control": "public, max-age=3600",
    }
    assert json.loads(reply.body) == {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/oauth/authorize",
        "token_endpoint": f"{ISSUER}/oauth/token",
        "registration_endpoint": f"{ISSUER}/oauth/register",
        "revocation_endpoint": f"{ISSUER}/oauth/revoke",
        "scopes_supported": ["read:lucent", "write:issues"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_basic",
            "client_secret_post",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "none",
            "client_secret_basic",
            "client_secret_post",
        ],
        "authorization_response_iss_parameter_supported": True,
        "service_documentation": "https://docs.lucenthq.com/mcp",
    }


def test_other_methods_are_405_with_allow(oauth: OAuthTestClient) -> None:
    reply = oauth.send("DELETE", "/oauth/token")
    assert (reply.status, reply.headers["Allow"], error_of(reply)) == (
        405,
        "POST",
        {"error": "Method not allowed"},
    )


# --- registration -----------------------------------------------------------------------------


def test_public_registration_answers_the_metadata_and_no_secret(oauth: OAuthTestClient) -> None:
    registered = oauth.register()
    assert registered["client_id"].startswith("lcl_")
    assert registered == {
        "client_id": registered["client_id"],
        "client_id_issued_at": 1_800_000_000,
        "redirect_uris": [REDIRECT],
        "client_name": "Claude Code",
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "read:lucent write:issues",
    }


def test_confidential_registration_stores_only_the_secret_hash(oauth: OAuthTestClient) -> None:
    registered = oauth.register(token_endpoint_auth_method="client_secret_basic")
    secret = registered["client_secret"]
    assert secret.startswith("luc_ocs_")
    assert registered["client_secret_expires_at"] == 0
    stored = json.dumps(oauth.snapshot())
    assert secret not in stored
    assert hash_value(secret) in stored


@pytest.mark.parametrize(
    ("metadata", "error", "description"),
    [
        (
            {"redirect_uris": ["javascript:alert(1)"]},
            "invalid_redirect_uri",
            "a redirect URI must be an absolute URI with a host",
        ),
        (
            {"redirect_uris": ["https://app.example/cb#frag"]},
            "invalid_redirect_uri",
            "a redirect URI may not contain a fragment",
        ),
        (
            {"redirect_uris": ["https://*.example/cb"]},
            "invalid_redirect_uri",
            "a redirect URI may not contain a wildcard",
        ),
        (
            {"redirect_uris": ["http://app.example/cb"]},
            "invalid_redirect_uri",
            "a redirect URI must use https, or http on a loopback address (127.0.0.1, [::1], "
            "localhost)",
        ),
        (
            {"scope": "read:lucent admin:all"},
            "invalid_client_metadata",
            "unknown scope: admin:all (known scopes: read:lucent, write:issues)",
        ),
        (
            {"client_name": "Lucent"},
            "invalid_client_metadata",
            "client_name may not name Lucent: the consent page must not pass a client off as us",
        ),
        (
            {"client_name": "LUC3NT official"},
            "invalid_client_metadata",
            "client_name may not name Lucent: the consent page must not pass a client off as us",
        ),
        (
            {"client_name": "Ｌｕｃｅｎｔ HQ"},
            "invalid_client_metadata",
            "client_name may not name Lucent: the consent page must not pass a client off as us",
        ),
    ],
)
def test_registration_refusals(
    oauth: OAuthTestClient, metadata: dict[str, Any], error: str, description: str
) -> None:
    before = oauth.snapshot()
    document = {"redirect_uris": [REDIRECT], "client_name": "Tool", **metadata}
    reply = oauth.send(
        "POST", "/oauth/register", body=json.dumps(document), content_type="application/json"
    )
    assert (reply.status, reply.headers) == (400, JSON_NO_STORE)
    assert error_of(reply) == {"error": error, "error_description": description}
    assert oauth.snapshot() == before


@pytest.mark.parametrize(
    ("body", "key"),
    [
        # The validated value would be the last, while a later reader of the stored metadata
        # could keep the first (issue 18).
        (
            f'{{"redirect_uris": ["https://evil.example/cb"], "redirect_uris": ["{REDIRECT}"]}}',
            "redirect_uris",
        ),
        (
            f'{{"redirect_uris": ["{REDIRECT}"], "client_name": "Tool", "client_name": "Lucent"}}',
            "client_name",
        ),
        (f'{{"redirect_uris": ["{REDIRECT}"], "jwks": {{"keys": [], "keys": [{{}}]}}}}', "keys"),
    ],
)
def test_registration_with_a_duplicate_key_is_refused_and_stores_nothing(
    oauth: OAuthTestClient, body: str, key: str
) -> None:
    before = oauth.snapshot()
    reply = oauth.send("POST", "/oauth/register", body=body, content_type="application/json")
    assert (reply.status, reply.headers) == (400, JSON_NO_STORE)
    assert error_of(reply) == {
        "error": "invalid_client_metadata",
        "error_description": f'the body is not JSON: duplicate key "{key}"',
    }
    assert oauth.outcome.error == "invalid_client_metadata"
    assert oauth.snapshot() == before


def test_registration_is_rate_limited_per_source_ip(names: dict[str, str], clock: Clock) -> None:
    limiter = RateLimiter(
        RateLimitStore(OAuthTestClient(names, clock).dynamodb, names["RateLimitTable"]),
        clock=clock,
    )
    oauth = OAuthTestClient(names, clock, RegistrationRateLimit(limiter, 2))
    document = json.dumps({"redirect_uris": [REDIRECT], "client_name": "Tool"})
    statuses = [
        oauth.send("POST", "/oauth/register", body=document, content_type="application/json").status
        for _ in range(3)
    ]
    assert statuses == [201, 201, 429]
    refused = oauth.send("POST", "/oauth/register", body=document, content_type="application/json")
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert error_of(refused) == {
        "error": "rate_limited",
        "error_description": "too many registrations from this address; retry later",
    }
    other = oauth.send(
        "POST",
        "/oauth/register",
        body=document,
        content_type="application/json",
        ip="198.51.100.7",
    )
    assert other.status == 201


# --- the authorization endpoint ---------------------------------------------------------------


def test_the_page_shows_client_host_and_scopes_with_a_strict_policy(
    oauth: OAuthTestClient,
) -> None:
    flow = oauth.start(oauth.register(client_name="Cursor <b>")["client_id"])
    page = oauth.authorize(flow, scope="read:lucent write:issues")
    assert page.status == 200
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'; style-src ")
    assert page.headers["Content-Security-Policy"].endswith(
        "; form-action 'self' http://127.0.0.1:8765; frame-ancestors 'none'; base-uri 'none'"
    )
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Set-Cookie"].startswith(f"{CSRF_COOKIE}=")
    assert page.headers["Set-Cookie"].endswith(
        "; Path=/; Max-Age=1800; HttpOnly; SameSite=Strict; Secure"
    )
    assert '<dd id="client-name">Cursor &lt;b&gt;</dd>' in page.body
    assert '<dd id="redirect-host">127.0.0.1:8765</dd>' in page.body
    assert (
        "<li><code>read:lucent</code>: Read issues, signals, and insights.</li>"
        "<li><code>write:issues</code>: Update issue status.</li>"
    ) in page.body
    assert "<script" not in page.body
    fields = hidden_fields(page.body)
    assert fields["csrf_token"] == oauth.cookies[CSRF_COOKIE]


def test_after_sign_in_the_page_names_the_organization(oauth: OAuthTestClient) -> None:
    flow = oauth.start(oauth.register()["client_id"])
    consent = oauth.sign_in(oauth.authorize(flow))
    assert consent.status == 200
    assert '<dd id="organization"><code>org_demo</code></dd>' in consent.body
    assert '<span id="username">' in consent.body
    assert set(hidden_fields(consent.body)) == {"consent", "csrf_token"}


def test_a_wrong_password_is_refused_by_cognito_and_nothing_is_stored(
    oauth: OAuthTestClient,
) -> None:
    flow = oauth.start(oauth.register()["client_id"])
    page = oauth.authorize(flow)
    before = oauth.snapshot()
    refused = oauth.sign_in(page, password="Wrong-Password-1")
    assert refused.status == 401
    assert '<p class="error" id="error">Incorrect email or password.</p>' in refused.body
    assert oauth.snapshot() == before


def test_a_person_without_an_organization_cannot_grant(
    oauth: OAuthTestClient, names: dict[str, str]
) -> None:
    identity.add_person(
        oauth.cognito, names["OAuthUserPool"], "nobody@lucent.example", "Nobody-Pass-2026", None
    )
    flow = oauth.start(oauth.register()["client_id"])
    refused = oauth.sign_in(
        oauth.authorize(flow), username="nobody@lucent.example", password="Nobody-Pass-2026"
    )
    assert refused.status == 401
    assert "This account is not a member of an organization." in refused.body


def test_approval_redirects_with_code_state_and_issuer(oauth: OAuthTestClient) -> None:
    flow = oauth.start(oauth.register()["client_id"])
    consent = oauth.sign_in(oauth.authorize(flow))
    redirect = oauth.decide(consent)
    assert redirect.status == 302
    assert redirect.headers["Location"].startswith(REDIRECT + "?code=")
    params = query_of(redirect.headers["Location"])
    assert set(params) == {"code", "state", "iss"}
    assert (params["state"], params["iss"]) == ([flow.state], [ISSUER])
    stored = json.dumps(oauth.snapshot())
    assert params["code"][0] not in stored
    assert hash_value(params["code"][0]) in stored


def test_deny_redirects_with_access_denied_state_and_issuer(oauth: OAuthTestClient) -> None:
    flow = oauth.start(oauth.register()["client_id"])
    denied = oauth.decide(oauth.sign_in(oauth.authorize(flow)), action="deny")
    assert denied.status == 302
    assert query_of(denied.headers["Location"]) == {
        "error": ["access_denied"],
        "error_description": ["The resource owner or authorization server denied the request"],
        "state": [flow.state],
        "iss": [ISSUER],
    }


def test_a_consent_is_answered_once(oauth: OAuthTestClient) -> None:
    flow = oauth.start(oauth.register()["client_id"])
    consent = oauth.sign_in(oauth.authorize(flow))
    assert oauth.decide(consent).status == 302
    again = oauth.decide(consent)
    assert again.status == 403
    assert '<code id="error-code">consent_expired</code>' in again.body


def test_a_loopback_redirect_may_change_its_port_only(oauth: OAuthTestClient) -> None:
    flow = oauth.start(oauth.register()["client_id"])
    assert oauth.authorize(flow, redirect_uri="http://127.0.0.1:50123/callback").status == 200
    other_path = oauth.authorize(flow, redirect_uri="http://127.0.0.1:50123/other")
    assert other_path.status == 400
    assert "redirect_uri is not registered for this client" in other_path.body


# --- the token endpoint -----------------------------------------------------------------------


def test_the_code_buys_a_bound_one_hour_luc_oat_token(oauth: OAuthTestClient) -> None:
    client_id = oauth.register()["client_id"]
    flow = oauth.start(client_id)
    reply = oauth.exchange(flow, oauth.code_for(flow))
    assert (reply.status, reply.headers) == (200, JSON_NO_STORE)
    body = json.loads(reply.body)
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == (
        "Bearer",
        3600,
        "read:lucent",
    )
    assert body["access_token"].startswith("luc_oat_")
    assert body["refresh_token"].startswith("luc_ort_")
    record = oauth.credentials.get(hash_secret(body["access_token"]))
    assert record is not None
    assert (record.kind, record.org_id, record.scopes) == (
        CredentialKind.OAUTH,
        "org_demo",
        frozenset({"read:lucent"}),
    )
    assert (record.client_id, record.resource) == (client_id, DATA_RESOURCE)
    assert record.expires_at == record.created_at + 3600
    assert record.family_id is not None
    assert record.family_id.startswith("fam_")
    assert oauth.usable(body["access_token"])
    stored = json.dumps(oauth.snapshot())
    assert body["access_token"] not in stored
    assert body["refresh_token"] not in stored


def test_the_mcp_resource_can_be_granted(oauth: OAuthTestClient) -> None:
    flow = oauth.start(oauth.register()["client_id"])
    code = oauth.code_for(flow, resource=MCP_RESOURCE)
    reply = oauth.exchange(flow, code, resource=MCP_RESOURCE)
    assert reply.status == 200
    record = oauth.credentials.get(hash_secret(json.loads(reply.body)["access_token"]))
    assert record is not None
    assert record.resource == MCP_RESOURCE


def test_a_replayed_code_is_refused_and_revokes_what_it_issued(oauth: OAuthTestClient) -> None:
    flow = oauth.start(oauth.register()["client_id"])
    code = oauth.code_for(flow)
    first = json.loads(oauth.exchange(flow, code).body)
    replay = oauth.exchange(flow, code)
    assert (replay.status, replay.headers) == (400, JSON_NO_STORE)
    assert error_of(replay) == {
        "error": "invalid_grant",
        "error_description": "Invalid 'code' in request.",
    }
    assert not oauth.usable(first["access_token"])
    assert oauth.refresh(flow.client_id, first["refresh_token"]).status == 400


def test_a_code_expires_after_60_seconds(oauth: OAuthTestClient, clock: Clock) -> None:
    flow = oauth.start(oauth.register()["client_id"])
    code = oauth.code_for(flow)
    clock.now += 60
    reply = oauth.exchange(flow, code)
    assert (reply.status, error_of(reply)["error"]) == (400, "invalid_grant")


def test_a_code_works_59_seconds_later(oauth: OAuthTestClient, clock: Clock) -> None:
    flow = oauth.start(oauth.register()["client_id"])
    code = oauth.code_for(flow)
    clock.now += 59
    assert oauth.exchange(flow, code).status == 200


def test_a_wrong_verifier_fails_and_leaves_the_code_usable(oauth: OAuthTestClient) -> None:
    flow = oauth.start(oauth.register()["client_id"])
    code = oauth.code_for(flow)
    wrong = oauth.exchange(flow, code, code_verifier="x" * 64)
    assert (wrong.status, error_of(wrong)) == (
        400,
        {"error": "invalid_grant", "error_description": "Code challenge failed."},
    )
    assert oauth.exchange(flow, code).status == 200


def test_confidential_clients_authenticate_with_basic(oauth: OAuthTestClient) -> None:
    import base64

    registered = oauth.register(token_endpoint_auth_method="client_secret_basic")
    flow = oauth.start(registered["client_id"])
    code = oauth.code_for(flow)
    basic = base64.b64encode(
        f"{registered['client_id']}:{registered['client_secret']}".encode()
    ).decode()
    without = oauth.exchange(flow, code)
    assert (without.status, error_of(without)["error"]) == (401, "invalid_client")
    reply = oauth.form(
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": flow.verifier,
        },
        headers={"Authorization": f"Basic {basic}"},
    )
    assert reply.status == 200, reply.body


# --- refresh ----------------------------------------------------------------------------------


def test_refresh_rotates_and_reuse_after_the_grace_revokes_the_family(
    oauth: OAuthTestClient, clock: Clock
) -> None:
    first = oauth.tokens()
    clock.now += 5
    second = json.loads(oauth.refresh(first["client_id"], first["refresh_token"]).body)
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert oauth.usable(first["access_token"])
    assert oauth.usable(second["access_token"])
    clock.now += REFRESH_REUSE_GRACE_SECONDS + 1
    reuse = oauth.refresh(first["client_id"], first["refresh_token"])
    assert (reuse.status, reuse.headers) == (400, JSON_NO_STORE)
    assert error_of(reuse) == {"error": "invalid_grant"}
    for token in (first["access_token"], second["access_token"]):
        assert not oauth.usable(token)
    assert oauth.refresh(first["client_id"], second["refresh_token"]).status == 400


def test_a_concurrent_retry_within_the_grace_keeps_the_family(
    oauth: OAuthTestClient, clock: Clock
) -> None:
    first = oauth.tokens()
    second = json.loads(oauth.refresh(first["client_id"], first["refresh_token"]).body)
    clock.now += REFRESH_REUSE_GRACE_SECONDS
    retry = oauth.refresh(first["client_id"], first["refresh_token"])
    assert retry.status == 200
    third = json.loads(retry.body)
    for token in (second["access_token"], third["access_token"]):
        assert oauth.usable(token)
    assert oauth.refresh(first["client_id"], third["refresh_token"]).status == 200


def test_refresh_may_narrow_but_never_broaden_the_scope(oauth: OAuthTestClient) -> None:
    first = oauth.tokens(scope="read:lucent")
    broader = oauth.refresh(
        first["client_id"], first["refresh_token"], scope="read:lucent write:issues"
    )
    assert (broader.status, error_of(broader)["error"]) == (400, "invalid_scope")
    assert oauth.usable(first["access_token"])


# --- scopes and step-up (docs/oauth.md, "Scopes and step-up") ---------------------------------


def test_a_client_registered_for_reading_steps_up_with_the_persons_consent(
    oauth: OAuthTestClient,
) -> None:
    """What the MCP Python SDK does: register with the 401 challenge's scope, then answer the
    403 insufficient_scope by authorizing the same registration for the wider scope."""
    registered = oauth.register(scope="read:lucent")
    assert registered["scope"] == "read:lucent"
    client_id = registered["client_id"]
    first = oauth.tokens(client_id, scope="read:lucent")
    assert first["scope"] == "read:lucent"

    flow = oauth.start(client_id)
    # Any order, repeated: granted in the documented order, once each.
    page = oauth.authorize(flow, scope="write:issues read:lucent write:issues")
    assert page.status == 200, page.body
    assert (
        "<li><code>read:lucent</code>: Read issues, signals, and insights.</li>"
        "<li><code>write:issues</code>: Update issue status.</li>"
    ) in page.body
    consent = oauth.sign_in(page)
    redirect = oauth.decide(consent)
    assert redirect.status == 302, redirect.body
    code = query_of(redirect.headers["Location"])["code"][0]
    reply = oauth.exchange(flow, code)
    assert reply.status == 200, reply.body
    wider = json.loads(reply.body)
    assert wider["scope"] == "read:lucent write:issues"
    record = oauth.credentials.get(hash_secret(wider["access_token"]))
    assert record is not None
    assert (record.client_id, record.scopes) == (
        client_id,
        frozenset({"read:lucent", "write:issues"}),
    )
    # The step-up is a new consent of its own: the earlier, narrower grant is untouched.
    earlier = oauth.credentials.get(hash_secret(first["access_token"]))
    assert earlier is not None
    assert record.family_id != earlier.family_id
    assert oauth.usable(first["access_token"])
    assert oauth.usable(wider["access_token"])


def test_a_declined_step_up_leaves_the_earlier_grant_working(oauth: OAuthTestClient) -> None:
    client_id = oauth.register(scope="read:lucent")["client_id"]
    first = oauth.tokens(client_id, scope="read:lucent")
    flow = oauth.start(client_id)
    before = oauth.snapshot()
    denied = oauth.decide(
        oauth.sign_in(oauth.authorize(flow, scope="read:lucent write:issues")), action="deny"
    )
    assert denied.status == 302
    assert query_of(denied.headers["Location"])["error"] == ["access_denied"]
    # Nothing was granted: no code, no token (the consent session is the one item consumed).
    assert oauth.snapshot()["CredentialsTable"] == before["CredentialsTable"]
    assert oauth.usable(first["access_token"])


@pytest.mark.parametrize(
    "scope", ["read:lucent admin:all", "write:issues write:everything", "READ:LUCENT"]
)
def test_a_registered_client_still_cannot_ask_for_an_unknown_scope(
    oauth: OAuthTestClient, scope: str
) -> None:
    client_id = oauth.register(scope="read:lucent write:issues")["client_id"]
    # A client a person has approved gets the error at its redirect URI (an unapproved one, an
    # error page: test_oauth_grants.py).
    oauth.code_for(oauth.start(client_id))
    flow = oauth.start(client_id)
    before = oauth.snapshot()
    refused = oauth.authorize(flow, scope=scope)
    assert refused.status == 302
    assert query_of(refused.headers["Location"]) == {
        "error": ["invalid_scope"],
        "error_description": ["The requested scope is invalid, unknown, or malformed."],
        "state": [flow.state],
        "iss": [ISSUER],
    }
    assert oauth.snapshot() == before


def test_refresh_by_another_client_is_refused(oauth: OAuthTestClient) -> None:
    first = oauth.tokens()
    other = oauth.register()["client_id"]
    reply = oauth.refresh(other, first["refresh_token"])
    assert (reply.status, error_of(reply)["error"]) == (400, "invalid_grant")
    assert oauth.refresh(first["client_id"], first["refresh_token"]).status == 200


# --- revocation -------------------------------------------------------------------------------


def test_revoking_an_access_token_ends_it(oauth: OAuthTestClient) -> None:
    tokens = oauth.tokens()
    reply = oauth.form(
        "/oauth/revoke", {"token": tokens["access_token"], "client_id": tokens["client_id"]}
    )
    assert (reply.status, reply.body) == (200, "")
    assert reply.headers["Cache-Control"] == "no-store"
    assert not oauth.usable(tokens["access_token"])
    assert oauth.refresh(tokens["client_id"], tokens["refresh_token"]).status == 200


def test_revoking_a_refresh_token_ends_the_family(oauth: OAuthTestClient) -> None:
    tokens = oauth.tokens()
    reply = oauth.form(
        "/oauth/revoke",
        {
            "token": tokens["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": tokens["client_id"],
        },
    )
    assert (reply.status, reply.body) == (200, "")
    assert not oauth.usable(tokens["access_token"])
    assert oauth.refresh(tokens["client_id"], tokens["refresh_token"]).status == 400


@pytest.mark.parametrize("token", ["luc_oat_unknown", "nonsense", "luc_ort_" + "A" * 43])
def test_revoking_an_unknown_token_answers_200(oauth: OAuthTestClient, token: str) -> None:
    client_id = oauth.register()["client_id"]
    before = oauth.snapshot()
    reply = oauth.form("/oauth/revoke", {"token": token, "client_id": client_id})
    assert (reply.status, reply.body) == (200, "")
    assert oauth.snapshot() == before


def test_another_clients_token_is_answered_200_and_kept(oauth: OAuthTestClient) -> None:
    tokens = oauth.tokens()
    other = oauth.register()["client_id"]
    reply = oauth.form("/oauth/revoke", {"token": tokens["access_token"], "client_id": other})
    assert reply.status == 200
    assert oauth.usable(tokens["access_token"])
