"""Detection's storage, one file per reason to change (docs/detection.md, "Storage"):

* ``replays``: replay objects in S3 (the only reader of the bucket);
* ``sessions``: a session's state between batches and its timeline parts, as items;
* ``issues``: what a batch does to an issue, as one conditional update; signal items;
* ``bounds``: what page content may become in an item;
* ``table``: ``DetectionStore``, every read and write of the data table, one commit per batch;
* ``insights``: ``InsightsStore``, the insights function's reads and writes.

Only ``replays``, ``table`` and ``insights`` call AWS; the keys and item shapes are
``lucent.datatable``'s.
"""

from __future__ import annotations

from lucent.detection.store.bounds import clip_text
from lucent.detection.store.insights import InsightsStore
from lucent.detection.store.issues import IssueChange, IssueSnapshot, signal_item
from lucent.detection.store.replays import ReplayStore, decode_batch_object, replay_key
from lucent.detection.store.sessions import (
    MAX_TIMELINE_BYTES,
    STATE_GZIP_LEVEL,
    FittedState,
    SessionRecord,
    fit_state,
    timeline_parts,
)
from lucent.detection.store.table import DetectionStore

__all__ = [
    "MAX_TIMELINE_BYTES",
    "STATE_GZIP_LEVEL",
    "DetectionStore",
    "FittedState",
    "InsightsStore",
    "IssueChange",
    "IssueSnapshot",
    "ReplayStore",
    "SessionRecord",
    "clip_text",
    "decode_batch_object",
    "fit_state",
    "replay_key",
    "signal_item",
    "timeline_parts",
]
