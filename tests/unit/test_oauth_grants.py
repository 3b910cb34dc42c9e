"""Issue 17, findings 6, 7 and 10 (docs/decisions/019-oauth-grants.md):

- errors of the authorization endpoint go back to a redirect URI only once a person has approved
  that client (RFC 9700 section 4.11.2); before, they are an HTML page;
- a rotated refresh token may be replayed once, within the grace, and then answers with the very
  successor it was rotated to; any other reuse revokes the whole grant;
- the consent page's sign-in is throttled per source IP and per user name, and every failure
  gets a new CSRF token.

The real service over moto's DynamoDB and Cognito, as in test_oauth.py."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from lucent.auth.credentials import hash_secret
from lucent.oauth.limits import SignInRateLimit
from lucent.oauth.models import hash_value
from lucent.oauth.policy import ACCESS_TOKEN_SECONDS, REFRESH_REUSE_GRACE_SECONDS
from lucent.oauth.store import OAuthStore
from lucent.ratelimit.limiter import RateLimiter
from lucent.ratelimit.store import RateLimitStore
from lucent_dev import identity
from tests.unit.oauth_support import (
    CSRF_COOKIE,
    ISSUER,
    JSON_NO_STORE,
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


def item(oauth: OAuthTestClient, pk: str) -> dict[str, Any]:
    found = oauth.dynamodb.get_item(TableName=oauth.names["OAuthTable"], Key={"pk": {"S": pk}})
    return dict(found.get("Item") or {})


def person_subject(oauth: OAuthTestClient) -> str:
    user = oauth.cognito.admin_get_user(
        UserPoolId=oauth.names["OAuthUserPool"], Username=identity.DEMO_USERNAME
    )
    return next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")


# --- finding 6: no redirect to a client no person has approved -------------------------------

# Requests whose client and redirect URI are valid but which fail later: each would have been a
# 302 to the redirect URI (RFC 6749 section 4.1.2.1) with this error and description.
LATE_ERRORS = {
    "unknown scope": (
        {"scope": "read:lucent admin:all"},
        "invalid_scope",
        "The requested scope is invalid, unknown, or malformed.",
    ),
    "no scope": (
        {"scope": None},
        "invalid_scope",
        "The requested scope is invalid, unknown, or malformed.",
    ),
    "no PKCE": (
        {"code_challenge": None},
        "invalid_request",
        "PKCE is required: send code_challenge (S256)",
    ),
    "plain PKCE": (
        {"code_challenge_method": "plain"},
        "invalid_request",
        "code_challenge_method must be S256",
    ),
    "foreign resource": (
        {"resource": "https://evil.example/api"},
        "invalid_target",
        "resource is not served by this authorization server",
    ),
    "token response type": (
        {"response_type": "token"},
        "unsupported_response_type",
        "token",  # authlib names the response type it refused
    ),
}


@pytest.mark.parametrize("name", sorted(LATE_ERRORS))
def test_an_unapproved_client_gets_the_error_as_a_page_not_a_redirect(
    oauth: OAuthTestClient, name: str
) -> None:
    overrides, error, description = LATE_ERRORS[name]
    flow = oauth.start(oauth.register()["client_id"])
    before = oauth.snapshot()
    reply = oauth.authorize(flow, **overrides)
    assert reply.status == 400, reply.headers
    assert "Location" not in reply.headers
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert reply.headers["Cache-Control"] == "no-store"
    assert f'<code id="error-code">{error}</code>' in reply.body
    assert f'<p id="error">{description}</p>' in reply.body
    assert "<h1>This authorization request cannot be used</h1>" in reply.body
    # Nothing names the redirect URI the request carried.
    assert "127.0.0.1" not in reply.body
    assert oauth.snapshot() == before
    assert oauth.outcome.error == error


def test_an_unapproved_clients_error_posted_with_the_sign_in_form_is_a_page(
    oauth: OAuthTestClient,
) -> None:
    flow = oauth.start(oauth.register()["client_id"])
    page = oauth.authorize(flow)
    fields = hidden_fields(page.body)
    bad = urlencode(oauth.authorize_params(flow, scope="admin:all"))
    reply = oauth.form(
        "/oauth/authorize",
        {**fields, "request": bad, "username": "x", "password": "y", "action": "sign_in"},
    )
    assert reply.status == 400
    assert "Location" not in reply.headers
    assert '<code id="error-code">invalid_scope</code>' in reply.body


def test_approval_by_a_person_is_recorded_on_the_client(
    oauth: OAuthTestClient, clock: Clock
) -> None:
    client_id = oauth.register()["client_id"]
    pk = f"CLIENT#{client_id}"
    assert "approved_at" not in item(oauth, pk)
    # Signing in, and denying, approve nothing.
    flow = oauth.start(client_id)
    assert oauth.decide(oauth.sign_in(oauth.authorize(flow)), action="deny").status == 302
    assert "approved_at" not in item(oauth, pk)
    clock.now += 7
    oauth.code_for(oauth.start(client_id))
    stored = item(oauth, pk)
    assert stored["approved_at"] == {"N": str(int(clock.now))}
    assert stored["approved_by"] == {"S": person_subject(oauth)}
    # The first approval is kept.
    clock.now += 100
    oauth.code_for(oauth.start(client_id))
    again = item(oauth, pk)
    assert (again["approved_at"], again["approved_by"]) == (
        stored["approved_at"],
        stored["approved_by"],
    )


@pytest.mark.parametrize("name", sorted(LATE_ERRORS))
def test_once_a_person_approved_the_client_errors_redirect_to_it(
    oauth: OAuthTestClient, name: str
) -> None:
    overrides, error, description = LATE_ERRORS[name]
    client_id = oauth.register()["client_id"]
    oauth.code_for(oauth.start(client_id))
    flow = oauth.start(client_id)
    before = oauth.snapshot()
    reply = oauth.authorize(flow, **overrides)
    assert reply.status == 302
    assert reply.headers["Location"].startswith(REDIRECT + "?")
    assert query_of(reply.headers["Location"]) == {
        "error": [error],
        "error_description": [description],
        "state": [flow.state],
        "iss": [ISSUER],
    }
    assert oauth.snapshot() == before


@pytest.mark.parametrize(
    ("overrides", "error", "text"),
    [
        (
            {"redirect_uri": "https://evil.example/cb"},
            "invalid_request",
            "redirect_uri is not registered for this client",
        ),
        ({"redirect_uri": None}, "invalid_request", "redirect_uri is required"),
        (
            {"client_id": "lcl_unknown00000000000"},
            "invalid_client",
            "This application is not registered.",
        ),
    ],
)
def test_a_bad_client_or_redirect_uri_is_a_page_even_for_an_approved_client(
    oauth: OAuthTestClient, overrides: dict[str, str | None], error: str, text: str
) -> None:
    client_id = oauth.register()["client_id"]
    oauth.code_for(oauth.start(client_id))
    reply = oauth.authorize(oauth.start(client_id), scope="admin:all", **overrides)
    assert reply.status == 400
    assert "Location" not in reply.headers
    assert f'<code id="error-code">{error}</code>' in reply.body
    assert text in reply.body


# --- finding 7: one grace reuse, the same successor; then the grant ends ---------------------


def test_a_grace_reuse_answers_the_same_successor(oauth: OAuthTestClient, clock: Clock) -> None:
    first = oauth.tokens()
    rotated = oauth.refresh(first["client_id"], first["refresh_token"])
    assert rotated.status == 200
    second = json.loads(rotated.body)
    clock.now += 3
    replay = oauth.refresh(first["client_id"], first["refresh_token"])
    assert (replay.status, replay.headers) == (200, JSON_NO_STORE)
    assert json.loads(replay.body) == {**second, "expires_in": ACCESS_TOKEN_SECONDS - 3}
    assert oauth.outcome.notes == ["refresh_retry"]
    assert oauth.usable(second["access_token"])
    # The old token's item records the rotation and the one replay; the successor only by hash.
    stored = item(oauth, f"REFRESH#{hash_value(first['refresh_token'])}")
    assert stored["rotated_at"] == {"N": str(int(clock.now) - 3)}
    assert stored["replayed_at"] == {"N": str(int(clock.now))}
    assert stored["successor_hash"] == {"S": hash_value(second["refresh_token"])}
    everything = json.dumps(oauth.snapshot())
    for secret in (second["refresh_token"], second["access_token"], first["refresh_token"]):
        assert secret not in everything
    # The successor goes on as the only branch.
    third = oauth.refresh(first["client_id"], second["refresh_token"])
    assert third.status == 200


def test_three_replays_within_the_grace_fork_nothing_and_end_the_grant(
    oauth: OAuthTestClient, clock: Clock
) -> None:
    """The issue's reproduction: three uses within the grace each got 200, and two branches
    kept refreshing."""
    first = oauth.tokens()
    statuses, bodies = [], []
    for _ in range(3):
        clock.now += 1
        reply = oauth.refresh(first["client_id"], first["refresh_token"])
        statuses.append(reply.status)
        bodies.append(json.loads(reply.body))
    assert statuses == [200, 200, 400]
    assert bodies[1]["refresh_token"] == bodies[0]["refresh_token"]
    assert bodies[1]["access_token"] == bodies[0]["access_token"]
    assert bodies[2] == {"error": "invalid_grant"}
    assert oauth.outcome.notes == ["refresh_reuse"]
    # Every token of the grant is dead: access tokens, the successor, the original.
    for token in (first["access_token"], bodies[0]["access_token"]):
        assert not oauth.usable(token)
        record = oauth.credentials.get(hash_secret(token))
        assert record is not None
        assert record.revoked_at == int(clock.now)
    assert oauth.refresh(first["client_id"], bodies[0]["refresh_token"]).status == 400
    granted = oauth.credentials.get(hash_secret(first["access_token"]))
    assert granted is not None
    family = item(oauth, f"FAMILY#{granted.family_id}")
    assert family["revoked_at"] == {"N": str(int(clock.now))}


def test_a_replay_after_the_successor_was_used_ends_the_grant(
    oauth: OAuthTestClient, clock: Clock
) -> None:
    first = oauth.tokens()
    second = json.loads(oauth.refresh(first["client_id"], first["refresh_token"]).body)
    third = json.loads(oauth.refresh(first["client_id"], second["refresh_token"]).body)
    clock.now += 1
    replay = oauth.refresh(first["client_id"], first["refresh_token"])
    assert (replay.status, json.loads(replay.body)) == (400, {"error": "invalid_grant"})
    assert not oauth.usable(third["access_token"])
    assert oauth.refresh(first["client_id"], third["refresh_token"]).status == 400


def test_a_replay_with_another_client_is_refused_and_changes_nothing(
    oauth: OAuthTestClient,
) -> None:
    first = oauth.tokens()
    other = oauth.register()["client_id"]
    second = json.loads(oauth.refresh(first["client_id"], first["refresh_token"]).body)
    before = oauth.snapshot()
    reply = oauth.refresh(other, first["refresh_token"])
    assert (reply.status, json.loads(reply.body)) == (400, {"error": "invalid_grant"})
    assert oauth.snapshot() == before
    assert oauth.usable(second["access_token"])


def test_only_one_of_two_racing_rotations_or_replays_wins(
    oauth: OAuthTestClient, clock: Clock
) -> None:
    """The store's conditions, called as two racing requests would (each after its own read)."""
    first = oauth.tokens()
    store = OAuthStore(oauth.dynamodb, oauth.names["OAuthTable"])
    token_hash = hash_value(first["refresh_token"])
    now = int(clock.now)
    assert store.rotate_refresh(token_hash, now, "a" * 64, b"wrapped-a") is True
    assert store.rotate_refresh(token_hash, now, "b" * 64, b"wrapped-b") is False
    won = store.claim_replay(token_hash, now + 1, REFRESH_REUSE_GRACE_SECONDS)
    assert won is not None
    assert (won.successor_hash, won.successor_wrapped) == ("a" * 64, b"wrapped-a")
    assert store.claim_replay(token_hash, now + 1, REFRESH_REUSE_GRACE_SECONDS) is None


