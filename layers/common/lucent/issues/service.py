"""The Data API's rules: issues, signals and insights of one organization at a time.

``DataService`` checks scopes, turns cursors into positions and back, and changes statuses; the
data table is ``lucent.issues.store``. The organization always comes from the caller's
``Principal`` (the authorizer context), never from the request. A cursor carries only the last id
returned, never an organization or a key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lucent import json_body
from lucent.auth.credentials import Principal, require_scope
from lucent.contract import READ_SCOPE, WRITE_ISSUES_SCOPE
from lucent.errors import InvalidCursor, IssueNotFound, SessionNotFound

# The ingest rule for session ids: one that cannot exist is not looked up.
from lucent.ingest.batch import SESSION_ID
from lucent.issues.models import (
    INSIGHT_ID_PATTERN,
    ISSUE_ID_PATTERN,
    MAX_CURSOR_LENGTH,
    SIGNAL_ID_PATTERN,
    Insight,
    InsightPage,
    Issue,
    IssueKind,
    IssueListParams,
    IssuePage,
    IssueStatus,
    Page,
    PageParams,
    Signal,
    SignalListParams,
    SignalPage,
    TimelineEntry,
    TimelineKind,
    TimelinePage,
    TimelineParams,
)
from lucent.issues.store import DataStore

ISSUE_ID = re.compile(ISSUE_ID_PATTERN)
# A timeline position: replay ms, batch sequence, index in the batch (the tie order).
TIMELINE_POSITION = re.compile(r"^\d{1,16}\.\d{10}\.\d{1,7}$")
# Stored compact timeline keys -> the response's field names.
_TIMELINE_FIELDS = {"t": "replay_timestamp_ms", "k": "kind", "kind": "signal_kind"}
SIGNAL_ID = re.compile(SIGNAL_ID_PATTERN)
INSIGHT_ID = re.compile(INSIGHT_ID_PATTERN)


# --- cursors -------------------------------------------------------------------------------------


def encode_cursor(listing: str, filter_value: str | None, last_id: str) -> str:
    """An opaque cursor: the listing, its filter and the last id served. No org, no key."""
    raw = json.dumps({"l": listing, "f": filter_value, "p": last_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(
    cursor: str, listing: str, filter_value: str | None, id_pattern: re.Pattern[str]
) -> str:
    """The last id a cursor carries; InvalidCursor unless it was made for this very listing."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        # The strict reader (a client's bytes): a flat object, no key twice (InvalidJson is a
        # ValueError).
        data = json_body.loads(raw, max_depth=1)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor() from exc
    if (
        not isinstance(data, dict)
        or set(data) != {"l", "f", "p"}
        or data["l"] != listing
        or data["f"] != filter_value
        or not isinstance(data["p"], str)
        or not id_pattern.fullmatch(data["p"])
    ):
        raise InvalidCursor()
    return str(data["p"])


# --- domain --------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


