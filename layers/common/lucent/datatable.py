"""The data table's layout: every key, GSI key and item shape, and its attribute codec.

One module owns what the Data API (``lucent.issues.store``) and detection
(``lucent.detection.store``) store in the one table, so neither can drift from the other
(docs/storage.md). It builds keys and items and reads attributes back; it makes no AWS call.
Every item of an organization lives under ``pk = ORG#{org}``, by sort key:

* issue ``ISSUE#{issue_id}``, in gsi1 under ``ORG#{org}#STATUS#{status}`` / ``ISSUE#{issue_id}``;
* signal ``SIGNAL#{signal_id}``, in gsi1 under ``ORG#{org}#ISSUE#{issue_id}`` /
  ``SIGNAL#{signal_id}``;
* insight ``INSIGHT#{insight_id}``;
* session state ``SESSION#{session}`` and its timeline parts
  ``SESSION#{session}#TL#{sequence:010d}#{part:03d}``;
* fingerprint ``ISSUEFP#{fingerprint hash}`` and user marker ``ISSUEUSER#{issue_id}#{user hash}``.

Plus one item per organization with detected data: ``pk = ORGS``, ``sk = ORG#{org}``.

Items are written through boto3's ``TypeSerializer`` (a ``None`` value is left out, never stored
as NULL). They are read with the strict accessors below rather than ``TypeDeserializer``: an
attribute of another type than the layout's (a number where text belongs) must fail the read, as
it always has, instead of passing on as a ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from boto3.dynamodb.types import TypeSerializer

GSI1 = "gsi1"
ORGS_PK = "ORGS"
ORG_PREFIX = "ORG#"
ISSUE_PREFIX = "ISSUE#"
SIGNAL_PREFIX = "SIGNAL#"
INSIGHT_PREFIX = "INSIGHT#"
SESSION_PREFIX = "SESSION#"
FINGERPRINT_PREFIX = "ISSUEFP#"
USER_MARKER_PREFIX = "ISSUEUSER#"

Item = dict[str, Any]

_SERIALIZER = TypeSerializer()


# --- keys ----------------------------------------------------------------------------------------


def org_pk(org_id: str) -> str:
    return f"{ORG_PREFIX}{org_id}"


def status_gsi1pk(org_id: str, status: str) -> str:
    """gsi1's partition of an organization's issues in one status."""
    return f"{org_pk(org_id)}#STATUS#{status}"


def issue_gsi1pk(org_id: str, issue_id: str) -> str:
    """gsi1's partition of one issue's signals."""
    return f"{org_pk(org_id)}#ISSUE#{issue_id}"


def issue_sk(issue_id: str) -> str:
    return ISSUE_PREFIX + issue_id


def signal_sk(signal_id: str) -> str:
    return SIGNAL_PREFIX + signal_id


def insight_sk(insight_id: str) -> str:
    return INSIGHT_PREFIX + insight_id


def session_sk(session_id: str) -> str:
    return SESSION_PREFIX + session_id


def timeline_prefix(session_id: str) -> str:
    """The sort-key prefix of every timeline part of a session."""
    return f"{session_sk(session_id)}#TL#"


def timeline_sk(session_id: str, sequence: int, part: int | None = None) -> str:
    """A timeline part's sort key; without ``part``, a chunk's as written before parts existed
    (a whole batch, still read)."""
    sk = f"{timeline_prefix(session_id)}{sequence:010d}"
    return sk if part is None else f"{sk}#{part:03d}"


def timeline_sequence(sk: str, session_id: str) -> int:
    """The batch sequence a timeline part's sort key names."""
    start = len(timeline_prefix(session_id))
    return int(sk[start : start + 10])


def fingerprint_sk(fingerprint_hash: str) -> str:
    return FINGERPRINT_PREFIX + fingerprint_hash


def user_marker_sk(issue_id: str, user_hash: str) -> str:
    return f"{USER_MARKER_PREFIX}{issue_id}#{user_hash}"


def suffix(sk: str, prefix: str) -> str:
    """What follows ``prefix`` in a sort key (the id of an ``ISSUE#…``, a fingerprint hash)."""
    if not sk.startswith(prefix):
        raise ValueError(f"sort key {sk!r} does not start with {prefix!r}")
    return sk[len(prefix) :]


def key(org_id: str, sk: str) -> Item:
    """The primary key of an organization's item."""
    return {"pk": attribute(org_pk(org_id)), "sk": attribute(sk)}


# --- codec ---------------------------------------------------------------------------------------


def attribute(value: Any) -> dict[str, Any]:
    """One value as a DynamoDB attribute value (``{"S": ...}``, ``{"N": ...}``, ...)."""
    return cast("dict[str, Any]", _SERIALIZER.serialize(value))


def to_item(values: Mapping[str, Any]) -> Item:
    """Attributes from plain values; a ``None`` value is left out (optional attributes are
    absent, never NULL)."""
    return {name: attribute(value) for name, value in values.items() if value is not None}


def text(item: Mapping[str, Any], name: str) -> str:
    return str(item[name]["S"])


def optional_text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return None if value is None else str(value)


def number(item: Mapping[str, Any], name: str) -> int:
    return int(item[name]["N"])