def test_no_replay_after_the_grace(oauth: OAuthTestClient, clock: Clock) -> None:
    first = oauth.tokens()
    store = OAuthStore(oauth.dynamodb, oauth.names["OAuthTable"])
    token_hash = hash_value(first["refresh_token"])
    now = int(clock.now)
    assert store.rotate_refresh(token_hash, now, "a" * 64, b"w") is True
    late = now + REFRESH_REUSE_GRACE_SECONDS + 1
    assert store.claim_replay(token_hash, late, REFRESH_REUSE_GRACE_SECONDS) is None


# --- finding 10: the sign-in is throttled ----------------------------------------------------


class Throttled(OAuthTestClient):
    def __init__(self, names: dict[str, str], clock: Clock, per_ip: int, per_user: int) -> None:
        super().__init__(names, clock)
        limiter = RateLimiter(RateLimitStore(self.dynamodb, names["RateLimitTable"]), clock=clock)
        self.sign_in_limit = SignInRateLimit(limiter, per_ip=per_ip, per_username=per_user)


SLOW_DOWN = "Too many sign-in attempts. Wait a minute, then try again."


def test_sign_in_is_limited_per_source_ip(names: dict[str, str], clock: Clock) -> None:
    oauth = Throttled(names, clock, per_ip=5, per_user=100)
    flow = oauth.start(oauth.register()["client_id"])
    page = oauth.authorize(flow)
    statuses = []
    for n in range(8):
        page_after = oauth.sign_in(page, username=f"guess{n}@x.example", password="Wrong-1")
        statuses.append(page_after.status)
        page = page_after
    assert statuses == [401] * 5 + [429] * 3
    assert page.headers["Retry-After"] == "60"
    assert f'<p class="error" id="error">{SLOW_DOWN}</p>' in page.body
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    # The right password is refused too while the address is throttled (Cognito is not asked).
    right = oauth.sign_in(page)
    assert right.status == 429
    # Another address is not.
    other = oauth.form(
        "/oauth/authorize",
        {
            **hidden_fields(right.body),
            "username": identity.DEMO_USERNAME,
            "password": identity.DEMO_PASSWORD,
            "action": "sign_in",
        },
        ip="198.51.100.7",
    )
    assert other.status == 200
    clock.now += 61
    assert oauth.sign_in(oauth.authorize(flow)).status == 200


