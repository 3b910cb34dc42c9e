"""``lucent keys create|revoke|list`` against moto: what an operator runs, and sees."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from lucent.auth.credentials import CredentialKind, hash_secret, kind_of
from lucent_dev.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def item(dynamodb: Any, table: str, secret: str) -> dict[str, Any]:
    found: dict[str, Any] = dynamodb.get_item(
        TableName=table, Key={"key_hash": {"S": hash_secret(secret)}}
    )["Item"]
    return found


@pytest.mark.parametrize(
    ("args", "kind", "scopes"),
    [
        (["--kind", "public"], CredentialKind.PUBLIC, ""),
        (["--kind", "api"], CredentialKind.API, "read:lucent"),
        (
            ["--kind", "api", "--allow-issue-status-updates"],
            CredentialKind.API,
            "read:lucent write:issues",
        ),
        (["--kind", "oauth", "--scopes", "read:lucent"], CredentialKind.OAUTH, "read:lucent"),
        (["--kind", "mcp"], CredentialKind.MCP, "read:lucent"),
    ],
)
def test_create_prints_only_the_secret_on_stdout(  # noqa: PLR0917 - fixtures and parameters
    capsys: pytest.CaptureFixture[str],
    dynamodb: Any,
    aws: dict[str, str],
    args: list[str],
    kind: CredentialKind,
    scopes: str,
) -> None:
    code, out, err = run(capsys, "keys", "create", "--org", "org_cli", *args, "--label", "t")
    assert code == 0
    secret = out.strip()
    assert out == secret + "\n"
    assert kind_of(secret) is kind
    stored = item(dynamodb, aws["CredentialsTable"], secret)
    assert stored["org_id"]["S"] == "org_cli"
    assert stored["scopes"]["S"] == scopes
    assert secret not in err
    assert re.match(r"created cred_[0-9a-f]{16} \(" + kind.value, err)


def test_create_with_tier_and_expiry(
    capsys: pytest.CaptureFixture[str], dynamodb: Any, aws: dict[str, str]
) -> None:
    _, out, _ = run(
        capsys, "keys", "create", "--org", "o", "--kind", "public", "--rate-limit", "1000"
    )
    assert (
        item(dynamodb, aws["CredentialsTable"], out.strip())["rate_limit_per_minute"]["N"] == "1000"
    )
    _, out, _ = run(
        capsys,
        "keys",
        "create",
        "--org",
        "o",
        "--kind",
        "oauth",
        "--scopes",
        "read:lucent",
        "write:issues",
        "--expires-in",
        "600",
    )
    stored = item(dynamodb, aws["CredentialsTable"], out.strip())
    assert int(stored["expires_at"]["N"]) - int(stored["created_at"]["N"]) == 600
    assert stored["scopes"]["S"] == "read:lucent write:issues"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--kind", "oauth", "--scopes", "admin:all"],
            "lucent: unknown scope: admin:all (known scopes: read:lucent, write:issues)\n",
        ),
        (
            ["--kind", "oauth"],
            "lucent: OAuth tokens carry exactly the scopes requested: pass --scopes\n",
        ),
        (
            ["--kind", "api", "--rate-limit", "5"],
            "lucent: --rate-limit applies to public ingest keys only\n",
        ),
    ],
)
def test_create_refusals_are_one_line_with_status_2(
    capsys: pytest.CaptureFixture[str],
    dynamodb: Any,
    aws: dict[str, str],
    args: list[str],
    message: str,
) -> None:
    code, out, err = run(capsys, "keys", "create", "--org", "org_cli", *args)
    assert (code, out, err) == (2, "", message)
    assert dynamodb.scan(TableName=aws["CredentialsTable"])["Count"] == 0


def test_list_shows_no_secret_and_revoke_by_id_or_secret(
    capsys: pytest.CaptureFixture[str], dynamodb: Any, aws: dict[str, str]
) -> None:
    secrets = [
        run(capsys, "keys", "create", "--org", "org_l", "--kind", k)[1].strip()
        for k in ("public", "api")
    ]
    run(capsys, "keys", "create", "--org", "org_other", "--kind", "api")
    code, out, _ = run(capsys, "keys", "list", "--org", "org_l", "--json")
    assert code == 0
    listed = sorted(json.loads(out), key=lambda c: c["kind"], reverse=True)  # public, api
    assert [c["kind"] for c in listed] == ["public", "api"]
    assert {c["org_id"] for c in listed} == {"org_l"}
    for secret in secrets:
        assert secret not in out
        assert secret[-4:] in {c["last4"] for c in listed}
    # revoke the public key by id, the API key by its secret
    code, out, _ = run(capsys, "keys", "revoke", listed[0]["credential_id"])
    assert code == 0
    assert out.startswith(f"revoked {listed[0]['credential_id']} at ")
    code, out, _ = run(capsys, "keys", "revoke", secrets[1])
    assert code == 0
    assert secrets[1] not in out
    code, out, _ = run(capsys, "keys", "list", "--org", "org_l")
    table = out.splitlines()
    assert table[0].split() == ["ID", "KIND", "KEY", "SCOPES", "STATUS", "LABEL"]
    assert [row.split()[4] for row in table[1:]] == ["revoked", "revoked"]
    assert all(secret not in out for secret in secrets)


def test_revoke_unknown_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], aws: dict[str, str]
) -> None:
    assert run(capsys, "keys", "revoke", "cred_0000000000000000") == (
        2,
        "",
        "lucent: no such credential: cred_0000000000000000\n",
    )
    assert run(capsys, "keys", "revoke", "not-a-key") == (
        2,
        "",
        "lucent: give a credential (luc_...) or a credential id (cred_...)\n",
    )


def test_local_without_a_running_dev_server_says_what_to_do(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from lucent_dev import target

    monkeypatch.setattr(target, "DEV_STATE_PATH", tmp_path / "dev.json")
    code, out, err = run(capsys, "keys", "list", "--org", "o", "--local")
    assert (code, out) == (2, "")
    assert (
        err
        == f"lucent: {tmp_path / 'dev.json'} not found: start the local API with `make dev` first\n"
    )
