"""The Data API's runtime records against the pydantic models they replace at runtime.

The functions validate query parameters and the PATCH body, and serialise responses, with
``lucent.issues.records`` (no pydantic: docs/performance.md). This holds them to
``lucent.issues.models``: on generated inputs, hostile ones included, both accept the same
values or both refuse with the same first error (field and pydantic's message, which the
handler's 400 shows), and every response serialises to the same JSON, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from lucent.http import dumps
from lucent.issues import models, records
from lucent.issues.store import (
    insight_from_item,
    insight_item,
    issue_from_item,
    issue_item,
    signal_from_item,
    signal_item,
)

PARSERS: tuple[tuple[Callable[[Mapping[str, Any]], Any], type[BaseModel]], ...] = (
    (records.page_params, models.PageParams),
    (records.issue_list_params, models.IssueListParams),
    (records.signal_list_params, models.SignalListParams),
    (records.timeline_params, models.TimelineParams),
)
ULID_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ulids = st.text(alphabet=ULID_CHARS, min_size=26, max_size=26)
issue_ids = ulids.map(lambda u: "iss_" + u)

# --- inputs --------------------------------------------------------------------------------------

white = st.sampled_from(["", " ", "\t", "\n", "\x0b", "\r", "\xa0", "\u3000", "\x1c", "\ufeff"])
digits = st.text(alphabet="0123456789", min_size=1, max_size=25)


@st.composite
def number_texts(draw: st.DrawFn) -> str:
    """Strings near an integer: signs, white space, underscores, ``.0`` tails, huge lengths."""
    body = draw(
        st.one_of(
            st.integers(-5, 150).map(str),
            digits,
            st.lists(digits, min_size=2, max_size=4).map("_".join),
            st.sampled_from(["1__0", "_1", "1_", "5.", ".5", "1e2", "0x10", "NaN", "inf", "١"]),
            st.integers(4295, 4305).map(lambda n: "1" * n),
            st.integers(4295, 4305).map(lambda n: "0" * n + "7"),
            st.integers(4299, 4302).map(lambda n: "9" * n + ".0"),
        )
    )
    sign = draw(st.sampled_from(["", "", "+", "-", "--"]))
    tail = draw(st.sampled_from(["", "", ".0", ".00", ".5", ".0_0", "x"]))
    return draw(white) + sign + body + tail + draw(white)


id_texts = st.one_of(
    issue_ids,
    issue_ids.map(lambda i: i + "\n"),
    issue_ids.map(str.lower),
    ulids.map(lambda u: "sig_" + u),
    st.text(max_size=40),
)


@st.composite
def query_values(draw: st.DrawFn) -> str:
    return draw(
        st.one_of(
            number_texts(),
            st.sampled_from(["open", "resolved", "ignored", "OPEN", " open", "", "closed"]),
            id_texts,
            st.text(max_size=30),
        )
    )


query_keys = st.sampled_from(
    ["limit", "cursor", "status", "issue_id", "from_ms", "to_ms", "org_id", "Limit", "extra"]
)
queries = st.dictionaries(query_keys, query_values(), max_size=6)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False),
    st.sampled_from(["open", "resolved", "ignored", "Open", "", "1"]),
    st.text(max_size=10),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
bodies = st.dictionaries(
    st.one_of(st.sampled_from(["status", "Status", "extra", "status "]), st.text(max_size=8)),
    json_values,
    max_size=4,
)


# --- outcomes ------------------------------------------------------------------------------------


def pydantic_outcome(model: type[BaseModel], data: Mapping[str, Any]) -> tuple[str, Any]:
    try:
        made = model.model_validate(dict(data))
    except ValidationError as exc:
        error = exc.errors()[0]
        return "invalid", (".".join(str(part) for part in error["loc"]), error["msg"])
    return "valid", {name: getattr(made, name) for name in type(made).model_fields}


def records_outcome(parse: Callable[[Mapping[str, Any]], Any], data: Mapping[str, Any]) -> Any:
    try:
        made = parse(dict(data))
    except records.Invalid as exc:
        return "invalid", (exc.field, exc.message)
    if isinstance(made, records.IssueStatus):
        return "valid", {"status": made}
    return "valid", {name: getattr(made, name) for name in made.__dataclass_fields__}


@settings(max_examples=1500, deadline=None)
@given(queries)
@example({"limit": "1" * 4301})
@example({"limit": "+" + "1" * 4301})
@example({"limit": "-" + "1" * 4301})
@example({"limit": "0" * 4301 + "1" * 4301})
@example({"limit": "1_" * 4300 + "1"})
@example({"limit": " 1_0.00 ", "status": "resolved", "issue_id": "iss_" + "0" * 26})
@example({"issue_id": "iss_" + "0" * 26 + "\n"})
@example({"from_ms": "-1", "limit": "0", "to_ms": "x"})
def test_query_parameters_match_the_pydantic_models(query: dict[str, str]) -> None:
    for parse, model in PARSERS:
        assert records_outcome(parse, query) == pydantic_outcome(model, query), model.__name__


@settings(max_examples=1000, deadline=None)
@given(bodies)
@example({})
@example({"a": 1, "b": 2})
@example({"a": 1, "status": "open"})
@example({"status": "x", "a": 1})
@example({"status": True})
@example({"status": None})
@example({"status": ["open"]})
def test_patch_body_matches_the_pydantic_model(body: dict[str, Any]) -> None:
    assert records_outcome(records.status_update, body) == pydantic_outcome(
        models.IssueStatusUpdate, body
    )


def test_a_valid_query_gives_the_typed_values() -> None:
    """Not only the same as pydantic: the values themselves (both could be wrong together)."""
    parsed = records.timeline_params({"limit": " 1_0.0 ", "from_ms": "5", "org_id": "other"})
    assert parsed == records.TimelineParams(limit=10, cursor=None, from_ms=5, to_ms=None)
    status = records.issue_list_params({"status": "resolved"}).status
    assert status is records.IssueStatus.RESOLVED
    with pytest.raises(records.Invalid) as refused:
        records.page_params({"limit": "101"})
    assert (refused.value.field, refused.value.message) == (
        "limit",
        "Input should be less than or equal to 100",
    )


# --- responses -----------------------------------------------------------------------------------

offsets = st.one_of(
    st.just(UTC),
    st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
    st.integers(-50_000, 50_000).map(lambda s: timezone(timedelta(seconds=s))),
)
moments = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    offsets,
)
texts = st.text(max_size=20)
counts = st.integers(0, 2**40)


def _ids(prefix: str) -> st.SearchStrategy[str]:
    return ulids.map(lambda u: prefix + u)


issues = st.builds(
    models.Issue,
    id=_ids("iss_"),
    title=texts,
    kind=st.sampled_from(models.IssueKind),
    severity=st.sampled_from(models.Severity),
    status=st.sampled_from(models.IssueStatus),
    occurrences=counts,
    sessions_affected=counts,
    users_affected=counts,
    first_seen=moments,
    last_seen=moments,
    url=texts,
    status_updated_at=st.none() | moments,
    status_updated_by=st.none() | texts,
    selector=st.none() | texts,
    regressed_at=st.none() | moments,
)
signals = st.builds(
    models.Signal,
    id=_ids("sig_"),
    issue_id=_ids("iss_"),
    kind=st.sampled_from(models.IssueKind),
    session_id=texts,
    replay_timestamp_ms=counts,
    occurred_at=moments,
    url=texts,
    selector=st.none() | texts,
    text=st.none() | texts,
    detail=texts,
)
insights = st.builds(
    models.Insight,
    id=_ids("ins_"),
    title=texts,
    summary=texts,
    category=st.sampled_from(models.InsightCategory),
    impact=st.sampled_from(models.Impact),
    related_issue_ids=st.lists(_ids("iss_"), max_size=3),
    created_at=moments,
)
timeline_entries = st.builds(
    models.TimelineEntry,
    replay_timestamp_ms=counts,
    kind=st.sampled_from(models.TimelineKind),
    url=st.none() | texts,
    selector=st.none() | texts,
    text=st.none() | texts,
    detail=st.none() | texts,
    signal_kind=st.none() | st.sampled_from(models.IssueKind),
    signal_id=st.none() | _ids("sig_"),
    issue_id=st.none() | _ids("iss_"),
)
RECORD_OF: dict[type[BaseModel], type[Any]] = {
    models.Issue: records.Issue,
    models.Signal: records.Signal,
    models.Insight: records.Insight,
    models.TimelineEntry: records.TimelineEntry,
}
PAGE_OF: dict[type[BaseModel], type[BaseModel]] = {
    models.Issue: models.IssuePage,
    models.Signal: models.SignalPage,
    models.Insight: models.InsightPage,
    models.TimelineEntry: models.TimelinePage,
}


def as_record(model: BaseModel) -> Any:
    return RECORD_OF[type(model)](**model.model_dump())


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([issues, signals, insights, timeline_entries]).flatmap(
        lambda kind: st.lists(kind, max_size=4)
    ),
    st.none() | st.text(max_size=30),
)
def test_responses_serialise_as_the_pydantic_models_do(
    items: list[BaseModel], cursor: str | None
) -> None:
    for item in items:
        expected = item.model_dump(mode="json")
        assert as_record(item).to_json() == expected
        assert dumps(as_record(item).to_json()) == dumps(expected)
    page_model = PAGE_OF[type(items[0])] if items else models.IssuePage
    page = page_model(items=items, next_cursor=cursor)
    record_page = records.Page(items=[as_record(i) for i in items], next_cursor=cursor)
    assert dumps(record_page.to_json()) == dumps(page.model_dump(mode="json"))


def test_datetimes_serialise_as_pydantic_does() -> None:
    """The cases the formatter branches on, written out (UTC, microseconds, offsets)."""
    assert records.json_datetime(datetime(2026, 11, 29, 16, 20, tzinfo=UTC)) == (
        "2026-11-29T16:20:00Z"
    )
    five_and_half = timezone(-timedelta(hours=5, minutes=30, seconds=7))
    moment = datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=five_and_half)
    assert records.json_datetime(moment) == "2026-01-02T03:04:05.000600-05:30"


def _reference_issue(item: Mapping[str, Any]) -> models.Issue:
    """How the store read an issue before the records (pydantic validating the item's text)."""
    numbers = ("occurrences", "sessions_affected", "users_affected")
    return models.Issue.model_validate(
        {
            name: int(value["N"]) if name in numbers else value["S"]
            for name, value in item.items()
            if name in models.Issue.model_fields
        }
    )


@settings(max_examples=300, deadline=None)
@given(issues, signals, insights)
def test_stored_items_read_back_as_the_pydantic_reader_did(
    issue: models.Issue, signal: models.Signal, insight: models.Insight
) -> None:
    item = issue_item("org_1", as_record(issue))
    assert dumps(issue_from_item(item).to_json()) == dumps(
        _reference_issue(item).model_dump(mode="json")
    )
    stored_signal = signal_item("org_1", as_record(signal))
    expected_signal = models.Signal.model_validate(
        {
            name: int(value["N"]) if "N" in value else value["S"]
            for name, value in stored_signal.items()
            if name in models.Signal.model_fields
        }
    )
    assert dumps(signal_from_item(stored_signal).to_json()) == dumps(
        expected_signal.model_dump(mode="json")
    )
    stored_insight = insight_item("org_1", as_record(insight))
    expected_insight = models.Insight.model_validate(
        {
            name: [v["S"] for v in value["L"]] if "L" in value else value["S"]
            for name, value in stored_insight.items()
            if name in models.Insight.model_fields
        }
    )
    assert dumps(insight_from_item(stored_insight).to_json()) == dumps(
        expected_insight.model_dump(mode="json")
    )


def test_a_stored_time_without_an_offset_is_refused_as_before() -> None:
    item = issue_item("org_1", as_record(_an_issue()))
    item["first_seen"] = {"S": "2026-11-29T16:20:00"}
    with pytest.raises(ValueError, match="without an offset"):
        issue_from_item(item)
    with pytest.raises(ValidationError):
        _reference_issue(item)


def _an_issue() -> models.Issue:
    at = datetime(2026, 11, 29, 16, 20, tzinfo=UTC)
    return models.Issue(
        id="iss_" + "0" * 26,
        title="Rage clicks on Pay",
        kind=models.IssueKind.RAGE_CLICK,
        severity=models.Severity.HIGH,
        status=models.IssueStatus.OPEN,
        occurrences=3,
        sessions_affected=2,
        users_affected=1,
        first_seen=at,
        last_seen=at,
        url="https://shop.example.com/pay",
    )


def test_records_and_models_share_the_enums_and_fields() -> None:
    """One definition of each enum; the same field names, in the same order, as the models."""
    assert models.IssueStatus is records.IssueStatus
    assert models.TimelineKind is records.TimelineKind
    for model, record in RECORD_OF.items():
        assert list(record.__dataclass_fields__) == list(model.model_fields), model.__name__
    json.dumps(as_record(_an_issue()).to_json())
