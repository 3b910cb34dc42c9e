"""Authentication: from a presented credential to a ``Principal``, or a typed error."""

from __future__ import annotations

import time
from collections.abc import Callable

from lucent.auth.audience import accepts
from lucent.auth.credentials import (
    BEARER_KINDS,
    CredentialKind,
    CredentialRecord,
    Principal,
    hash_secret,
    kind_of,
)
from lucent.auth.store import CredentialStore
from lucent.errors import InvalidApiKey, InvalidBearerToken, MissingApiKey


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

    def authenticate_bearer(
        self, authorization: str | None, challenge_scope: str, resource: str
    ) -> Principal:
        """The caller of ``resource`` (the URL of the API being called, e.g. ``<base>/api/v1``),
        or ``InvalidBearerToken``.

        An OAuth token granted for another resource (RFC 8707, ``lucent.auth.audience``) is
        refused exactly like an unknown one (same 401, same challenge): telling the caller that
        the token is valid elsewhere would help nobody but someone holding a stolen one. The
        record comes from the same cache as every lookup, so the check costs no read.
        """
        token = bearer_token(authorization)
        if token is None:
            raise InvalidBearerToken(challenge_scope)
        record = self._usable(token, BEARER_KINDS)
        if record is None or not accepts(record.resource, resource):
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
