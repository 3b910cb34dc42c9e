"""Credential format, issuance rules, storage and authentication (domain, moto-backed)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from lucent.auth.authenticator import Authenticator
from lucent.auth.credentials import (
    PREFIXES,
    CredentialIssueError,
    CredentialKind,
    generate_secret,
    hash_secret,
    issue_credential,
    kind_of,
)
from lucent.auth.store import CredentialStore
from lucent.errors import (
    CredentialStoreUnavailable,
    InvalidApiKey,
    InvalidBearerToken,
    MissingApiKey,
)
from tests.helpers import store_credential

DATA = "https://api.lucent.test/api/v1"  # the resource server being called
ALL_KINDS = list(CredentialKind)


def test_public_keys_keep_the_documented_look() -> None:
    for _ in range(50):
        key = generate_secret(CredentialKind.PUBLIC)
        assert re.fullmatch(r"luc_pk_[0-9a-f]{40}", key), key
        assert kind_of(key) is CredentialKind.PUBLIC


@pytest.mark.parametrize(
    ("kind", "prefix"),
    [
        (CredentialKind.API, "luc_api_"),
        (CredentialKind.OAUTH, "luc_oat_"),
        (CredentialKind.MCP, "luc_mcp_"),
    ],
)
def test_bearer_tokens_have_prefix_base62_body_and_checksum(
    kind: CredentialKind, prefix: str
) -> None:
    token = generate_secret(kind)
    assert re.fullmatch(re.escape(prefix) + r"[0-9A-Za-z]{36}", token)
    assert kind_of(token) is kind


def test_secrets_are_random() -> None:
    assert len({generate_secret(CredentialKind.API) for _ in range(1000)}) == 1000


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_single_character_typo_is_refused_by_the_checksum(kind: CredentialKind) -> None:
    secret = generate_secret(kind)
    prefix_len = len(PREFIXES[kind])
    alphabet = "0123456789abcdef" if kind is CredentialKind.PUBLIC else "0123456789Az"
    for position in range(prefix_len, len(secret)):
        for replacement in alphabet:
            if replacement == secret[position]:
                continue
            typo = secret[:position] + replacement + secret[position + 1 :]
            assert kind_of(typo) is None, typo


def test_malformed_and_foreign_strings_are_not_credentials() -> None:
    secret = generate_secret(CredentialKind.API)
    for candidate in [
        "",
        "luc_pk_",
        "luc_api_",
        secret[:-1],
        secret + "0",
        secret.replace("luc_api_", "luc_oat_"),  # re-prefixed: checksum covers the prefix
        secret.replace("luc_api_", "LUC_API_"),
        "ghp_" + secret[8:],
        "luc_xyz_" + secret[8:],
        generate_secret(CredentialKind.PUBLIC).upper().replace("LUC_PK_", "luc_pk_"),
    ]:
        assert kind_of(candidate) is None, candidate


def test_api_keys_default_to_read_and_the_option_adds_write_issues() -> None:
    assert issue_credential(CredentialKind.API, "org_a").record.scopes == {"read:lucent"}
    record = issue_credential(CredentialKind.API, "org_a", allow_issue_status_updates=True).record
    assert record.scopes == {"read:lucent", "write:issues"}


def test_oauth_tokens_carry_exactly_the_requested_scopes_and_expire() -> None:
    record = issue_credential(
        CredentialKind.OAUTH, "org_a", scopes=["write:issues"], now=1000
    ).record
    assert record.scopes == {"write:issues"}
    assert record.expires_at == 1000 + 3600
    record = issue_credential(
        CredentialKind.OAUTH, "org_a", scopes=["read:lucent"], expires_in=60, now=1000
    ).record
    assert record.expires_at == 1060


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        (
            CredentialKind.OAUTH,
            {"scopes": ["read:lucent", "admin:all"]},
            "unknown scope: admin:all",
        ),
        (CredentialKind.API, {"scopes": ["delete:everything"]}, "unknown scope: delete:everything"),
        (CredentialKind.OAUTH, {}, "OAuth tokens carry exactly the scopes requested"),
        (CredentialKind.PUBLIC, {"scopes": ["read:lucent"]}, "public keys are write-only"),
        (CredentialKind.PUBLIC, {"allow_issue_status_updates": True}, "public keys are write-only"),
        (
            CredentialKind.MCP,
            {"allow_issue_status_updates": True},
            "legacy luc_mcp_ keys carry read:lucent only",
        ),
        (
            CredentialKind.API,
            {"rate_limit": 500},
            "--rate-limit applies to public ingest keys only",
        ),
        (CredentialKind.PUBLIC, {"rate_limit": 0}, "--rate-limit must be at least 1"),
        (CredentialKind.API, {"expires_in": 0}, "--expires-in must be a positive number"),
    ],
)
def test_issuance_refuses_with_a_clear_message(
    kind: CredentialKind, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(CredentialIssueError, match=re.escape(message)):
        issue_credential(kind, "org_a", **options)


@pytest.mark.parametrize("org_id", ["", " ", "org#a", "org/a", "a" * 65, "_org", "org a", "örg"])
def test_organization_ids_cannot_carry_key_separators(org_id: str) -> None:
    with pytest.raises(CredentialIssueError, match="an organization id is 1-64 letters"):
        issue_credential(CredentialKind.API, org_id)


def test_record_keeps_limit_label_last4_and_no_secret() -> None:
    issued = issue_credential(CredentialKind.PUBLIC, "org_a", rate_limit=1000, label="site", now=5)
    record = issued.record
    assert record.rate_limit_per_minute == 1000
    assert record.label == "site"
    assert record.last4 == issued.secret[-4:]
    assert record.created_at == 5
    assert issued.key_hash == hash_secret(issued.secret)
    assert issued.secret not in repr(record)


def test_no_plaintext_in_the_credentials_table(dynamodb: Any, aws: dict[str, str]) -> None:
    table = aws["CredentialsTable"]
    secrets = []
    for kind in ALL_KINDS:
        options: dict[str, Any] = (
            {"scopes": ["read:lucent"]} if kind is CredentialKind.OAUTH else {}
        )
        secrets.append(
            store_credential(dynamodb, table, kind, "org_a", label="l", **options).secret
        )
    items = dynamodb.scan(TableName=table)["Items"]
    assert len(items) == len(ALL_KINDS)
    dumped = repr(items)
    for secret in secrets:
        prefix_len = len(secret) - 36 if not secret.startswith("luc_pk_") else 7
        random_part = secret[prefix_len:-4]
        assert secret not in dumped
        assert random_part not in dumped
        assert hash_secret(secret) in dumped


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _authenticator(dynamodb: Any, table: str, clock: FakeClock, ttl: float = 60) -> Authenticator:
    return Authenticator(CredentialStore(dynamodb, table), cache_ttl_seconds=ttl, clock=clock)


def test_ingest_authentication_outcomes(dynamodb: Any, aws: dict[str, str]) -> None:
    table = aws["CredentialsTable"]
    clock = FakeClock()
    auth = _authenticator(dynamodb, table, clock)
    public = store_credential(dynamodb, table, CredentialKind.PUBLIC, "org_a", rate_limit=250)
    api = store_credential(dynamodb, table, CredentialKind.API, "org_a")
    principal = auth.authenticate_ingest(public.secret)
    assert (principal.org_id, principal.kind, principal.rate_limit_per_minute) == (
        "org_a",
        CredentialKind.PUBLIC,
        250,
    )
    with pytest.raises(MissingApiKey):
        auth.authenticate_ingest(None)
    with pytest.raises(MissingApiKey):
        auth.authenticate_ingest("")
    for wrong in (api.secret, generate_secret(CredentialKind.PUBLIC), "luc_pk_nothex", "hello"):
        with pytest.raises(InvalidApiKey):
            auth.authenticate_ingest(wrong)


def test_bearer_authentication_outcomes(dynamodb: Any, aws: dict[str, str]) -> None:
    table = aws["CredentialsTable"]
    clock = FakeClock(now=10_000)
    auth = _authenticator(dynamodb, table, clock)
    api = store_credential(dynamodb, table, CredentialKind.API, "org_a")
    oat = store_credential(
        dynamodb,
        table,
        CredentialKind.OAUTH,
        "org_b",
        scopes=["read:lucent"],
        expires_in=30,
        now=10_000,
    )
    mcp = store_credential(dynamodb, table, CredentialKind.MCP, "org_c")
    public = store_credential(dynamodb, table, CredentialKind.PUBLIC, "org_a")
    assert auth.authenticate_bearer(f"Bearer {api.secret}", "read:lucent", DATA).org_id == "org_a"
    assert auth.authenticate_bearer(f"bEaReR {oat.secret}", "read:lucent", DATA).org_id == "org_b"
    assert auth.authenticate_bearer(f"BEARER   {mcp.secret}", "read:lucent", DATA).scopes == {
        "read:lucent"
    }
    for header in (
        None,
        "",
        "Bearer",
        f"Basic {api.secret}",
        f"Token {api.secret}",
        f"Bearer {public.secret}",
        f"Bearer {api.secret} extra",
        f"Bearer {generate_secret(CredentialKind.API)}",
    ):
        with pytest.raises(InvalidBearerToken) as raised:
            auth.authenticate_bearer(header, "write:issues", DATA)
        assert raised.value.headers() == {"WWW-Authenticate": 'Bearer scope="write:issues"'}
    clock.now = 10_030  # the OAuth token expires on the second, even from the cache
    with pytest.raises(InvalidBearerToken):
        auth.authenticate_bearer(f"Bearer {oat.secret}", "read:lucent", DATA)


def test_revocation_takes_effect_within_the_cache_ttl(dynamodb: Any, aws: dict[str, str]) -> None:
    table = aws["CredentialsTable"]
    clock = FakeClock()
    auth = _authenticator(dynamodb, table, clock, ttl=60)
    public = store_credential(dynamodb, table, CredentialKind.PUBLIC, "org_a")
    auth.authenticate_ingest(public.secret)
    CredentialStore(dynamodb, table).revoke(public.key_hash, now=int(clock.now))
    clock.now += 59  # documented window: a warm container may still accept it
    auth.authenticate_ingest(public.secret)
    clock.now += 1
    with pytest.raises(InvalidApiKey):
        auth.authenticate_ingest(public.secret)


def test_malformed_keys_never_reach_dynamodb(dynamodb: Any, aws: dict[str, str]) -> None:
    calls: list[str] = []
    dynamodb.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    auth = _authenticator(dynamodb, aws["CredentialsTable"], FakeClock())
    good = generate_secret(CredentialKind.PUBLIC)
    for bad in (good[:-1] + ("0" if good[-1] != "0" else "1"), "luc_pk_123", "x" * 5000):
        with pytest.raises(InvalidApiKey):
            auth.authenticate_ingest(bad)
    assert calls == []
    with pytest.raises(InvalidApiKey):
        auth.authenticate_ingest(good)  # well-formed but unknown: one read, then cached
    with pytest.raises(InvalidApiKey):
        auth.authenticate_ingest(good)
    assert calls == ["GetItem"]


def test_store_failure_is_a_typed_unavailable_error_not_an_auth_failure(
    dynamodb: Any, aws: dict[str, str]
) -> None:
    auth = _authenticator(dynamodb, "no-such-table", FakeClock())
    with pytest.raises(CredentialStoreUnavailable):
        auth.authenticate_ingest(generate_secret(CredentialKind.PUBLIC))


def test_list_and_revoke_by_id(dynamodb: Any, aws: dict[str, str]) -> None:
    table = aws["CredentialsTable"]
    store = CredentialStore(dynamodb, table)
    mine = [store_credential(dynamodb, table, CredentialKind.API, "org_a") for _ in range(3)]
    store_credential(dynamodb, table, CredentialKind.API, "org_b")
    listed = store.list_for_org("org_a")
    assert sorted(r.credential_id for r in listed) == sorted(i.record.credential_id for i in mine)
    key_hash = store.find_key_hash(mine[0].record.credential_id)
    assert key_hash == mine[0].key_hash
    first = store.revoke(key_hash, now=100)
    again = store.revoke(key_hash, now=200)
    assert first is not None
    assert again is not None
    assert first.revoked_at == again.revoked_at == 100
    assert store.revoke("0" * 64, now=1) is None
