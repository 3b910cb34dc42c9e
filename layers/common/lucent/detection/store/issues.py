"""Issues as detection counts them: what one batch does to an issue, as one conditional update,
and the issue and signal items it reads and writes (layouts from ``lucent.datatable``).

Pure: ``lucent.detection.store.table`` sends these requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lucent import datatable
from lucent.datatable import attribute
from lucent.detection.ids import iso
from lucent.detection.rules import SYSTEM_ACTOR
from lucent.detection.store.bounds import clip_text, replay_ms


@dataclass(frozen=True, slots=True)
class IssueSnapshot:
    issue_id: str
    status: str
    status_updated_at: str | None
    first_seen: str
    last_seen: str
    sessions_affected: int
    severity: str
    hours: dict[str, int] | None


@dataclass(slots=True)
class IssueChange:
    """What one batch does to one issue; the store turns it into one conditional update."""

    issue_id: str
    fingerprint_hash: str
    kind: str
    title: str
    url: str
    selector: str | None
    occurrences: int
    first_seen: str
    last_seen: str
    hours: dict[str, int]
    sessions: int  # 1 when this session counts for the issue for the first time
    users: int  # 1 when that also makes a new user
    user_marker: str | None  # a user hash to record as counted (with ``users``)
    severity: str
    snapshot: IssueSnapshot | None  # the issue as read before; None: create it
    regressed_at: str | None = None  # reopen a resolved issue, as of this time
    stale_hours: list[str] = field(default_factory=list)


def snapshot_from_item(item: Mapping[str, Any]) -> IssueSnapshot:
    return IssueSnapshot(
        issue_id=datatable.text(item, "id"),
        status=datatable.text(item, "status"),
        status_updated_at=datatable.optional_text(item, "status_updated_at"),
        first_seen=datatable.text(item, "first_seen"),
        last_seen=datatable.text(item, "last_seen"),
        sessions_affected=datatable.number(item, "sessions_affected"),
        severity=datatable.text(item, "severity"),
        hours=datatable.counts(item, "occ_hours"),
    )


def signal_item(
    org_id: str, signal_id: str, issue_id: str, session_id: str, signal: Any
) -> dict[str, Any]:
    """A detected signal as the Data API serves it, its page content clipped."""
    return datatable.signal_item(
        org_id,
        signal_id=signal_id,
        issue_id=issue_id,
        kind=signal.kind,
        session_id=session_id,
        replay_timestamp_ms=replay_ms(signal.replay_timestamp_ms),
        occurred_at=iso(signal.timestamp_ms),
        url=clip_text(signal.url),
        detail=clip_text(signal.detail),
        selector=None if signal.selector is None else clip_text(signal.selector),
        text=None if signal.text is None else clip_text(signal.text),
    )


def issue_update(table_name: str, org_id: str, change: IssueChange) -> dict[str, Any]:
    """The UpdateItem applying ``change``: a create, or counts added to the issue as read."""
    update = _Expression()
    if change.snapshot is None:
        _create(org_id, change, update)
    else:
        _add(org_id, change, change.snapshot, update)
    return {
        "TableName": table_name,
        "Key": datatable.key(org_id, datatable.issue_sk(change.issue_id)),
        **update.render(),
    }


@dataclass(slots=True)
class _Expression:
    """An UpdateItem's expressions, built clause by clause."""

    sets: list[str] = field(default_factory=list)
    adds: list[str] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def render(self) -> dict[str, Any]:
        expression = ""
        if self.sets:
            expression += "SET " + ", ".join(self.sets)
        if self.adds:
            expression += " ADD " + ", ".join(self.adds)
        if self.removes:
            expression += " REMOVE " + ", ".join(self.removes)
        out: dict[str, Any] = {
            "UpdateExpression": expression.strip(),
            "ConditionExpression": " AND ".join(self.conditions),
            "ExpressionAttributeValues": self.values,
        }
        if self.names:
            out["ExpressionAttributeNames"] = self.names
        return out


