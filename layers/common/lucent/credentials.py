"""Credentials: format, generation, checksum, hashing, storage and authentication.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lucent.errors import (
    READ_SCOPE,
    WRITE_ISSUES_SCOPE,
    CredentialStoreUnavailable,
    InvalidApiKey,
    InvalidBearerToken,
    MissingApiKey,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


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
KNOWN_SCOPES = (READ_SCOPE, WRITE_ISSUES_SCOPE)
DEFAULT_RATE_LIMIT_PER_MINUTE = 100
DEFAULT_OAUTH_EXPIRES_IN_SECONDS = 3600
# Organization ids become parts of DynamoDB keys (``ORG#{org}#STATUS#...``) and S3 prefixes
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
    )
    return IssuedCredential(secret=raw, key_hash=key_hash, record=record)


# ---------------------------------------------------------------------------------------------
# Storage


class CredentialStore:
    """The credentials table: one item per credential, keyed by the SHA-256 of the secret.

    GSIs: ``by_org`` (org_id, credential_id) for listing and ``by_id`` (credential_id) for
    revoking by id.
    """

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, key_hash: str) -> CredentialRecord | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"key_hash": {"S": key_hash}}
            )
        except (ClientError, BotoCoreError) as exc:
            raise CredentialStoreUnavailable() from exc
        item = response.get("Item")
        return _record_from_item(item) if item else None

    def put(self, issued: IssuedCredential) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=_item_from_record(issued.key_hash, issued.record),
            ConditionExpression="attribute_not_exists(key_hash)",
        )

    def find_key_hash(self, credential_id: str) -> str | None:
        response = self._client.query(
            TableName=self._table,
            IndexName="by_id",
            KeyConditionExpression="credential_id = :id",
            ExpressionAttributeValues={":id": {"S": credential_id}},
        )
        items = response.get("Items", [])
        return items[0]["key_hash"]["S"] if items else None

    def revoke(self, key_hash: str, now: int) -> CredentialRecord | None:
        """Mark revoked (idempotent: the first revocation time is kept). None if unknown."""
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"key_hash": {"S": key_hash}},
                UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :now)",
                ConditionExpression="attribute_exists(key_hash)",
                ExpressionAttributeValues={":now": {"N": str(now)}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return _record_from_item(response["Attributes"])

    def list_for_org(self, org_id: str) -> list[CredentialRecord]:
        records: list[CredentialRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "by_org",
            "KeyConditionExpression": "org_id = :org",
            "ExpressionAttributeValues": {":org": {"S": org_id}},
        }
        while True:
            response = self._client.query(**kwargs)
            records.extend(_record_from_item(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return records
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _item_from_record(key_hash: str, record: CredentialRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        "key_hash": {"S": key_hash},
        "credential_id": {"S": record.credential_id},
        "org_id": {"S": record.org_id},
        "kind": {"S": record.kind.value},
        # A space-separated string, not a string set: DynamoDB sets cannot be empty.
        "scopes": {"S": " ".join(sorted(record.scopes))},
        "created_at": {"N": str(record.created_at)},
        "label": {"S": record.label},
        "last4": {"S": record.last4},
        "rate_limit_per_minute": {"N": str(record.rate_limit_per_minute)},
    }
    if record.expires_at is not None:
        item["expires_at"] = {"N": str(record.expires_at)}
    if record.revoked_at is not None:
        item["revoked_at"] = {"N": str(record.revoked_at)}
    return item


def _record_from_item(item: Mapping[str, Any]) -> CredentialRecord:
    def optional_int(name: str) -> int | None:
        return int(item[name]["N"]) if name in item else None

    return CredentialRecord(
        credential_id=item["credential_id"]["S"],
        org_id=item["org_id"]["S"],
        kind=CredentialKind(item["kind"]["S"]),
        scopes=frozenset(item["scopes"]["S"].split()),
        created_at=int(item["created_at"]["N"]),
        label=item.get("label", {}).get("S", ""),
        last4=item["last4"]["S"],
        rate_limit_per_minute=int(item["rate_limit_per_minute"]["N"]),
        expires_at=optional_int("expires_at"),
        revoked_at=optional_int("revoked_at"),
    )


# ---------------------------------------------------------------------------------------------
# Authentication


class Authenticator:
    """Turns a presented credential into a Principal, or a typed error.

    Lookups (hits and misses) are cached per container for ``cache_ttl_seconds``: that bound is
    the documented revocation delay. Revocation and expiry are re-checked on every use, so an
    expired OAuth token stops working on the second it expires even from the cache.
    """

    def __init__(
        self,
        store: CredentialStore,
        *,
        cache_ttl_seconds: float,
        clock: Callable[[], float] = time.time,
        max_cache_entries: int = 10_000,
    ) -> None:
        self._store = store
        self._ttl = cache_ttl_seconds
        self._clock = clock
        self._max_entries = max_cache_entries
        self._cache: dict[str, tuple[float, CredentialRecord | None]] = {}

    def _lookup(self, raw: str) -> CredentialRecord | None:
        key_hash = hash_secret(raw)
        now = self._clock()
        cached = self._cache.get(key_hash)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        record = self._store.get(key_hash)
        if len(self._cache) >= self._max_entries:
            # Drop the oldest entry: dicts keep insertion order.
            self._cache.pop(next(iter(self._cache)))
        self._cache.pop(key_hash, None)
        self._cache[key_hash] = (now, record)
        return record

    def _usable(self, raw: str, kinds: frozenset[CredentialKind]) -> CredentialRecord | None:
        kind = kind_of(raw)
        if kind is None or kind not in kinds:
            return None  # malformed, forged or wrong family: no database read
        record = self._lookup(raw)
        if record is None or record.kind is not kind or not record.is_usable(self._clock()):
            return None
        return record

    def authenticate_ingest(self, raw_key: str | None) -> Principal:
        if not raw_key:
            raise MissingApiKey()
        record = self._usable(raw_key, frozenset({CredentialKind.PUBLIC}))
        if record is None:
            raise InvalidApiKey()
        return Principal.from_record(record)

    def authenticate_bearer(self, authorization: str | None, challenge_scope: str) -> Principal:
        token = bearer_token(authorization)
        if token is None:
            raise InvalidBearerToken(challenge_scope)
        record = self._usable(token, BEARER_KINDS)
        if record is None:
            raise InvalidBearerToken(challenge_scope)
        return Principal.from_record(record)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; the scheme in any letter case."""
    if not authorization:
        return None
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1]
