"""Credentials: format, generation, checksum, hashing, issuance rules and the caller they name.

Format (docs/credentials.md):

* ``luc_pk_`` + 32 lowercase hex random + 8 lowercase hex CRC32: public ingest keys keep the
  documented look (``luc_pk_7a4f9e2b6c1d3f...``).
* ``luc_api_`` / ``luc_oat_`` / ``luc_mcp_`` + 30 base62 random + 6 base62 CRC32.

The CRC32 covers prefix and random part, so a mistyped, truncated or re-prefixed credential is
refused without a database read. Only SHA-256 hashes are stored: every credential carries at least
128 random bits, so a slow password hash would add latency and no security.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lucent.contract import KNOWN_SCOPES, READ_SCOPE, WRITE_ISSUES_SCOPE
from lucent.errors import MissingScope


class CredentialKind(StrEnum):
    PUBLIC = "public"
    API = "api"
    OAUTH = "oauth"
    MCP = "mcp"


PREFIXES: Mapping[CredentialKind, str] = {
    CredentialKind.PUBLIC: "luc_pk_",
    CredentialKind.API: "luc_api_",
    CredentialKind.OAUTH: "luc_oat_",
    CredentialKind.MCP: "luc_mcp_",
}
BEARER_KINDS = frozenset({CredentialKind.API, CredentialKind.OAUTH, CredentialKind.MCP})
DEFAULT_RATE_LIMIT_PER_MINUTE = 100
DEFAULT_OAUTH_EXPIRES_IN_SECONDS = 3600
# Organization ids become parts of DynamoDB keys (``lucent.datatable``) and S3 prefixes
# (``replays/{org}/``): no separators, so no org id can ever spell another org's key.
ORG_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

_HEX = "0123456789abcdef"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PUBLIC_RANDOM_LEN, _PUBLIC_CHECK_LEN = 32, 8
_BEARER_RANDOM_LEN, _BEARER_CHECK_LEN = 30, 6
_HEX_SET = frozenset(_HEX)
_BASE62_SET = frozenset(_BASE62)


class CredentialIssueError(ValueError):
    """A credential cannot be issued as asked (unknown scope, option that does not apply...)."""


# ---------------------------------------------------------------------------------------------
# Format


def _checksum(kind: CredentialKind, prefix_and_random: str) -> str:
    crc = zlib.crc32(prefix_and_random.encode("ascii")) & 0xFFFFFFFF
    if kind is CredentialKind.PUBLIC:
        return f"{crc:08x}"
    digits = []
    for _ in range(_BEARER_CHECK_LEN):
        crc, digit = divmod(crc, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits))


def generate_secret(kind: CredentialKind) -> str:
    """A new credential of ``kind``: prefix, cryptographically random body, checksum."""
    if kind is CredentialKind.PUBLIC:
        random_part = secrets.token_hex(_PUBLIC_RANDOM_LEN // 2)
    else:
        random_part = "".join(secrets.choice(_BASE62) for _ in range(_BEARER_RANDOM_LEN))
    head = PREFIXES[kind] + random_part
    return head + _checksum(kind, head)


def kind_of(raw: str) -> CredentialKind | None:
    """The kind a well-formed credential claims to be, with its checksum verified; else None."""
    found = next(((k, p) for k, p in PREFIXES.items() if raw.startswith(p)), None)
    if found is None:
        return None
    kind, prefix = found
    body = raw[len(prefix) :]
    if kind is CredentialKind.PUBLIC:
        random_len, check_len, alphabet = _PUBLIC_RANDOM_LEN, _PUBLIC_CHECK_LEN, _HEX_SET
    else:
        random_len, check_len, alphabet = _BEARER_RANDOM_LEN, _BEARER_CHECK_LEN, _BASE62_SET
    if len(body) != random_len + check_len or not alphabet.issuperset(body):
        return None
    head, check = raw[: len(prefix) + random_len], body[random_len:]
    if not secrets.compare_digest(_checksum(kind, head), check):
        return None
    return kind


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def credential_id_for(key_hash: str) -> str:
    """A stable, non-secret id: derived from the hash, so it can be shown, logged and revoked."""
    return "cred_" + key_hash[:16]


# ---------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    credential_id: str
    org_id: str
    kind: CredentialKind
    scopes: frozenset[str]
    created_at: int
    label: str
    last4: str
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    expires_at: int | None = None
    revoked_at: int | None = None
    # OAuth grants only (docs/oauth.md): the registered client, the RFC 8707 resource the token
    # is for, and the refresh family it belongs to (revoking the family revokes it). None for
    # every credential issued by the CLI.
    client_id: str | None = None
    resource: str | None = None
    family_id: str | None = None

    def is_usable(self, now: float) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at

    def describe(self) -> dict[str, Any]:
        """What an operator may see: everything but the secret (which is never stored)."""
        return {
            "credential_id": self.credential_id,
            "org_id": self.org_id,
            "kind": self.kind.value,
            "prefix": PREFIXES[self.kind],
            "last4": self.last4,
            "scopes": sorted(self.scopes),
            "label": self.label,
            "rate_limit_per_minute": self.rate_limit_per_minute,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            **{
                name: value
                for name, value in (
                    ("client_id", self.client_id),
                    ("resource", self.resource),
                    ("family_id", self.family_id),
                )
                if value is not None
            },
        }


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    secret: str
    key_hash: str
    record: CredentialRecord


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as the authorizer hands it to the functions. Never holds the secret."""

    org_id: str
    credential_id: str
    kind: CredentialKind
    scopes: frozenset[str]
    rate_limit_per_minute: int

    @classmethod
    def from_record(cls, record: CredentialRecord) -> Principal:
        return cls(
            org_id=record.org_id,
            credential_id=record.credential_id,
            kind=record.kind,
            scopes=record.scopes,
            rate_limit_per_minute=record.rate_limit_per_minute,
        )

    def to_context(self) -> dict[str, str | int]:
        # API Gateway authorizer context values must be strings, numbers or booleans.
        return {
            "org_id": self.org_id,
            "credential_id": self.credential_id,
            "kind": self.kind.value,
            "scopes": " ".join(sorted(self.scopes)),
            "rate_limit_per_minute": self.rate_limit_per_minute,
        }

    @classmethod
    def from_context(cls, context: Mapping[str, Any] | None) -> Principal | None:
        """Read the authorizer context from a proxy event; None if it is absent or malformed."""
        if not context:
            return None
        try:
            org_id = str(context["org_id"])
            credential_id = str(context["credential_id"])
            kind = CredentialKind(str(context["kind"]))
            scopes = frozenset(str(context.get("scopes") or "").split())
            # API Gateway may pass numbers through as strings.
            limit = int(context.get("rate_limit_per_minute") or DEFAULT_RATE_LIMIT_PER_MINUTE)
        except (KeyError, ValueError, TypeError):
            return None
        if not org_id or not credential_id:
            return None
        return cls(org_id, credential_id, kind, scopes, limit)


