"""Deterministic ids in the Data API's ULID shape (``sig_``/``iss_`` + 26 Crockford characters).

48 bits of the event's milliseconds, then 80 bits of a hash of what the id names: running
detection again on the same batch gives the same ids, so every write of it is idempotent, and
ids still sort by time as the Data API's lists expect.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def deterministic_id(prefix: str, millis: int, *seed: object) -> str:
    digest = hashlib.sha256("\x1f".join(str(part) for part in seed).encode("utf-8")).digest()
    value = ((millis & ((1 << 48) - 1)) << 80) | int.from_bytes(digest[:10], "big")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return prefix + "".join(reversed(chars))


def iso(millis: int) -> str:
    """UTC, whole seconds, ``Z``: the Data API's stored form (``2026-11-29T16:20:00Z``)."""
    moment = datetime.fromtimestamp(millis // 1000, UTC)
    return moment.isoformat().replace("+00:00", "Z")


def hour_bucket(millis: int) -> str:
    """``h2026112916``: the key of an issue's per-hour occurrence counter (insights)."""
    return datetime.fromtimestamp(millis // 1000, UTC).strftime("h%Y%m%d%H")
