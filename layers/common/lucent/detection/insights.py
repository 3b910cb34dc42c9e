"""Insights derived from detected issues (docs/detection.md): pure rules, no AWS.

Two kinds, recomputed on each run for each organization:

* **per page**: the open issues of each page (URL path) and the sessions they affected;
* **new or spiking**: issues first seen in the last 24 hours, and issues whose occurrences in the
  last 24 hours are at least ``SPIKE_FACTOR`` times their daily average over the 7 days before
  (and at least ``SPIKE_MIN_OCCURRENCES``), from the per-hour counters detection keeps.

Each insight lists its issues (most sessions first). Ids are derived from the organization, the
insight's subject and the hour of the run, so a run repeated within the hour rewrites the same
items.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from lucent.detection.ids import deterministic_id, iso

SPIKE_FACTOR = 3
SPIKE_MIN_OCCURRENCES = 5
MAX_RELATED = 10
CLICK_KINDS = frozenset({"rage_click", "dead_click", "error_click"})


@dataclass(frozen=True, slots=True)
class IssueRow:
    id: str
    title: str
    kind: str
    status: str
    url: str
    occurrences: int
    sessions_affected: int
    first_seen: str
    hours: dict[str, int]


@dataclass(frozen=True, slots=True)
class DerivedInsight:
    id: str
    title: str
    summary: str
    category: str
    impact: str
    related_issue_ids: list[str]
    created_at: str


def _impact(sessions: int) -> str:
    return "high" if sessions >= 100 else "medium" if sessions >= 10 else "low"


def _path(url: str) -> str:
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return "/"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _ranked(issues: list[IssueRow]) -> list[IssueRow]:
    return sorted(issues, key=lambda i: (-i.sessions_affected, -i.occurrences, i.id))


def derive(org_id: str, issues: list[IssueRow], now: datetime) -> list[DerivedInsight]:
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hour_ms = int(hour.timestamp() * 1000)
    created = iso(int(now.timestamp() * 1000))
    out: list[DerivedInsight] = []

    pages: dict[str, list[IssueRow]] = {}
    for issue in issues:
        if issue.status == "open":
            pages.setdefault(_path(issue.url), []).append(issue)
    for path, page_issues in sorted(pages.items()):
        ranked = _ranked(page_issues)
        sessions = sum(i.sessions_affected for i in ranked)
        clicks = sum(1 for i in ranked if i.kind in CLICK_KINDS)
        out.append(
            DerivedInsight(
                id=deterministic_id("ins_", hour_ms, org_id, "page", path),
                title=f"{_plural(len(ranked), 'open issue')} on {path}",
                summary=(
                    f"{_plural(len(ranked), 'open issue')} on {path} affected "
                    f"{_plural(sessions, 'session')} (counted per issue). "
                    f"Most affecting: {ranked[0].title}."
                ),
                category="usability" if clicks * 2 >= len(ranked) else "reliability",
                impact=_impact(sessions),
                related_issue_ids=[i.id for i in ranked[:MAX_RELATED]],
                created_at=created,
            )
        )

    day_ago = hour - timedelta(hours=24)
    week_before = day_ago - timedelta(days=7)
    # Linear in the organization's issues, whose number pages can grow: no list membership, and
    # the cut-offs formatted once.
    new_since = iso(int(day_ago.timestamp() * 1000))
    day_bucket, week_bucket = _bucket(day_ago), _bucket(week_before)
    new = [i for i in issues if i.status != "ignored" and i.first_seen >= new_since]
    new_ids = {i.id for i in new}
    spiking = []
    for issue in issues:
        if issue.status == "ignored" or issue.id in new_ids:
            continue
        last_day = sum(c for h, c in issue.hours.items() if h >= day_bucket)
        before = sum(c for h, c in issue.hours.items() if week_bucket <= h < day_bucket)
        if last_day >= SPIKE_MIN_OCCURRENCES and last_day * 7 >= SPIKE_FACTOR * before:
            spiking.append(issue)
    if new:
        ranked = _ranked(new)
        out.append(
            DerivedInsight(
                id=deterministic_id("ins_", hour_ms, org_id, "new"),
                title=f"{_plural(len(ranked), 'new issue')} in the last 24 hours",
                summary=(
                    f"First seen in the last 24 hours: {', '.join(i.title for i in ranked[:3])}"
                    f"{' and more' if len(ranked) > 3 else ''}."
                ),
                category="reliability",
                impact=_impact(sum(i.sessions_affected for i in ranked)),
                related_issue_ids=[i.id for i in ranked[:MAX_RELATED]],
                created_at=created,
            )
        )
    if spiking:
        ranked = _ranked(spiking)
        out.append(
            DerivedInsight(
                id=deterministic_id("ins_", hour_ms, org_id, "spiking"),
                title=f"{_plural(len(ranked), 'issue')} spiking in the last 24 hours",
                summary=(
                    f"At least {SPIKE_FACTOR}x their daily average of the week before: "
                    f"{', '.join(i.title for i in ranked[:3])}{' and more' if len(ranked) > 3 else ''}."
                ),
                category="reliability",
                impact=_impact(sum(i.sessions_affected for i in ranked)),
                related_issue_ids=[i.id for i in ranked[:MAX_RELATED]],
                created_at=created,
            )
        )
    return out


def _bucket(moment: datetime) -> str:
    return moment.strftime("h%Y%m%d%H")