def require_scope(principal: Principal, scope: str) -> None:
    """The caller holds ``scope``, or MissingScope (a 403 with an insufficient_scope challenge)."""
    if scope not in principal.scopes:
        raise MissingScope(scope)


def issue_credential(
    kind: CredentialKind,
    org_id: str,
    *,
    scopes: Iterable[str] | None = None,
    allow_issue_status_updates: bool = False,
    expires_in: int | None = None,
    rate_limit: int | None = None,
    label: str = "",
    now: int | None = None,
    secret: str | None = None,
    client_id: str | None = None,
    resource: str | None = None,
    family_id: str | None = None,
) -> IssuedCredential:
    """Decide a new credential's record by the product's rules; ``secret`` is for fixed demo keys."""
    if not ORG_ID_PATTERN.fullmatch(org_id or ""):
        raise CredentialIssueError(
            "an organization id is 1-64 letters, digits, '_' or '-', starting with a letter or digit"
        )
    requested = list(scopes) if scopes is not None else None
    unknown = sorted({s for s in requested or [] if s not in KNOWN_SCOPES})
    if unknown:
        raise CredentialIssueError(
            f"unknown scope: {', '.join(unknown)} (known scopes: {', '.join(KNOWN_SCOPES)})"
        )
    if rate_limit is not None and kind is not CredentialKind.PUBLIC:
        raise CredentialIssueError("--rate-limit applies to public ingest keys only")
    if rate_limit is not None and rate_limit < 1:
        raise CredentialIssueError("--rate-limit must be at least 1 request per minute")
    if expires_in is not None and expires_in < 1:
        raise CredentialIssueError("--expires-in must be a positive number of seconds")
    if kind is not CredentialKind.OAUTH and (client_id or resource or family_id):
        raise CredentialIssueError("client, resource and grant family apply to OAuth tokens only")

    if kind is CredentialKind.PUBLIC:
        if requested or allow_issue_status_updates:
            raise CredentialIssueError("public keys are write-only ingest keys and take no scopes")
        granted: frozenset[str] = frozenset()
    elif kind is CredentialKind.API:
        granted = frozenset(requested) if requested else frozenset({READ_SCOPE})
        if allow_issue_status_updates:
            granted |= {WRITE_ISSUES_SCOPE}
    elif kind is CredentialKind.OAUTH:
        if not requested:
            raise CredentialIssueError(
                "OAuth tokens carry exactly the scopes requested: pass --scopes"
            )
        if allow_issue_status_updates:
            raise CredentialIssueError("OAuth tokens take their scopes from --scopes only")
        granted = frozenset(requested)
        if expires_in is None:
            expires_in = DEFAULT_OAUTH_EXPIRES_IN_SECONDS
    else:  # legacy luc_mcp_ keys: kept working, read-only
        if allow_issue_status_updates or (requested and set(requested) != {READ_SCOPE}):
            raise CredentialIssueError("legacy luc_mcp_ keys carry read:lucent only")
        granted = frozenset({READ_SCOPE})

    issued_at = int(time.time()) if now is None else now
    raw = secret if secret is not None else generate_secret(kind)
    if kind_of(raw) is not kind:
        raise CredentialIssueError("the secret given is not a well-formed credential of that kind")
    key_hash = hash_secret(raw)
    record = CredentialRecord(
        credential_id=credential_id_for(key_hash),
        org_id=org_id,
        kind=kind,
        scopes=granted,
        created_at=issued_at,
        label=label,
        last4=raw[-4:],
        rate_limit_per_minute=rate_limit or DEFAULT_RATE_LIMIT_PER_MINUTE,
        expires_at=issued_at + expires_in if expires_in is not None else None,
        client_id=client_id,
        resource=resource,
        family_id=family_id,
    )
    return IssuedCredential(secret=raw, key_hash=key_hash, record=record)