def binary(item: Mapping[str, Any], name: str) -> bytes:
    return bytes(item[name]["B"])


def texts(item: Mapping[str, Any], name: str) -> list[str]:
    """A list of text values (absent: empty)."""
    return [str(v["S"]) for v in item.get(name, {}).get("L", [])]


def counts(item: Mapping[str, Any], name: str) -> dict[str, int] | None:
    """A map of numbers (an issue's per-hour occurrences); None if absent."""
    values = item.get(name, {}).get("M")
    return None if values is None else {k: int(v["N"]) for k, v in values.items()}


# --- items ---------------------------------------------------------------------------------------


def issue_item(
    org_id: str,
    *,
    issue_id: str,
    title: str,
    kind: str,
    severity: str,
    status: str,
    occurrences: int,
    sessions_affected: int,
    users_affected: int,
    first_seen: str,
    last_seen: str,
    url: str,
    status_updated_at: str | None = None,
    status_updated_by: str | None = None,
    selector: str | None = None,
    regressed_at: str | None = None,
    fingerprint: str | None = None,
    occ_hours: Mapping[str, int] | None = None,
) -> Item:
    """An issue. ``fingerprint`` and ``occ_hours`` (per-hour occurrences) are detection's."""
    return to_item(
        {
            "pk": org_pk(org_id),
            "sk": issue_sk(issue_id),
            "gsi1pk": status_gsi1pk(org_id, status),
            "gsi1sk": issue_sk(issue_id),
            "entity": "issue",
            "id": issue_id,
            "title": title,
            "kind": kind,
            "severity": severity,
            "status": status,
            "occurrences": occurrences,
            "sessions_affected": sessions_affected,
            "users_affected": users_affected,
            "first_seen": first_seen,
            "last_seen": last_seen,
            "url": url,
            "status_updated_at": status_updated_at,
            "status_updated_by": status_updated_by,
            "selector": selector,
            "regressed_at": regressed_at,
            "fingerprint": fingerprint,
            "occ_hours": dict(occ_hours) if occ_hours is not None else None,
        }
    )


def signal_item(
    org_id: str,
    *,
    signal_id: str,
    issue_id: str,
    kind: str,
    session_id: str,
    replay_timestamp_ms: int,
    occurred_at: str,
    url: str,
    detail: str,
    selector: str | None = None,
    text: str | None = None,
) -> Item:
    return to_item(
        {
            "pk": org_pk(org_id),
            "sk": signal_sk(signal_id),
            "gsi1pk": issue_gsi1pk(org_id, issue_id),
            "gsi1sk": signal_sk(signal_id),
            "entity": "signal",
            "id": signal_id,
            "issue_id": issue_id,
            "kind": kind,
            "session_id": session_id,
            "replay_timestamp_ms": replay_timestamp_ms,
            "occurred_at": occurred_at,
            "url": url,
            "detail": detail,
            "selector": selector,
            "text": text,
        }
    )


def insight_item(
    org_id: str,
    *,
    insight_id: str,
    title: str,
    summary: str,
    category: str,
    impact: str,
    related_issue_ids: Sequence[str],
    created_at: str,
    derived: bool = False,
) -> Item:
    """An insight; ``derived``: written by the insights function, which replaces its own."""
    return to_item(
        {
            "pk": org_pk(org_id),
            "sk": insight_sk(insight_id),
            "entity": "insight",
            "derived": True if derived else None,
            "id": insight_id,
            "title": title,
            "summary": summary,
            "category": category,
            "impact": impact,
            # A list, not a string set: sets cannot be empty and do not keep order.
            "related_issue_ids": list(related_issue_ids),
            "created_at": created_at,
        }
    )


def timeline_part_item(
    org_id: str,
    session_id: str,
    sequence: int,
    part: int,
    *,
    first_index: int,
    t_first: int,
    t_last: int,
    entries_gz: bytes,
) -> Item:
    """One part of a batch's timeline entries (gzip JSON), from batch index ``first_index``."""
    return to_item(
        {
            "pk": org_pk(org_id),
            "sk": timeline_sk(session_id, sequence, part),
            "entity": "timeline",
            "seq": sequence,
            "i0": first_index,
            "t_first": t_first,
            "t_last": t_last,
            "entries_gz": entries_gz,
        }
    )


def fingerprint_item(org_id: str, fingerprint_hash: str, issue_id: str) -> Item:
    """A fingerprint's issue, created once."""
    return to_item(
        {
            "pk": org_pk(org_id),
            "sk": fingerprint_sk(fingerprint_hash),
            "entity": "fingerprint",
            "issue_id": issue_id,
        }
    )


def user_marker_item(org_id: str, issue_id: str, user_hash: str) -> Item:
    """A user already counted for an issue."""
    return to_item(
        {
            "pk": org_pk(org_id),
            "sk": user_marker_sk(issue_id, user_hash),
            "entity": "issue_user",
        }
    )


def organization_item(org_id: str) -> Item:
    """An organization with detected data (the insights function walks them)."""
    return to_item({"pk": ORGS_PK, "sk": org_pk(org_id), "org_id": org_id})
