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

Every cost is bounded by construction (docs/detection.md, "Bounds"): a batch more than
``MAX_SEQUENCE_GAP`` ahead of the watermark is not waited for and never moves it; a gap is given
up in one step (one listing, one commit); a batch that fails the same way every time is a
poison batch, recorded and skipped; and the loop stops between batches when the invocation's
time runs low (``OutOfTime``: the message is retried and goes on from the watermark).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lucent.auth.credentials import ORG_ID_PATTERN
from lucent.detection import rules
from lucent.detection.detector import BatchFindings, DetectedSignal, SessionDetector
from lucent.detection.ids import deterministic_id, hour_bucket, iso
from lucent.detection.store import (
    MAX_TIMELINE_BYTES,
    DetectionStore,
    IssueChange,
    IssueSnapshot,
    SessionRecord,
    fit_state,
    signal_item,
    timeline_parts,
)
from lucent.detection.store.replays import replay_key as replay_key  # noqa: PLC0414 (re-export)
from lucent.errors import (
    DetectionUnavailable,
    IssueWriteConflict,
    OutOfTime,
    PoisonBatch,
    SequenceGap,
    SessionStateConflict,
)
from lucent.observability import logger

# lucent.ingest.batch.SESSION_ID, restated to keep pydantic out of this function's cold start
# (tests/unit/test_detection_store.py holds the two equal).
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
REPLAY_KEY = re.compile(r"^replays/([^/]+)/([^/]+)/(\d{10})\.json\.gz$")

