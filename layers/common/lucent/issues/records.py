"""The Data API's runtime shapes, without pydantic: records, pages, query parameters, PATCH body.

``lucent.issues.models`` keeps the pydantic models (the OpenAPI document, the demo data, the
tests); the functions (Data API, MCP) run on these plain classes instead, so their cold start
does not import pydantic nor build its model classes (~80 ms of CPU, docs/performance.md).
``tests/unit/test_issues_records.py`` runs generated inputs through both and requires the same
outcome: the same accepted values, the same first error (field and pydantic's message) and the
same JSON for every response.

Ids are ULIDs behind a type prefix (``iss_``, ``sig_``, ``ins_``): 48 bits of milliseconds then 80
random bits in Crockford base32, so ids sort by creation time and list pages are stable.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from random import Random
from typing import Any, Generic, TypeVar

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


# --- responses -----------------------------------------------------------------------------------


def json_datetime(moment: datetime) -> str:
    """A datetime as pydantic serialises an aware one: ISO 8601, microseconds only when not zero,
    ``Z`` for a zero offset, any other offset in whole minutes toward zero (its sign kept:
    -59 s is ``-00:00``)."""
    text = moment.replace(tzinfo=None).isoformat()
    offset = moment.utcoffset()
    if offset is None:
        return text
    seconds = offset.days * 86_400 + offset.seconds
    if seconds == 0:
        return text + "Z"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{text}{'-' if seconds < 0 else '+'}{hours:02d}:{minutes:02d}"


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return json_datetime(value)
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


class _Record:
    """``to_json()``: every field, in declaration order, as ``model_dump(mode="json")`` gives it."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        return {name: _json(getattr(self, name)) for name in self.__dataclass_fields__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True, kw_only=True)
class Issue(_Record):
    """A problem Lucent detected across sessions, grouped by kind, page and element."""

    id: str
    title: str
    kind: IssueKind
    severity: Severity
    status: IssueStatus
    occurrences: int
    sessions_affected: int
    users_affected: int
    first_seen: datetime
    last_seen: datetime
    url: str
    status_updated_at: datetime | None = None
    status_updated_by: str | None = None
    selector: str | None = None
    regressed_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Signal(_Record):
    """One piece of evidence: an event in a recorded session, with where to seek the replay."""

    id: str
    issue_id: str
    kind: IssueKind
    session_id: str
    replay_timestamp_ms: int
    occurred_at: datetime
    url: str
    selector: str | None = None
    text: str | None = None
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Insight(_Record):
    """A written summary across issues: what is happening, and what it costs."""

    id: str
    title: str
    summary: str
    category: InsightCategory
    impact: Impact
    related_issue_ids: list[str]
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineEntry(_Record):
    """One thing that happened in a session. Inputs name the element only."""

    replay_timestamp_ms: int
    kind: TimelineKind
    url: str | None = None
    selector: str | None = None
    text: str | None = None
    detail: str | None = None
    signal_kind: IssueKind | None = None
    signal_id: str | None = None
    issue_id: str | None = None

    @classmethod
    def from_stored(cls, values: Mapping[str, Any]) -> TimelineEntry:
        """From the stored entry's fields (already renamed); an unknown kind raises ValueError."""
        signal_kind = values.get("signal_kind")
        return cls(
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


R = TypeVar("R", bound=_Record)


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """A page of a list. ``next_cursor`` is null on the last page."""

    items: Sequence[R]
    next_cursor: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"items": [item.to_json() for item in self.items], "next_cursor": self.next_cursor}


# --- requests ------------------------------------------------------------------------------------


