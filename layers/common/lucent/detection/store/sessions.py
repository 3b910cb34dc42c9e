"""A session's state between batches and its timeline parts, as items (docs/detection.md).

Pure: builds and reads the session item and timeline part items (keys from
``lucent.datatable``); ``lucent.detection.store.table`` writes them.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from typing import Any

from lucent import datatable
from lucent.datatable import attribute
from lucent.detection.store.bounds import MAX_ENTRY_TEXT_CHARS, clip_text, replay_ms
from lucent.errors import PoisonBatch

STATE_GZIP_LEVEL = 1  # written every batch: speed over size
# Item sizes, by construction under DynamoDB's 400 KB per item (docs/storage.md): the gzip'd
# state and one timeline part's JSON before gzip.
MAX_STATE_BYTES = 300 * 1024
MAX_TIMELINE_PART_BYTES = 192 * 1024
# A session's timeline keeps its first entries up to this much JSON; the Data API reads all of a
# session's parts to sort them, so this also bounds what one timeline request reads.
MAX_TIMELINE_BYTES = 2 * 1024 * 1024


@dataclass(slots=True)
class SessionRecord:
    """What detection keeps per session between batches."""

    next_seq: int = 0
    detector: dict[str, Any] | None = None
    issues: list[str] = field(default_factory=list)  # fingerprint hashes it counted in
    user: str | None = None  # hash of the session's user id, once known
    timeline_bytes: int = 0  # JSON bytes of timeline entries stored so far (MAX_TIMELINE_BYTES)


@dataclass(frozen=True, slots=True)
class FittedState:
    """A session record that fits an item (``fit_state``), with the state attribute it is
    written as: encoded once, checked and then written."""

    record: SessionRecord
    blob: bytes  # gzip JSON, at most MAX_STATE_BYTES


def session_from_item(item: dict[str, Any]) -> SessionRecord:
    blob = json.loads(gzip.decompress(datatable.binary(item, "state")))
    return SessionRecord(
        next_seq=datatable.number(item, "next_seq"),
        detector=blob.get("detector"),
        issues=list(blob.get("issues", [])),
        user=blob.get("user"),
        timeline_bytes=int(blob.get("tl_bytes", 0)),
    )


def state_update(
    table_name: str,
    org_id: str,
    session_id: str,
    expected_seq: int,
    state: FittedState,
    *,
    now: str,
    poisoned: int | None,
) -> dict[str, Any]:
    """The conditional UpdateItem that moves the watermark from ``expected_seq`` (0: the session
    item does not exist yet) and stores the state."""
    condition = "attribute_not_exists(pk)" if expected_seq == 0 else "next_seq = :expected"
    values: dict[str, Any] = {
        ":next": attribute(state.record.next_seq),
        ":state": attribute(state.blob),
        ":entity": attribute("session"),
        ":session": attribute(session_id),
        ":now": attribute(now),
    }
    if expected_seq != 0:
        values[":expected"] = attribute(expected_seq)
    expression = (
        "SET next_seq = :next, #state = :state, entity = :entity, "
        "session_id = :session, updated_at = :now"
    )
    if poisoned is not None:
        # The record of a poison batch: how many, and the last one (ids, no content).
        expression += ", last_poison_seq = :poison_seq ADD poison_batches :one"
        values[":poison_seq"] = attribute(poisoned)
        values[":one"] = attribute(1)
    return {
        "TableName": table_name,
        "Key": datatable.key(org_id, datatable.session_sk(session_id)),
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#state": "state"},
        "ExpressionAttributeValues": values,
    }


def encode_state(record: SessionRecord) -> bytes | None:
    """The state attribute (gzip JSON); None if it exceeds MAX_STATE_BYTES."""
    blob = json.dumps(
        {
            "detector": record.detector,
            "issues": record.issues,
            "user": record.user,
            "tl_bytes": record.timeline_bytes,
        },
        separators=(",", ":"),
    ).encode("utf-8")
    state = gzip.compress(blob, compresslevel=STATE_GZIP_LEVEL, mtime=0)
    return state if len(state) <= MAX_STATE_BYTES else None


def without_mirror(record: SessionRecord) -> SessionRecord:
    """The record with the detector's node mirror emptied: elements go unnamed until the next
    full snapshot, instead of the session stopping (a page too large to mirror)."""
    detector = dict(record.detector or {})
    detector["mirror"] = []
    return SessionRecord(
        next_seq=record.next_seq,
        detector=detector,
        issues=record.issues,
        user=record.user,
        timeline_bytes=record.timeline_bytes,
    )


def fit_state(record: SessionRecord) -> FittedState:
    """``record`` if its state fits an item, else without its mirror, encoded; PoisonBatch if
    neither does (the batch is then skipped and the previous state, which fitted, kept)."""
    blob = encode_state(record)
    if blob is None:
        record = without_mirror(record)
        blob = encode_state(record)
    if blob is None:
        raise PoisonBatch("state_too_large")
    return FittedState(record, blob)


def timeline_parts(
    org_id: str, session_id: str, sequence: int, entries: list[dict[str, Any]], budget: int
) -> tuple[list[dict[str, Any]], int, int]:
    """A batch's timeline entries as part items, each at most MAX_TIMELINE_PART_BYTES of JSON
    (gzip'd), and the first entries only up to ``budget`` bytes in all. Returns the items, the
    bytes used and how many entries the budget left out. Part ``p`` holds the batch's entries
    from index ``i0`` on: (sequence, index) is the entry's place in the order detection emitted
    it, which breaks ties of ``t`` (docs/detection.md, "The timeline")."""
    items: list[dict[str, Any]] = []
    used = 0
    part: list[bytes] = []
    part_bytes = 0
    first_index = 0
    times: list[int] = []

    def close() -> None:
        body = b"[" + b",".join(part) + b"]"
        items.append(
            datatable.timeline_part_item(
                org_id,
                session_id,
                sequence,
                len(items),
                first_index=first_index,
                t_first=min(times),
                t_last=max(times),
                entries_gz=gzip.compress(body, compresslevel=6, mtime=0),
            )
        )

    for index, entry in enumerate(entries):
        bounded = {
            k: clip_text(v, MAX_ENTRY_TEXT_CHARS) if isinstance(v, str) else v
            for k, v in entry.items()
        }
        t = replay_ms(entry["t"])
        bounded["t"] = t
        encoded = json.dumps(bounded, separators=(",", ":"), ensure_ascii=False).encode()
        if used + len(encoded) + 1 > budget:
            if part:
                close()
            return items, used, len(entries) - index
        if part and part_bytes + len(encoded) + 1 > MAX_TIMELINE_PART_BYTES:
            close()
            part, part_bytes, first_index, times = [], 0, index, []
        part.append(encoded)
        part_bytes += len(encoded) + 1
        used += len(encoded) + 1
        times.append(t)
    if part:
        close()
    return items, used, 0