# After this many deliveries of a batch that still waits for an earlier one, the missing batches
# are given up (the SDK never sent them, or ingest refused them) and detection moves past them.
GAP_SKIP_AFTER_RECEIVES = 4
# How far ahead of the watermark a batch may be and still be waited for (and, after the
# deliveries above, have the batches before it given up). The SDK numbers batches 0, 1, 2, ...:
# a batch further ahead is a poison batch (a forged or broken sequence). It is acknowledged and
# recorded, never a reason to move the watermark; its object stays stored, so the session's
# in-order pass still processes it should the watermark ever reach it.
MAX_SEQUENCE_GAP = 64
# The loop starts another batch only with this much of the invocation left: more than the
# worst batch ingest accepts takes (docs/detection.md, "Bounds"; make bench).
MIN_REMAINING_MS = 6_000
# A transaction holds at most 100 writes: the state, and per issue an update and a user marker.
MAX_ISSUES_PER_BATCH = 40
MAX_CONFLICT_RETRIES = 8
# Hourly occurrence counters older than this are dropped when an issue is updated (insights
# compare the last 24 hours with the 7 days before).
HOURS_KEPT_MS = 8 * 24 * 3600 * 1000
HOUR_MS = 3600 * 1000
MAX_STALE_HOURS_PER_UPDATE = 24
# At most this many hourly counters are added by one batch (its latest hours): each is one
# clause of the issue's update, whose expression DynamoDB caps at 4 KB.
MAX_NEW_HOURS_PER_UPDATE = 24
# So an issue holds at most the window's hours, as many gone stale and not yet removed, and one
# batch's new ones (docs/detection.md, "Bounds").
MAX_HOURS_KEPT = 2 * (HOURS_KEPT_MS // HOUR_MS + 1) + MAX_NEW_HOURS_PER_UPDATE


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
    dropped_entries: int = 0  # timeline entries past the session's MAX_TIMELINE_BYTES
    # Everything else the detector's bounds left out, by kind (BatchFindings.dropped).
    dropped: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0
    duplicate: bool = False
    poisoned: str | None = None  # why the last poison batch met was one (a code, no content)


def _now_ms() -> int:
    return int(time.time() * 1000)


class DetectionService:
    def __init__(self, store: DetectionStore, clock: Callable[[], int] = _now_ms) -> None:
        self._store = store
        self._clock = clock

    def handle_object(
        self,
        key: str,
        receive_count: int = 1,
        time_left_ms: Callable[[], int] | None = None,
    ) -> Outcome | None:
        """Process what a notification for ``key`` makes processable. None: not a replay key.
        ``time_left_ms``: the invocation's remaining time, checked before each batch."""
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
            if sequence - current > MAX_SEQUENCE_GAP:
                outcome.poisoned = "too_far_ahead"
                _log_poison(outcome, sequence, "too_far_ahead")
                return outcome
            try:
                batch = self._store.replays.read_batch(replay_key(org_id, session_id, current))
                if batch is None:
                    if current >= sequence:
                        return outcome  # done, and nothing stored after it (yet)
                    if receive_count < GAP_SKIP_AFTER_RECEIVES:
                        raise SequenceGap(f"waiting for sequence {current} before {sequence}")
                    # Give the missing batches up, all in one step, up to the next stored one.
                    found = self._store.replays.next_stored_sequence(org_id, session_id, current)
                    if found is None or found > sequence:
                        return outcome  # this notification's object is gone (expired)
                    record = self._skip(org_id, session_id, current, found, record)
                    outcome.skipped += range(current, found)
                    continue
                if time_left_ms is not None and time_left_ms() < MIN_REMAINING_MS:
                    # A stored batch is left: fail the message so that its retry goes on.
                    raise OutOfTime(f"stopped before sequence {current}")
                with _page_content_errors_poison():
                    signals, dropped, entries_dropped, bounded, record = self._apply(
                        org_id, session_id, current, record, batch
                    )
            except (SessionStateConflict, IssueWriteConflict):
                outcome.conflicts += 1
                if outcome.conflicts > MAX_CONFLICT_RETRIES:
                    raise
                record = None
                continue
            except PoisonBatch as exc:
                record = self._poison(outcome, current, record, str(exc))
                continue
            if batch.get("events"):
                outcome.processed.append(current)
            outcome.signals += signals
            outcome.dropped_signals += dropped
            outcome.dropped_entries += entries_dropped
            outcome.dropped.update(bounded)

    def _skip(
        self, org_id: str, session_id: str, current: int, found: int, record: SessionRecord
    ) -> SessionRecord:
        """Move the watermark from ``current`` to ``found``, the state unchanged."""
        moved = fit_state(_advanced(record, found))
        self._store.commit(org_id, session_id, current, moved, [], now=iso(self._clock()))
        return moved.record

    def _poison(
        self, outcome: Outcome, current: int, record: SessionRecord, reason: str
    ) -> SessionRecord | None:
        """Record the batch at ``current`` as poison and move past it with the state from before
        it (which fitted, since it was stored). None after a conflict: reload."""
        outcome.poisoned = reason
        _log_poison(outcome, current, reason)
        moved = fit_state(_advanced(record, current + 1))
        try:
            self._store.commit(
                outcome.org_id,
                outcome.session_id,
                current,
                moved,
                [],
                now=iso(self._clock()),
                poisoned=current,
            )
        except SessionStateConflict:
            outcome.conflicts += 1
            if outcome.conflicts > MAX_CONFLICT_RETRIES:
                raise
            return None
        outcome.skipped.append(current)
        return moved.record

    # --- one batch ------------------------------------------------------------------------------

    def _apply(
        self,
        org_id: str,
        session_id: str,
        sequence: int,
        record: SessionRecord,
        batch: dict[str, Any],
    ) -> tuple[int, int, int, dict[str, int], SessionRecord]:
        """Signals kept and dropped, timeline entries dropped, what else the detector's bounds
        left out (by kind), and the committed record."""
        detector = SessionDetector(record.detector)
        findings = detector.feed(batch["events"])
        kept, dropped = _cap_issues(findings)
        dropped += findings.dropped["signals"]  # past the detector's own caps
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
        parts, used, entries_dropped = timeline_parts(
            org_id, session_id, sequence, entries, MAX_TIMELINE_BYTES - record.timeline_bytes
        )
        items += parts
        entries_dropped += findings.dropped["entries"]
        # Checked before anything is written: a state too large makes a poison batch.
        fitted = fit_state(
            SessionRecord(
                next_seq=sequence + 1,
                detector=detector.state(),
                issues=record.issues + [fp for fp in by_fp if fp not in record.issues],
                user=user,
                timeline_bytes=record.timeline_bytes + used,
            )
        )
        if items:
            self._store.put_items(items)
        now = iso(self._clock())
        self._store.commit(org_id, session_id, sequence, fitted, changes, now=now)
        bounded = {
            kind: count
            for kind, count in findings.dropped.items()
            if count and kind not in ("signals", "entries")
        }
        return len(kept), dropped, entries_dropped, bounded, fitted.record


@contextmanager
def _page_content_errors_poison() -> Iterator[None]:
    """Any error but AWS's and the watermark's, raised while a batch is applied, comes from its
    page content and would repeat on every delivery: PoisonBatch."""
    try:
        yield
    except (DetectionUnavailable, SessionStateConflict, IssueWriteConflict, PoisonBatch):
        raise
    except Exception as exc:
        raise PoisonBatch(type(exc).__name__) from exc


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
    # surrogatepass: a lone surrogate (valid JSON: a "\ud800" escape) must hash, not raise.
    key = f"{org_id}\x1f{user}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(key).hexdigest()[:24]


def _change(
    issue_id: str,
    fp: str,
    signals: list[tuple[int, DetectedSignal]],
    snapshot: IssueSnapshot | None,
    *,
    first_time: bool,
    user: str | None,
    markers: set[str],
) -> IssueChange:
    first = signals[0][1]
    times = [s.timestamp_ms for _, s in signals]
    hours = _new_hours(times, snapshot.hours if snapshot is not None else None)
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
            cutoff = _hours_cutoff(times, snapshot.hours)
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


def _hours_cutoff(times: list[int], known: dict[str, int] | None) -> str:
    """The oldest hour an issue keeps a counter for: HOURS_KEPT_MS before the newest hour seen,
    in this batch or already counted (so a batch of old timestamps cannot grow the map)."""
    newest = hour_bucket(max(times))
    if known:
        newest = max(newest, *known)
    moment = datetime.strptime(newest, "h%Y%m%d%H").replace(tzinfo=UTC)
    return hour_bucket(int(moment.timestamp() * 1000) - HOURS_KEPT_MS)


def _new_hours(times: list[int], known: dict[str, int] | None) -> dict[str, int]:
    """This batch's occurrences per hour: only hours inside the kept window, and only its
    latest MAX_NEW_HOURS_PER_UPDATE hours (occurrences themselves are all counted)."""
    cutoff = _hours_cutoff(times, known)
    counts = Counter(h for h in (hour_bucket(t) for t in times) if h >= cutoff)
    latest = sorted(counts, reverse=True)[:MAX_NEW_HOURS_PER_UPDATE]
    return {h: counts[h] for h in sorted(latest)}


def _advanced(record: SessionRecord, next_seq: int) -> SessionRecord:
    return SessionRecord(
        next_seq=next_seq,
        detector=record.detector,
        issues=record.issues,
        user=record.user,
        timeline_bytes=record.timeline_bytes,
    )


def _log_poison(outcome: Outcome, sequence: int, reason: str) -> None:
    # Ids and a reason code only: never events, texts or user ids.
    logger.warning(
        "poison batch",
        extra={
            "org_id": outcome.org_id,
            "session_id": outcome.session_id,
            "sequence": sequence,
            "reason": reason,
        },
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