class DataService:
    """What the Data API does, for one caller at a time. Scopes are checked here too."""

    def __init__(self, store: DataStore, clock: Callable[[], datetime] = _now) -> None:
        self._store = store
        self._clock = clock

    def list_issues(self, principal: Principal, params: IssueListParams) -> Page[Issue]:
        require_scope(principal, READ_SCOPE)
        status = params.status.value if params.status else None
        after = _after(params.cursor, "issues", status, ISSUE_ID)
        items, more = self._store.query_issues(principal.org_id, params.status, after, params.limit)
        cursor = encode_cursor("issues", status, items[-1].id) if more and items else None
        return IssuePage(items=items, next_cursor=cursor)

    def get_issue(self, principal: Principal, issue_id: str) -> Issue:
        require_scope(principal, READ_SCOPE)
        # A malformed id cannot exist: same answer as an unknown one, without a read.
        issue = (
            self._store.get_issue(principal.org_id, issue_id)
            if ISSUE_ID.fullmatch(issue_id)
            else None
        )
        if issue is None:
            raise IssueNotFound()
        return issue

    def update_issue_status(
        self, principal: Principal, issue_id: str, status: IssueStatus
    ) -> Issue:
        require_scope(principal, WRITE_ISSUES_SCOPE)
        if not ISSUE_ID.fullmatch(issue_id):
            raise IssueNotFound()
        issue = self._store.update_issue_status(
            principal.org_id, issue_id, status, principal.credential_id, self._clock()
        )
        if issue is None:
            raise IssueNotFound()
        return issue

    def list_signals(self, principal: Principal, params: SignalListParams) -> Page[Signal]:
        require_scope(principal, READ_SCOPE)
        after = _after(params.cursor, "signals", params.issue_id, SIGNAL_ID)
        items, more = self._store.query_signals(
            principal.org_id, params.issue_id, after, params.limit
        )
        cursor = encode_cursor("signals", params.issue_id, items[-1].id) if more and items else None
        return SignalPage(items=items, next_cursor=cursor)

    def session_timeline(
        self, principal: Principal, session_id: str, params: TimelineParams
    ) -> Page[TimelineEntry]:
        """What happened in a session, sorted by ``replay_timestamp_ms``; entries of the same
        millisecond in the order detection emitted them (a click before the signal about it).
        Another organization's session, an unknown one and a malformed id are the same 404."""
        require_scope(principal, READ_SCOPE)
        window = f"{session_id}|{params.from_ms}|{params.to_ms}"
        position = _after(params.cursor, "timeline", window, TIMELINE_POSITION)
        if not SESSION_ID.fullmatch(session_id) or not self._store.session_exists(
            principal.org_id, session_id
        ):
            raise SessionNotFound()
        after = None
        if position is not None:
            at_ms, sequence, index = position.split(".")
            after = (int(at_ms), int(sequence), int(index))
        found, more = self._store.query_timeline(
            principal.org_id,
            session_id,
            after,
            from_ms=params.from_ms,
            to_ms=params.to_ms,
            limit=params.limit,
        )
        items = [_timeline_entry(entry) for _, entry in found]
        cursor = None
        if more and found:
            (last_ms, last_sequence, last_index), _ = found[-1]
            last = f"{last_ms}.{last_sequence:010d}.{last_index}"
            cursor = encode_cursor("timeline", window, last)
        return TimelinePage(items=items, next_cursor=cursor)

    def list_insights(self, principal: Principal, params: PageParams) -> Page[Insight]:
        require_scope(principal, READ_SCOPE)
        after = _after(params.cursor, "insights", None, INSIGHT_ID)
        items, more = self._store.query_insights(principal.org_id, after, params.limit)
        cursor = encode_cursor("insights", None, items[-1].id) if more and items else None
        return InsightPage(items=items, next_cursor=cursor)


def _timeline_entry(stored: dict[str, Any]) -> TimelineEntry:
    """A stored entry under the response's field names. Detection wrote it and its texts are
    page content, an id field too (docs/decisions/017-mcpquote-untrusted-tool-text.md): built
    without re-validating, as the store reads its items; an unknown kind still raises (a 500)."""
    values = {_TIMELINE_FIELDS.get(k, k): v for k, v in stored.items()}
    signal_kind = values.get("signal_kind")
    return TimelineEntry.model_construct(
        replay_timestamp_ms=int(values["replay_timestamp_ms"]),
        kind=TimelineKind(values["kind"]),
        url=values.get("url"),
        selector=values.get("selector"),
        text=values.get("text"),
        detail=values.get("detail"),
        signal_kind=IssueKind(signal_kind) if signal_kind is not None else None,
        signal_id=values.get("signal_id"),
        issue_id=values.get("issue_id"),
    )


def _after(
    cursor: str | None, listing: str, filter_value: str | None, pattern: re.Pattern[str]
) -> str | None:
    return decode_cursor(cursor, listing, filter_value, pattern) if cursor is not None else None
