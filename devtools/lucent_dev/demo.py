"""The demo organizations and their FIXED credentials, for the local API, events/ and tests.

These secrets are demo-only: they exist in no deployed stack, appear verbatim in ``events/``, and
are replaced by a deployment's own credentials when the events are replayed (``lucent replay``,
the canary). They were generated once with ``lucent.auth.credentials.generate_secret`` and carry valid
checksums, so they pass the same format checks as real credentials.

``ROLES`` is the vocabulary shared with ``events/manifest.json`` (its ``credentials`` map), the
``.lucent/dev.json`` file and the canary's secret: role name -> value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lucent.auth.credentials import (
    CredentialKind,
    IssuedCredential,
    credential_id_for,
    hash_secret,
    issue_credential,
)
from lucent.auth.store import CredentialStore
from lucent.errors import CredentialExists
from lucent_dev import demo_data

DEMO_ORG_ID = "org_demo"
OTHER_ORG_ID = "org_other"

# Demo keys are created "now" minus nothing; OAuth tokens expire in ten years, so the event files
# that carry them keep working.
TEN_YEARS_SECONDS = 10 * 365 * 24 * 3600
# A generous limit: replaying events/ many times a minute against `make dev` must not hit 429.
DEMO_RATE_LIMIT_PER_MINUTE = 1000
# An open issue of the demo data set ("Rage clicks on the size selector"): the events fetch it and
# set it to "open" again. lucent_dev.demo_data derives ids from the organization id, so it is
# stable; tests/test_events.py fails clearly if the data set stops containing it.
DEMO_ISSUE_ID = "iss_01M7XPWNVRPDTTJRV7AKD2QEBR"


@dataclass(frozen=True)
class DemoCredential:
    role: str
    kind: CredentialKind
    org_id: str
    secret: str
    options: Mapping[str, Any]
    revoked: bool = False
    label: str = ""


CREDENTIALS: tuple[DemoCredential, ...] = (
    DemoCredential(
        "public_key",
        CredentialKind.PUBLIC,
        DEMO_ORG_ID,
        "luc_pk_3fcabb1517f6075505f35ac64662e3640f5816fd",
        {"rate_limit": DEMO_RATE_LIMIT_PER_MINUTE},
        label="demo ingest key",
    ),
    DemoCredential(
        "revoked_public_key",
        CredentialKind.PUBLIC,
        DEMO_ORG_ID,
        "luc_pk_591048750b9819fff3e299237bd47381eb08c44e",
        {},
        revoked=True,
        label="demo revoked ingest key",
    ),
    DemoCredential(
        "api_key",
        CredentialKind.API,
        DEMO_ORG_ID,
        "luc_api_7evRUeKI5GdU2pIk9DotfHHF5jqkO32E4ZnP",
        {},
        label="demo read-only API key",
    ),
    DemoCredential(
        "api_key_write",
        CredentialKind.API,
        DEMO_ORG_ID,
        "luc_api_UlYUItObKkPtNJSAzC3ErmF0MN8S3D3Kdov4",
        {"allow_issue_status_updates": True},
        label="demo API key with issue status updates",
    ),
    DemoCredential(
        "oauth_token",
        CredentialKind.OAUTH,
        DEMO_ORG_ID,
        "luc_oat_KeopvaXqV91brotF5hJRPKKuLATYt54EQRyA",
        {"scopes": ["read:lucent"], "expires_in": TEN_YEARS_SECONDS},
        label="demo OAuth token",
    ),
    DemoCredential(
        "legacy_key",
        CredentialKind.MCP,
        DEMO_ORG_ID,
        "luc_mcp_Fq3wK7nOluKBqYkSUBe8JP9YU92fHk29TJp0",
        {},
        label="demo legacy MCP key",
    ),
    DemoCredential(
        "revoked_api_key",
        CredentialKind.API,
        DEMO_ORG_ID,
        "luc_api_FL9nuluLarcmQaDKgqoY9L6ibE3KI14MY1Av",
        {},
        revoked=True,
        label="demo revoked API key",
    ),
    DemoCredential(
        "other_public_key",
        CredentialKind.PUBLIC,
        OTHER_ORG_ID,
        "luc_pk_543081b25de47e2aac99990809846d9b5f3e0e71",
        {"rate_limit": DEMO_RATE_LIMIT_PER_MINUTE},
        label="second organization's ingest key",
    ),
    DemoCredential(
        "other_api_key",
        CredentialKind.API,
        OTHER_ORG_ID,
        "luc_api_F40o5ApQk3cIPSeWHtWlwa1otw2zM91blVay",
        {},
        label="second organization's API key",
    ),
)

BY_ROLE: Mapping[str, DemoCredential] = {c.role: c for c in CREDENTIALS}


def roles() -> dict[str, str]:
    """Every demo value a replayed event may carry, by role (credentials, org ids, issue id)."""
    out = {c.role: c.secret for c in CREDENTIALS}
    out.update(org_id=DEMO_ORG_ID, other_org_id=OTHER_ORG_ID, issue_id=DEMO_ISSUE_ID)
    return out


def issued(credential: DemoCredential, now: int) -> IssuedCredential:
    return issue_credential(
        credential.kind,
        credential.org_id,
        secret=credential.secret,
        label=credential.label,
        now=now,
        **dict(credential.options),
    )


def credential_id(role: str) -> str:
    """The (non-secret) credential id of a demo credential: derived from its secret's hash."""
    return credential_id_for(hash_secret(BY_ROLE[role].secret))


def seed_credentials(dynamodb: Any, table: str, now: int | None = None) -> None:
    """Store every demo credential (idempotent: existing items are left as they are)."""
    import time

    issued_at = int(time.time()) if now is None else now
    store = CredentialStore(dynamodb, table)
    for credential in CREDENTIALS:
        item = issued(credential, issued_at)
        with contextlib.suppress(CredentialExists):
            store.put(item)
        if credential.revoked:
            store.revoke(item.key_hash, now=issued_at)


def seed_all(dynamodb: Any, names: Mapping[str, str], now: int | None = None) -> None:
    """Credentials, then the demo data set (issues, signals, insights) for the demo org.

    ``names`` maps logical ids to table names (``template.create_storage``'s result).
    """
    seed_credentials(dynamodb, names["CredentialsTable"], now)
    demo_data.seed(dynamodb, names["DataTable"], DEMO_ORG_ID)