class Invalid(ValueError):
    """The first thing wrong with a request, in pydantic's words: ``field`` is its ``loc``."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True, slots=True)
class PageParams:
    """Query parameters every list takes. Unknown parameters (``org_id`` too) are ignored."""

    limit: int = DEFAULT_PAGE_LIMIT
    # Checked by the service (decode_cursor): any bad cursor is "Invalid cursor".
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class IssueListParams(PageParams):
    status: IssueStatus | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalListParams(PageParams):
    issue_id: str | None = None


@dataclass(frozen=True, slots=True)
class TimelineParams(PageParams):
    from_ms: int | None = None
    to_ms: int | None = None


# pydantic-core reads a string as an integer in two passes (its ``str_as_int``): first as a JSON
# integer, where more than 4300 digits is "exceeded maximum size" (Python's own bound on int
# parsing); then, cleaned (white space, sign, a ``.0`` tail, single underscores, leading zeros),
# where any failure, a too-long number included, is "unable to parse".
_JSON_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_JSON_DIGITS = re.compile(r"-?([1-9][0-9]*)")
_MAX_INT_DIGITS = 4300
_INT_PARSING = "Input should be a valid integer, unable to parse string as an integer"
_INT_TOO_LONG = "Unable to parse input string as an integer, exceeded maximum size"
# What pydantic-core strips around a number: Rust's ``str::trim`` (Unicode White_Space), which
# is not Python's ``str.strip()`` (that one strips U+001C..U+001F too).
_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_DIGITS = re.compile(r"[0-9]+")


def parse_int(text: str) -> int | None:
    """``text`` as pydantic's lax ``int`` reads a string; None if it is not one. Raises
    ``OverflowError`` where pydantic says "exceeded maximum size"."""
    scanned = _JSON_DIGITS.match(text)
    if scanned is not None and len(scanned.group(1)) > _MAX_INT_DIGITS:
        raise OverflowError(text)
    if _JSON_INT.fullmatch(text):
        return int(text)
    cleaned = text.strip(_WHITE_SPACE)
    sign = ""
    if cleaned[:1] in ("+", "-"):
        sign, cleaned = cleaned[0], cleaned[1:]
    point = cleaned.find(".")
    if point >= 0:
        decimals = cleaned[point + 1 :]
        if decimals and decimals.strip("0") == "":
            cleaned = cleaned[:point]
    if "_" in cleaned:
        if cleaned.startswith("_") or cleaned.endswith("_") or "__" in cleaned:
            return None
        cleaned = cleaned.replace("_", "")
    cleaned = cleaned.lstrip("0") or ("0" if cleaned else "")
    if not _DIGITS.fullmatch(cleaned) or len(cleaned) > _MAX_INT_DIGITS:
        return None
    return int(sign + cleaned)


def _integer(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """A query parameter as pydantic's lax ``int`` with ``ge``/``le`` reads a string."""
    if not isinstance(value, str):
        raise Invalid(name, "Input should be a valid integer")
    try:
        number = parse_int(value)
    except OverflowError:
        raise Invalid(name, _INT_TOO_LONG) from None
    if number is None:
        raise Invalid(name, _INT_PARSING)
    if number < minimum:
        raise Invalid(name, f"Input should be greater than or equal to {minimum}")
    if maximum is not None and number > maximum:
        raise Invalid(name, f"Input should be less than or equal to {maximum}")
    return number


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(name, "Input should be a valid string")
    return value


def _status(name: str, value: Any) -> IssueStatus:
    if isinstance(value, str):
        try:
            return IssueStatus(value)
        except ValueError:
            pass
    raise Invalid(name, "Input should be 'open', 'resolved' or 'ignored'")


def _page(params: Mapping[str, Any]) -> tuple[int, str | None]:
    limit = DEFAULT_PAGE_LIMIT
    if "limit" in params:
        limit = _integer("limit", params["limit"], 1, MAX_PAGE_LIMIT)
    cursor = _string("cursor", params["cursor"]) if params.get("cursor") is not None else None
    return limit, cursor


def page_params(params: Mapping[str, Any]) -> PageParams:
    limit, cursor = _page(params)
    return PageParams(limit=limit, cursor=cursor)


def issue_list_params(params: Mapping[str, Any]) -> IssueListParams:
    limit, cursor = _page(params)
    status = params.get("status")
    return IssueListParams(
        limit=limit, cursor=cursor, status=_status("status", status) if status is not None else None
    )


# fullmatch, not search: Python's ``$`` also matches before a final newline, the Rust regex
# pydantic uses does not.
_ISSUE_ID = re.compile(ISSUE_ID_PATTERN)


def signal_list_params(params: Mapping[str, Any]) -> SignalListParams:
    limit, cursor = _page(params)
    issue_id = params.get("issue_id")
    if issue_id is not None:
        issue_id = _string("issue_id", issue_id)
        if not _ISSUE_ID.fullmatch(issue_id):
            raise Invalid("issue_id", f"String should match pattern '{ISSUE_ID_PATTERN}'")
    return SignalListParams(limit=limit, cursor=cursor, issue_id=issue_id)


def timeline_params(params: Mapping[str, Any]) -> TimelineParams:
    limit, cursor = _page(params)
    bounds: dict[str, int | None] = {"from_ms": None, "to_ms": None}
    for name in bounds:
        if params.get(name) is not None:
            bounds[name] = _integer(name, params[name], 0)
    return TimelineParams(
        limit=limit, cursor=cursor, from_ms=bounds["from_ms"], to_ms=bounds["to_ms"]
    )


def status_update(body: Mapping[str, Any]) -> IssueStatus:
    """The PATCH body: exactly ``{"status": ...}``; the status is checked first, then any
    other field is refused, as the pydantic model reports them."""
    if "status" not in body:
        raise Invalid("status", "Field required")
    status = _status("status", body["status"])
    for name in body:
        if name != "status":
            raise Invalid(str(name), "Extra inputs are not permitted")
    return status
