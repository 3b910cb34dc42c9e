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
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

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
    MAX_PAGE_LIMIT,
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
# The items of a filtered list.
_Item = TypeVar("_Item", Issue, Signal)


# --- cursors -------------------------------------------------------------------------------------


def encode_cursor(listing: str, filter_value: str | None, last_id: str) -> str:
    """An opaque cursor: the listing, its filter and the last id served. No org, no key."""
    raw = json.dumps({"l": listing, "f": filter_value, "p": last_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _cursor_json(cursor: str, max_depth: int) -> Any:
    """A cursor's JSON, read with the strict reader (a client's bytes: no key twice, bounded
    nesting; InvalidJson is a ValueError); InvalidCursor if it is not that."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return json_body.loads(raw, max_depth=max_depth)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor() from exc


def decode_cursor(
    cursor: str, listing: str, filter_value: str | None, id_pattern: re.Pattern[str]
) -> str:
    """The last id a cursor carries; InvalidCursor unless it was made for this very listing."""
    data = _cursor_json(cursor, max_depth=1)  # a flat object
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

    # --- filtered lists (MCP's filters the data table has no index for) ------------------------

    # One call of a filtered list reads at most this many pages of the data table (one query
    # each, of MAX_PAGE_LIMIT items) looking for matches.
    MAX_SCANNED_PAGES = 5

    def list_issues_of_kind(
        self, principal: Principal, params: IssueListParams, kind: IssueKind | None
    ) -> Page[Issue]:
        """``list_issues``, keeping only issues of ``kind`` (None: every kind).

        A full page of matches (``params.limit``) unless the data ends; ``next_cursor`` only
        when another match follows, or when the scan bound was reached first (then the page may
        be short, even empty: the cursor goes on from where the scan stopped). The cursor
        carries the filter: it is refused with any other status or kind.
        """
        status = params.status

        def fetch(cursor: str | None, size: int) -> Page[Issue]:
            return self.list_issues(
                principal, IssueListParams(status=status, limit=size, cursor=cursor)
            )

        return self._filtered(
            fetch,
            (lambda issue: issue.kind is kind) if kind is not None else None,
            params,
            {"kind": kind.value if kind is not None else None},
            lambda issue: encode_cursor("issues", status.value if status else None, issue.id),
        )

    def list_signals_where(
        self,
        principal: Principal,
        params: SignalListParams,
        *,
        session_id: str | None,
        kind: IssueKind | None,
    ) -> Page[Signal]:
        """``list_signals``, keeping only signals of ``session_id`` and of ``kind`` (None: any);
        paged as ``list_issues_of_kind``."""
        issue_id = params.issue_id

        def fetch(cursor: str | None, size: int) -> Page[Signal]:
            return self.list_signals(
                principal, SignalListParams(issue_id=issue_id, limit=size, cursor=cursor)
            )

        def keep(signal: Signal) -> bool:
            return (session_id is None or signal.session_id == session_id) and (
                kind is None or signal.kind is kind
            )

        return self._filtered(
            fetch,
            keep if session_id is not None or kind is not None else None,
            params,
            {"session_id": session_id, "kind": kind.value if kind is not None else None},
            lambda signal: encode_cursor("signals", issue_id, signal.id),
        )

    def _filtered(
        self,
        fetch: Callable[[str | None, int], Page[_Item]],
        keep: Callable[[_Item], bool] | None,
        params: PageParams,
        filters: Mapping[str, str | None],
        resume_after: Callable[[_Item], str],
    ) -> Page[_Item]:
        """The matches of the pages ``fetch`` reads, up to ``params.limit``, and where to resume.

        The scan goes on past a full page until one more match shows (so a cursor never leads
        to an empty page), the data ends, or MAX_SCANNED_PAGES queries were made.
        """
        cursor = self._unwrap_cursor(params.cursor, filters)
        if keep is None:
            page = fetch(cursor, params.limit)
            return Page(items=page.items, next_cursor=self._wrap_cursor(page.next_cursor, filters))
        found: list[_Item] = []
        for _ in range(self.MAX_SCANNED_PAGES):
            page = fetch(cursor, MAX_PAGE_LIMIT)
            for item in page.items:
                if not keep(item):
                    continue
                if len(found) == params.limit:
                    # Another match follows: resume right after the last one served.
                    return Page(
                        items=found, next_cursor=self._wrap_cursor(resume_after(found[-1]), filters)
                    )
                found.append(item)
            cursor = page.next_cursor
            if cursor is None:
                return Page(items=found, next_cursor=None)
        return Page(items=found, next_cursor=self._wrap_cursor(cursor, filters))

    @staticmethod
    def _wrap_cursor(cursor: str | None, filters: Mapping[str, str | None]) -> str | None:
        """A filtered list's cursor: the listing's own cursor and the filters it was made with."""
        if cursor is None:
            return None
        raw = json.dumps({"c": cursor, "x": dict(filters)}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def _unwrap_cursor(cursor: str | None, filters: Mapping[str, str | None]) -> str | None:
        """The listing's cursor inside one made with the very same filters; else InvalidCursor."""
        if cursor is None:
            return None
        data = _cursor_json(cursor, max_depth=2)  # the filters are the one nested level
        if (
            not isinstance(data, dict)
            or set(data) != {"c", "x"}
            or not isinstance(data["c"], str)
            or data["x"] != dict(filters)
        ):
            raise InvalidCursor()
        return data["c"]


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