def test_sign_in_is_limited_per_user_name_across_addresses(
    names: dict[str, str], clock: Clock
) -> None:
    oauth = Throttled(names, clock, per_ip=100, per_user=3)
    flow = oauth.start(oauth.register()["client_id"])
    page = oauth.authorize(flow)
    statuses = []
    for n in range(5):
        # The same account, spelt differently, from five addresses.
        username = identity.DEMO_USERNAME.upper() if n % 2 else f" {identity.DEMO_USERNAME}"
        page = oauth.form(
            "/oauth/authorize",
            {
                **hidden_fields(page.body),
                "username": username,
                "password": "Wrong-1",
                "action": "sign_in",
            },
            ip=f"192.0.2.{n}",
        )
        statuses.append(page.status)
    assert statuses == [401, 401, 401, 429, 429]
    assert page.headers["Retry-After"] == "60"
    assert SLOW_DOWN in page.body
    another_person = oauth.form(
        "/oauth/authorize",
        {
            **hidden_fields(page.body),
            "username": "someone@else.example",
            "password": "x",
            "action": "sign_in",
        },
        ip="192.0.2.9",
    )
    assert another_person.status == 401
    # The limiter's keys hold no user name.
    counters = json.dumps(oauth.dynamodb.scan(TableName=names["RateLimitTable"])["Items"])
    assert identity.DEMO_USERNAME.lower() not in counters.lower()
    assert "someone" not in counters


