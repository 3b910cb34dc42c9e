"""Replay batches in S3: the object key and the stored bytes (docs/storage.md, docs/ingest.md).

``replays/{org_id}/{session_id}/{sequence:010d}.json.gz``: determined by (organization, session,
sequence), so a retried batch never duplicates, and a session's objects list in order. Each is
written once: a retry finds its batch stored and is answered as the first request was; a
different batch under the same key is refused (``same_batch``). Objects are gzip with
``Content-Type: application/json`` and ``Content-Encoding: gzip``.
"""

from __future__ import annotations

import gzip

from lucent.auth.credentials import ORG_ID_PATTERN
from lucent.errors import LucentError
from lucent.ingest.batch import MAX_SEQUENCE, SESSION_ID, gunzip_capped

REPLAY_PREFIX = "replays"
# The knee of size against CPU, measured on a 200-event batch (docs/limits.md has the figures).
GZIP_LEVEL = 5


def replay_key(org_id: str, session_id: str, sequence: int) -> str:
    """The object key of a batch. Refuses any part that could leave its prefix (ValueError)."""
    # Both were validated upstream (issuance, the batch schema); checked again where it matters.
    if ORG_ID_PATTERN.fullmatch(org_id) is None:
        raise ValueError(f"org_id {org_id!r} is not a safe key segment")
    if SESSION_ID.fullmatch(session_id) is None:
        raise ValueError(f"session_id {session_id!r} is not a safe key segment")
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"sequence {sequence} does not fit ten digits")
    return f"{REPLAY_PREFIX}/{org_id}/{session_id}/{sequence:010d}.json.gz"


def compress(document: bytes, level: int = GZIP_LEVEL) -> bytes:
    """gzip of exactly these bytes; mtime 0 so the same batch always gives the same object."""
    return gzip.compress(document, compresslevel=level, mtime=0)


def same_batch(stored: bytes, ours: bytes) -> bool:
    """Whether the object ``stored`` under a batch's key holds this batch, whose object would be
    ``ours`` (always gzip: the client's, or ours of its JSON). Identical bytes answer without
    inflating anything; only a retry sent in the other form (plain after gzip, or another
    compressor) inflates both, within the ingest cap."""
    if stored == ours:
        return True
    try:
        return gunzip_capped(stored) == gunzip_capped(ours)
    except LucentError:
        return False  # not a batch we wrote: certainly not this one
