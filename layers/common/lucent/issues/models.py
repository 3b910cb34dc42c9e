"""The Data API's shapes as pydantic models: responses, list pages, query parameters, PATCH body.

The one definition of them: the Data API validates its query parameters and PATCH body with
them and serialises every answer through them, MCP's tools answer the same models (through
``lucent.issues.service``) and its output schemas are generated from them, and
``docs/openapi-data.yaml`` describes them (``tests/unit/test_openapi.py`` holds the two equal).

Ids are ULIDs behind a type prefix (``iss_``, ``sig_``, ``ins_``): 48 bits of milliseconds then 80
random bits in Crockford base32, so ids sort by creation time and list pages are stable.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import StrEnum
from random import Random
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    StringConstraints,
)

DEFAULT_PAGE_LIMIT = 25
MAX_PAGE_LIMIT = 100
MAX_CURSOR_LENGTH = 512

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID = "[0-9A-HJKMNP-TV-Z]{26}"
ISSUE_ID_PATTERN = f"^iss_{_ULID}$"
SIGNAL_ID_PATTERN = f"^sig_{_ULID}$"
INSIGHT_ID_PATTERN = f"^ins_{_ULID}$"


def new_id(prefix: str, at: datetime | None = None, rng: Random | None = None) -> str:
    """A time-ordered id: ``prefix`` + ULID. ``rng`` makes it reproducible (demo data)."""
    moment = at or datetime.now(UTC)
    millis = int(moment.timestamp() * 1000) & ((1 << 48) - 1)
    randomness = rng.getrandbits(80) if rng is not None else secrets.randbits(80)
    value = (millis << 80) | randomness
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return prefix + "".join(reversed(chars))


class IssueStatus(StrEnum):
    """``open``: needs attention. ``resolved``: fixed. ``ignored``: will not be fixed."""

    OPEN = "open"
    RESOLVED = "resolved"
    IGNORED = "ignored"


class IssueKind(StrEnum):
    RAGE_CLICK = "rage_click"
    DEAD_CLICK = "dead_click"
    ERROR_CLICK = "error_click"
    JS_ERROR = "js_error"
    NETWORK_ERROR = "network_error"
    SLOW_PAGE = "slow_page"
    FORM_ABANDONMENT = "form_abandonment"
    LAYOUT_SHIFT = "layout_shift"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class InsightCategory(StrEnum):
    USABILITY = "usability"
    PERFORMANCE = "performance"
    RELIABILITY = "reliability"
    CONVERSION = "conversion"
    ACCESSIBILITY = "accessibility"


class Impact(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class TimelineKind(StrEnum):
    PAGE_VIEW = "page_view"
    CLICK = "click"
    INPUT = "input"
    SCROLL = "scroll"
    ERROR = "error"
    NETWORK_ERROR = "network_error"
    SIGNAL = "signal"


IssueId = Annotated[str, StringConstraints(pattern=ISSUE_ID_PATTERN)]
SignalId = Annotated[str, StringConstraints(pattern=SIGNAL_ID_PATTERN)]
InsightId = Annotated[str, StringConstraints(pattern=INSIGHT_ID_PATTERN)]


class _Response(BaseModel):
    # Every field is always present in a response (null when unset), and the schema says so.
    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_serialization_defaults_required=True
    )

    def to_json(self) -> dict[str, Any]:
        """The response body: every field, in declaration order, as JSON values."""
        return self.model_dump(mode="json")


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
    """A page of a list. ``next_cursor`` is null on the last page.

    ``Page(items=...)`` without a type argument serialises each item as its own model
    (``SerializeAsAny``), as ``IssuePage`` and the others do."""

    items: list[SerializeAsAny[T]]
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
    # Checked by the service (decode_cursor): any bad cursor is "Invalid cursor".
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
