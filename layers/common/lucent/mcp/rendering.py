"""The text the model reads in a tool result: one line per item, a page's head and tail.

Every field that comes from a recording (title, selector, text, url, detail, summary) goes
through ``lucent.mcp.untrusted``: one quoted, escaped, bounded literal, so it can never start a
line of its own. Ids go through ``untrusted.identifier`` (bare when of our form); statuses,
kinds, counts and times are ours, parsed from the record, and shown as they are.
"""

from __future__ import annotations

from typing import Any

from lucent.issues.models import Insight, Issue, Signal, TimelineEntry, TimelineKind
from lucent.mcp import untrusted


def _when(moment: Any) -> str:
    return str(moment.isoformat()).replace("+00:00", "Z") if moment is not None else "-"


def issue_line(issue: Issue) -> str:
    return (
        f"{untrusted.identifier(issue.id)} [{issue.status.value}] {issue.severity.value} "
        f"{issue.kind.value}: {untrusted.label(issue.title)} ({issue.occurrences} occurrences, "
        f"{issue.sessions_affected} sessions, last seen {_when(issue.last_seen)})"
    )


def page_text(
    noun: str, lines: list[str], next_cursor: str | None, filters: str, plural: str = ""
) -> str:
    head = f"{len(lines)} {noun if len(lines) == 1 else plural or noun + 's'}{filters}"
    body = "".join(f"\n- {line}" for line in lines)
    tail = f"\nMore: call again with cursor={next_cursor}" if next_cursor else "\nNo more pages."
    return head + (":" if lines else ".") + body + tail


def filters(**values: Any) -> str:
    # The agent's own arguments, but they may have been copied from page content.
    shown = [
        f"{k}={v if isinstance(v, int) else untrusted.identifier(v)}"
        for k, v in values.items()
        if v is not None
    ]
    return f" ({', '.join(shown)})" if shown else ""


def issue_text(issue: Issue) -> str:
    lines = [
        issue_line(issue),
        f"url: {untrusted.url(issue.url)}",
        f"users affected: {issue.users_affected}; first seen {_when(issue.first_seen)}",
    ]
    if issue.status_updated_at is not None:
        lines.append(
            f"status set to {issue.status.value} at {_when(issue.status_updated_at)} "
            f"by {untrusted.identifier(issue.status_updated_by)}"
        )
    return "\n".join(lines)


def signal_line(signal: Signal) -> str:
    where = f" on {untrusted.label(signal.selector)}" if signal.selector else ""
    return (
        f"{untrusted.identifier(signal.id)} {signal.kind.value} in session "
        f"{untrusted.identifier(signal.session_id)} at {signal.replay_timestamp_ms} ms{where} "
        f"{untrusted.url_in_parens(signal.url)}: {untrusted.detail(signal.detail)} "
        f"[issue {untrusted.identifier(signal.issue_id)}]"
    )


def insight_line(insight: Insight) -> str:
    related = ", ".join(untrusted.identifier(i) for i in insight.related_issue_ids) or "none"
    return (
        f"{untrusted.identifier(insight.id)} [{insight.impact.value} impact, "
        f"{insight.category.value}] {untrusted.label(insight.title)}: "
        f"{untrusted.summary(insight.summary)} (issues: {related})"
    )


def timeline_line(entry: TimelineEntry) -> str:
    """One entry: its offset in the replay, what happened, and on what (never typed text)."""
    head = f"{entry.replay_timestamp_ms} ms {entry.kind.value}"
    if entry.kind is TimelineKind.SIGNAL:
        kind = entry.signal_kind.value if entry.signal_kind else "signal"
        where = f" on {untrusted.label(entry.selector)}" if entry.selector else ""
        detail = f": {untrusted.detail(entry.detail)}" if entry.detail else ""
        issue, signal = untrusted.identifier(entry.issue_id), untrusted.identifier(entry.signal_id)
        return f"{head} {kind}{where}{detail} [issue {issue}, signal {signal}]"
    parts = [head]
    if entry.selector:
        parts.append(f"on {untrusted.label(entry.selector)}")
    if entry.text:
        parts.append(untrusted.label(entry.text))
    if entry.detail:
        parts.append(f"- {untrusted.detail(entry.detail)}")
    if entry.url and (entry.kind is TimelineKind.PAGE_VIEW or not entry.selector):
        parts.append(untrusted.url_in_parens(entry.url))
    return " ".join(parts)
