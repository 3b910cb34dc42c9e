"""Exactly-once detection over at-least-once, unordered S3 notifications (docs/detection.md).

Each session has a watermark, ``next_seq``: the sequence of the next batch to process. A
notification for a replay object is handled by processing the session's batches *in sequence
order* from the watermark on, as far as the stored objects go:

* a batch below the watermark was processed already (a duplicate delivery, or the SDK sending it
  again): nothing happens;
* a batch above it waits for the ones before it (``SequenceGap``: the message is retried); the
  invocation that brings the missing batch processes the waiting ones too;
* processing a batch is a pure function of (state, batch), and its result is committed with the
  watermark's advance in one conditional write: of two invocations doing the same batch, one
  commits and the other sees ``SessionStateConflict`` and moves on.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lucent.auth.credentials import ORG_ID_PATTERN
from lucent.detection import rules
from lucent.detection.detector import BatchFindings, DetectedSignal, SessionDetector
from lucent.detection.ids import deterministic_id, hour_bucket, iso
from lucent.detection.store import (
    DetectionStore,
    IssueChange,
    SessionRecord,
    signal_item,
    timeline_item,
)
from lucent.errors import IssueWriteConflict, SequenceGap, SessionStateConflict

# lucent.ingest.batch.SESSION_ID, restated to keep pydantic out of this function's cold start
# (tests/unit/test_detection_store.py holds the two equal).
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
REPLAY_KEY = re.compile(r"^replays/([^/]+)/([^/]+)/(\d{10})\.json\.gz$")

# After this many deliveries of a batch that still waits for an earlier one, the missing batches
# are given up (the SDK never sent them, or ingest refused them) and detection moves past them.
GAP_SKIP_AFTER_RECEIVES = 4
# A transaction holds at most 100 writes: the state, and per issue an update and a user marker.
MAX_ISSUES_PER_BATCH = 40
MAX_CONFLICT_RETRIES = 8
# Hourly occurrence counters older than this are dropped when an issue is updated (insights
# compare the last 24 hours with the 7 days before).
HOURS_KEPT_MS = 8 * 24 * 3600 * 1000
MAX_STALE_HOURS_PER_UPDATE = 24


def replay_key(org_id: str, session_id: str, sequence: int) -> str:
    return f"replays/{org_id}/{session_id}/{sequence:010d}.json.gz"


def parse_replay_key(key: str) -> tuple[str, str, int] | None:
    """(org, session, sequence) of a replay object key; None for any other key."""
    match = REPLAY_KEY.match(key)
    if match is None:
        return None
    org_id, session_id, sequence = match.groups()
    if ORG_ID_PATTERN.fullmatch(org_id) is None or SESSION_ID.fullmatch(session_id) is None:
        return None
    return org_id, session_id, int(sequence)


@dataclass(slots=True)
class Outcome:
    """What one notification did: the sequences it processed (its own or waiting ones)."""

    org_id: str
    session_id: str
    sequence: int
    processed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    signals: int = 0
    dropped_signals: int = 0
    conflicts: int = 0
    duplicate: bool = False


def _now_ms() -> int:
    return int(time.time() * 1000)


class DetectionService:
    def __init__(self, store: DetectionStore, clock: Callable[[], int] = _now_ms) -> None:
        self._store = store
        self._clock = clock

    def handle_object(self, key: str, receive_count: int = 1) -> Outcome | None:
        """Process what a notification for ``key`` makes processable. None: not a replay key."""
        parsed = parse_replay_key(key)
        if parsed is None:
            return None
        org_id, session_id, sequence = parsed
        outcome = Outcome(org_id, session_id, sequence)
        record: SessionRecord | None = None
        while True:
            if record is None:  # first, and after a conflict: what is committed now
                record = self._store.load_session(org_id, session_id) or SessionRecord()
            current = record.next_seq
            if current > sequence and not outcome.processed and not outcome.skipped:
                outcome.duplicate = True
            batch = self._store.read_batch(replay_key(org_id, session_id, current))
            if batch is None:
                if current >= sequence:
                    return outcome  # done, and nothing stored after it (yet)
                if receive_count < GAP_SKIP_AFTER_RECEIVES:
                    raise SequenceGap(f"waiting for sequence {current} before {sequence}")
                batch = {"events": []}  # give the missing batch up: an empty one in its place
                outcome.skipped.append(current)
            try:
                signals, dropped, record = self._apply(org_id, session_id, current, record, batch)
            except (SessionStateConflict, IssueWriteConflict):
                outcome.conflicts += 1
                if outcome.conflicts > MAX_CONFLICT_RETRIES:
                    raise
                record = None
                continue
            if batch.get("events"):
                outcome.processed.append(current)
            outcome.signals += signals
            outcome.dropped_signals += dropped

    # --- one batch ------------------------------------------------------------------------------

    def _apply(
        self,
        org_id: str,
        session_id: str,
        sequence: int,
        record: SessionRecord,
        batch: dict[str, Any],
    ) -> tuple[int, int, SessionRecord]:
        detector = SessionDetector(record.detector)
        findings = detector.feed(batch["events"])
        kept, dropped = _cap_issues(findings)
        user = _user_hash(org_id, batch.get("metadata")) or record.user
        by_fp: dict[str, list[tuple[int, DetectedSignal]]] = {}
        for index, signal in kept:
            by_fp.setdefault(rules.fingerprint_hash(signal.fingerprint), []).append((index, signal))

        changes: list[IssueChange] = []
        issue_of: dict[str, str] = {}
        if by_fp:
            wanted = {
                fp: deterministic_id("iss_", signals[0][1].timestamp_ms, org_id, fp)
                for fp, signals in by_fp.items()
            }
            issue_of = self._store.resolve_issue_ids(org_id, wanted)
            snapshots = self._store.read_issues(org_id, issue_of.values())
            new_here = [fp for fp in by_fp if fp not in record.issues]
            markers = (
                self._store.existing_user_markers(
                    org_id, [f"{issue_of[fp]}#{user}" for fp in new_here]
                )
                if user is not None
                else set()
            )
            for fp, signals in by_fp.items():
                changes.append(
                    _change(
                        issue_of[fp],
                        fp,
                        signals,
                        snapshots.get(issue_of[fp]),
                        first_time=fp in new_here,
                        user=user,
                        markers=markers,
                    )
                )

        items: list[dict[str, Any]] = []
        signal_ids: dict[int, tuple[str, str]] = {}
        for index, signal in kept:
            issue_id = issue_of[rules.fingerprint_hash(signal.fingerprint)]
            signal_id = deterministic_id(
                "sig_", signal.timestamp_ms, org_id, session_id, sequence, index
            )
            signal_ids[index] = (signal_id, issue_id)
            items.append(signal_item(org_id, signal_id, issue_id, session_id, signal))
        entries = _timeline(findings, signal_ids)
        if entries:
            items.append(timeline_item(org_id, session_id, sequence, entries))
        if items:
            self._store.put_items(items)

        new_record = SessionRecord(
            next_seq=sequence + 1,
            detector=detector.state(),
            issues=record.issues + [fp for fp in by_fp if fp not in record.issues],
            user=user,
        )
        now = iso(self._clock())
        self._store.commit(org_id, session_id, sequence, new_record, changes, now=now)
        return len(kept), dropped, new_record


def _cap_issues(findings: BatchFindings) -> tuple[list[tuple[int, DetectedSignal]], int]:
    """The signals of at most MAX_ISSUES_PER_BATCH distinct fingerprints (the first seen)."""
    allowed: set[str] = set()
    kept = []
    for index, signal in enumerate(findings.signals):
        if signal.fingerprint not in allowed and len(allowed) < MAX_ISSUES_PER_BATCH:
            allowed.add(signal.fingerprint)
        if signal.fingerprint in allowed:
            kept.append((index, signal))
    return kept, len(findings.signals) - len(kept)


def _user_hash(org_id: str, metadata: Any) -> str | None:
    """A stable, non-reversible key for ``metadata.user_id`` (ids may be emails)."""
    if not isinstance(metadata, dict):
        return None
    user = metadata.get("user_id")
    if isinstance(user, bool) or not isinstance(user, str | int) or user == "":
        return None
    return hashlib.sha256(f"{org_id}\x1f{user}".encode()).hexdigest()[:24]


def _change(
    issue_id: str,
    fp: str,
    signals: list[tuple[int, DetectedSignal]],
    snapshot: Any,
    *,
    first_time: bool,
    user: str | None,
    markers: set[str],
) -> IssueChange:
    first = signals[0][1]
    times = [s.timestamp_ms for _, s in signals]
    hours = dict(Counter(hour_bucket(t) for t in times))
    sessions = 1 if first_time else 0
    if user is None:
        users, marker = sessions, None  # an anonymous session counts as its own user
    elif sessions and f"{issue_id}#{user}" not in markers:
        users, marker = 1, user
    else:
        users, marker = 0, None
    read_sessions = snapshot.sessions_affected if snapshot is not None else 0
    regressed_at = None
    stale: list[str] = []
    if snapshot is not None:
        if snapshot.status == "resolved" and snapshot.status_updated_at:
            later = sorted(iso(t) for t in times if iso(t) > snapshot.status_updated_at)
            regressed_at = later[0] if later else None
        if snapshot.hours:
            cutoff = hour_bucket(max(times) - HOURS_KEPT_MS)
            stale = sorted(h for h in snapshot.hours if h < cutoff and h not in hours)
            stale = stale[:MAX_STALE_HOURS_PER_UPDATE]
    return IssueChange(
        issue_id=issue_id,
        fingerprint_hash=fp,
        kind=first.kind,
        title=first.title,
        url=first.url,
        selector=first.selector,
        occurrences=len(signals),
        first_seen=iso(min(times)),
        last_seen=iso(max(times)),
        hours=hours,
        sessions=sessions,
        users=users,
        user_marker=marker,
        severity=rules.severity(first.kind, read_sessions + sessions),
        snapshot=snapshot,
        regressed_at=regressed_at,
        stale_hours=stale,
    )


def _timeline(
    findings: BatchFindings, signal_ids: dict[int, tuple[str, str]]
) -> list[dict[str, Any]]:
    """The batch's timeline entries, each signal entry with its ids (dropped signals left out)."""
    out = []
    for entry in findings.timeline:
        if entry["k"] != "signal":
            out.append(entry)
            continue
        index = entry["index"]
        if index not in signal_ids:
            continue
        signal = findings.signals[index]
        signal_id, issue_id = signal_ids[index]
        shown = {
            "t": entry["t"],
            "k": "signal",
            "kind": signal.kind,
            "signal_id": signal_id,
            "issue_id": issue_id,
            "detail": signal.detail,
        }
        if signal.selector is not None:
            shown["selector"] = signal.selector
        out.append(shown)
    return out
