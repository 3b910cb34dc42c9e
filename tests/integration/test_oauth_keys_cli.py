"""``lucent keys list|revoke`` shows and ends OAuth grants like any other credential."""

from __future__ import annotations

import json

import boto3
import pytest

from lucent_dev import identity
from lucent_dev.cli import main
from tests.unit.oauth_support import Clock, OAuthTestClient


@pytest.fixture
def oauth(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> OAuthTestClient:
    names = dict(aws)
    names.update(identity.provision(boto3.client("cognito-idp", region_name="us-east-1")))
    monkeypatch.setenv("OAUTH_TABLE", names["OAuthTable"])
    import time

    return OAuthTestClient(names, Clock(time.time()))


def test_list_shows_the_grant_and_revoking_its_token_ends_the_grant(
    oauth: OAuthTestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = oauth.tokens()
    assert main(["keys", "list", "--org", "org_demo", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    (grant,) = [c for c in listed if c.get("client_id") == tokens["client_id"]]
    assert grant["kind"] == "oauth"
    assert grant["label"] == "OAuth: Claude Code"
    assert grant["resource"] == "https://auth.lucent.test/api/v1"
    assert grant["scopes"] == ["read:lucent"]
    assert main(["keys", "list", "--org", "org_demo"]) == 0
    table = capsys.readouterr().out
    assert f"(grant {grant['family_id']}, client {tokens['client_id']}," in table

    assert main(["keys", "revoke", grant["credential_id"]]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"revoked {grant['credential_id']} at ")
    assert out.splitlines()[1].startswith(
        f"revoked OAuth grant {grant['family_id']} (client {tokens['client_id']}, 1 access token(s)) at "
    )
    assert not oauth.usable(tokens["access_token"])
    refused = oauth.refresh(tokens["client_id"], tokens["refresh_token"])
    assert (refused.status, json.loads(refused.body)) == (400, {"error": "invalid_grant"})


def test_a_grant_can_be_revoked_by_its_id(
    oauth: OAuthTestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    first = oauth.tokens()
    second = json.loads(oauth.refresh(first["client_id"], first["refresh_token"]).body)
    assert main(["keys", "list", "--org", "org_demo", "--json"]) == 0
    family = {c["family_id"] for c in json.loads(capsys.readouterr().out) if "family_id" in c}
    (family_id,) = family
    assert main(["keys", "revoke", family_id]) == 0
    assert "2 access token(s)" in capsys.readouterr().out
    assert not oauth.usable(first["access_token"])
    assert not oauth.usable(second["access_token"])


def test_an_unknown_grant_is_a_usage_error(
    oauth: OAuthTestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "revoke", "fam_unknown"]) == 2
    assert capsys.readouterr().err == "lucent: no such OAuth grant: fam_unknown\n"