@pytest.mark.parametrize("status", [401, 429])
def test_every_refused_sign_in_issues_a_new_csrf_token(
    names: dict[str, str], clock: Clock, status: int
) -> None:
    # The 401 case without any limiter: a refusal by Cognito alone renews the token too.
    oauth = (
        Throttled(names, clock, per_ip=1, per_user=100)
        if status == 429
        else OAuthTestClient(names, clock)
    )
    flow = oauth.start(oauth.register()["client_id"])
    page = oauth.authorize(flow)
    if status == 429:
        page = oauth.sign_in(page, password="Wrong-1")
    old = hidden_fields(page.body)["csrf_token"]
    old_cookie = oauth.cookies[CSRF_COOKIE]
    assert old == old_cookie
    refused = oauth.sign_in(page, password="Wrong-1")
    assert refused.status == status
    new = hidden_fields(refused.body)["csrf_token"]
    assert len(new) == 43
    assert new != old
    assert refused.headers["Set-Cookie"] == (
        f"{CSRF_COOKIE}={new}; Path=/; Max-Age=1800; HttpOnly; SameSite=Strict; Secure"
    )
    assert oauth.cookies[CSRF_COOKIE] == new
    # The old form no longer posts.
    stale = oauth.form(
        "/oauth/authorize",
        {**hidden_fields(page.body), "username": "a", "password": "b", "action": "sign_in"},
    )
    assert stale.status == 403
    assert '<code id="error-code">csrf</code>' in stale.body


def test_a_throttled_sign_in_changes_nothing_but_the_counters(
    names: dict[str, str], clock: Clock
) -> None:
    oauth = Throttled(names, clock, per_ip=1, per_user=100)
    flow = oauth.start(oauth.register()["client_id"])
    page = oauth.sign_in(oauth.authorize(flow), password="Wrong-1")
    before = oauth.snapshot()
    refused = oauth.sign_in(page)
    assert refused.status == 429
    assert oauth.snapshot() == before
    assert oauth.outcome.error == "sign_in_throttled"
