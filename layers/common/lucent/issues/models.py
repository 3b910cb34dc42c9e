"""The Data API's shapes as pydantic models: responses, list pages, query parameters, PATCH body.

They are the contract's reference: ``docs/openapi-data.yaml`` describes the same shapes
(``tests/unit/test_openapi.py``), the demo data and the tests build them, and MCP's output
schemas are generated from them (``lucent/mcp/output_schemas.json``). The functions do not
import them: they run on ``lucent.issues.records`` (plain classes, no pydantic: ~80 ms less
cold start), which ``tests/unit/test_issues_records.py`` holds to these models' every answer.
The enums, bounds and id patterns are defined once, there, and re-exported here.
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from lucent.issues.records import (
    DEFAULT_PAGE_LIMIT,
    INSIGHT_ID_PATTERN,
    ISSUE_ID_PATTERN,
    MAX_CURSOR_LENGTH,
    MAX_PAGE_LIMIT,
    SIGNAL_ID_PATTERN,
    Impact,
    InsightCategory,
    IssueKind,
    IssueStatus,
    Severity,
    TimelineKind,
    new_id,
)

__all__ = [
    "DEFAULT_PAGE_LIMIT",
    "INSIGHT_ID_PATTERN",
    "ISSUE_ID_PATTERN",
    "MAX_CURSOR_LENGTH",
    "MAX_PAGE_LIMIT",
    "SIGNAL_ID_PATTERN",
    "Impact",
    "Insight",
    "InsightCategory",
    "InsightPage",
    "Issue",
    "IssueKind",
    "IssueListParams",
    "IssuePage",
    "IssueStatus",
    "IssueStatusUpdate",
    "Page",
    "PageParams",
    "Severity",
    "Signal",
    "SignalListParams",
    "SignalPage",
    "TimelineEntry",
    "TimelineKind",
    "TimelinePage",
    "TimelineParams",
    "new_id",
]

IssueId = Annotated[str, StringConstraints(pattern=ISSUE_ID_PATTERN)]
SignalId = Annotated[str, StringConstraints(pattern=SIGNAL_ID_PATTERN)]
InsightId = Annotated[str, StringConstraints(pattern=INSIGHT_ID_PATTERN)]


class _Response(BaseModel):
    # Every field is always present in a response (null when unset), and the schema says so.
    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_serialization_defaults_required=True
    )


class Issue(_Response):
    """A problem Lucent detected across sessions, grouped by kind, page and element."""

    id: IssueId
    title: str
    kind: IssueKind
    severity: Severity
    status: IssueStatus
    occurrences: int = Field(ge=0)
    sessions_affected: int = Field(ge=0)
    users_affected: int = Field(ge=0)
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    url: str
    status_updated_at: AwareDatetime | None = None
    status_updated_by: str | None = None
    # Detection (docs/detection.md): the element an issue is about (null for errors), and when a
    # resolved issue last came back (its status then set to open by ``system:detection``).
    selector: str | None = None
    regressed_at: AwareDatetime | None = None


class Signal(_Response):
    """One piece of evidence: an event in a recorded session, with where to seek the replay."""

    id: SignalId
    issue_id: IssueId
    kind: IssueKind
    session_id: str
    replay_timestamp_ms: int = Field(ge=0, description="offset from the start of the replay")
    occurred_at: AwareDatetime
    url: str
    selector: str | None = None
    text: str | None = Field(default=None, description="visible text of the element, ≤ 80 chars")
    detail: str


class Insight(_Response):
    """A written summary across issues: what is happening, and what it costs."""

    id: InsightId
    title: str
    summary: str
    category: InsightCategory
    impact: Impact
    related_issue_ids: list[IssueId]
    created_at: AwareDatetime


T = TypeVar("T", bound=BaseModel)


class Page(_Response, Generic[T]):
    """A page of a list. ``next_cursor`` is null on the last page."""

    items: list[T]
    next_cursor: str | None


class IssuePage(Page[Issue]):
    pass


class SignalPage(Page[Signal]):
    pass


class InsightPage(Page[Insight]):
    pass


# --- requests ------------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PageParams(_Request):
    """Query parameters every list takes. Unknown parameters (``org_id`` too) are ignored."""

    limit: int = Field(DEFAULT_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT)
    # Checked by the service (lucent.issues.decode_cursor): any bad cursor is "Invalid cursor".
    cursor: str | None = None


class IssueListParams(PageParams):
    status: IssueStatus | None = None


class SignalListParams(PageParams):
    issue_id: IssueId | None = None


class TimelineEntry(_Response):
    """One thing that happened in a session (docs/detection.md). Inputs name the element only:
    what was typed is never stored."""

    replay_timestamp_ms: int = Field(ge=0, description="offset from the start of the replay")
    kind: TimelineKind
    url: str | None = None
    selector: str | None = None
    text: str | None = None
    detail: str | None = None
    signal_kind: IssueKind | None = None
    signal_id: SignalId | None = None
    issue_id: IssueId | None = None


class TimelinePage(Page[TimelineEntry]):
    pass


class TimelineParams(PageParams):
    from_ms: int | None = Field(default=None, ge=0)
    to_ms: int | None = Field(default=None, ge=0)


class IssueStatusUpdate(BaseModel):
    """The PATCH body: exactly ``{"status": ...}``; any other field is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: IssueStatus