def _create(org_id: str, change: IssueChange, update: _Expression) -> None:
    """A new issue, with the batch's counts; only if nobody created it in between."""
    item = datatable.issue_item(
        org_id,
        issue_id=change.issue_id,
        title=clip_text(change.title),
        kind=change.kind,
        severity=change.severity,
        status="open",
        occurrences=change.occurrences,
        sessions_affected=change.sessions,
        users_affected=change.users,
        first_seen=change.first_seen,
        last_seen=change.last_seen,
        url=clip_text(change.url),
        selector=None if change.selector is None else clip_text(change.selector),
        fingerprint=change.fingerprint_hash,
        occ_hours=change.hours,
    )
    fields = {name: value for name, value in item.items() if name not in ("pk", "sk")}
    for index, (name, value) in enumerate(fields.items()):
        # Every name through a placeholder: status, url and others are reserved words.
        update.names[f"#f{index}"] = name
        update.sets.append(f"#f{index} = :v{index}")
        update.values[f":v{index}"] = value
    update.conditions.append("attribute_not_exists(pk)")


def _add(org_id: str, change: IssueChange, snap: IssueSnapshot, update: _Expression) -> None:
    """Counts added (commutative, no condition); first/last seen moved only outward, each
    guarded by a condition on the value it replaces; the severity rule's input guarded too."""
    update.values[":issue"] = attribute("issue")
    update.conditions.append("attribute_exists(pk) AND entity = :issue")
    update.adds.append("occurrences :occ")
    update.values[":occ"] = attribute(change.occurrences)
    if change.sessions:
        update.adds.append("sessions_affected :sessions")
        update.values[":sessions"] = attribute(change.sessions)
        update.conditions.append("sessions_affected = :read_sessions")
        update.values[":read_sessions"] = attribute(snap.sessions_affected)
        if change.severity != snap.severity:
            update.sets.append("severity = :severity")
            update.values[":severity"] = attribute(change.severity)
    if change.users:
        update.adds.append("users_affected :users")
        update.values[":users"] = attribute(change.users)
    if change.last_seen > snap.last_seen:
        update.sets.append("last_seen = :last")
        update.conditions.append("last_seen < :last")
        update.values[":last"] = attribute(change.last_seen)
    if change.first_seen < snap.first_seen:
        update.sets.append("first_seen = :first")
        update.conditions.append("first_seen > :first")
        update.values[":first"] = attribute(change.first_seen)
    _hours(change, snap.hours, update)
    if change.regressed_at is not None:
        _reopen(org_id, change, snap.status_updated_at, update)


def _hours(change: IssueChange, read_hours: dict[str, int] | None, update: _Expression) -> None:
    """Add this batch's per-hour occurrences; drop hours older than insights look at."""
    if read_hours is None:
        update.sets.append("occ_hours = :hours")
        update.values[":hours"] = attribute(change.hours)
        return
    update.values[":zero"] = attribute(0)
    for index, (hour, count) in enumerate(sorted(change.hours.items())):
        update.names[f"#h{index}"] = hour
        update.values[f":h{index}"] = attribute(count)
        update.sets.append(
            f"occ_hours.#h{index} = if_not_exists(occ_hours.#h{index}, :zero) + :h{index}"
        )
    for index, hour in enumerate(change.stale_hours):
        update.names[f"#old{index}"] = hour
        update.removes.append(f"occ_hours.#old{index}")


def _reopen(org_id: str, change: IssueChange, read_at: str | None, update: _Expression) -> None:
    """A resolved issue with a later occurrence is open again, by the system actor. Only from
    the status that was read: a change made through the Data API since then fails the condition,
    and the retry sees it, so such a change is never overwritten."""
    update.names["#status"] = "status"
    update.sets += [
        "#status = :open",
        "gsi1pk = :open_gsi",
        "status_updated_at = :regressed",
        "status_updated_by = :system",
        "regressed_at = :regressed",
    ]
    update.conditions.append("#status = :resolved AND status_updated_at = :read_at")
    update.values.update(
        {
            ":open": attribute("open"),
            ":open_gsi": attribute(datatable.status_gsi1pk(org_id, "open")),
            ":regressed": attribute(change.regressed_at or ""),
            ":system": attribute(SYSTEM_ACTOR),
            ":resolved": attribute("resolved"),
            ":read_at": attribute(read_at or ""),
        }
    )
