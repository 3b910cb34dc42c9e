"""GET /api/v1/sessions/{session_id}/timeline over what detection stored: order, pages, time
window, organization isolation, every answer against docs/openapi-data.yaml, and no typed text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lucent.auth.credentials import CredentialKind
from tests.conftest import load_function
from tests.unit.test_detection import SECRET, click, element, load_events, meta, page
from tests.unit.test_detection_store import Rig, split
from tests.unit.test_issues_handler import ORG_A, ORG_B, READ_A, invoke, principal_for
from tests.unit.test_openapi import check_against_document

RESOURCE = "/api/v1/sessions/{session_id}/timeline"


def path(session: str) -> str:
    return f"/api/v1/sessions/{session}/timeline"


@pytest.fixture
def detected(aws: dict[str, str], dynamodb: Any, s3: Any) -> Rig:
    """The shop session of organization A, in three batches; another of organization B."""
    rig = Rig(dynamodb, s3, org=ORG_A)
    events = load_events("shop")
    rig.deliver([rig.upload("shop-a", n, p) for n, p in enumerate(split(events, [20, 40]))])
    other = Rig(dynamodb, s3, org=ORG_B)
    other.deliver([other.upload("shop-b", 0, events)])
    return rig


def get(fn: Any, session: str, **options: Any) -> Any:
    options.setdefault("principal", READ_A)
    method = options.pop("method", "GET")
    result = invoke(fn, method, path(session), **options)
    check_against_document(RESOURCE, method, result)
    return result


def test_the_timeline_tells_the_session_in_order(detected: Rig) -> None:
    fn = load_function("IssuesFunction")
    result = get(fn, "shop-a", query={"limit": "100"})
    assert result.status == 200
    page = result.json()
    assert page["next_cursor"] is None
    entries = page["items"]
    kinds = [e["kind"] for e in entries]
    assert kinds[0] == "page_view"
    assert entries[0]["url"].endswith("/page/detection.html")
    clicks = [(e["selector"], e["text"]) for e in entries if e["kind"] == "click"]
    assert clicks == [
        ("button#add", "Add to cart"),
        ("main#shop > form > button.btn.primary:nth-of-type(1)", "Save draft"),
        *[("main#shop > div.products > div.card:nth-of-type(2) > img.product-image", "Blue mug")]
        * 3,
        ("input#card", None),
        ("button#checkout", "Checkout"),
    ]
    inputs = [e for e in entries if e["kind"] == "input"]
    assert inputs == [
        {
            "replay_timestamp_ms": inputs[0]["replay_timestamp_ms"],
            "kind": "input",
            "url": None,
            "selector": "input#card",
            "text": None,
            "detail": None,
            "signal_kind": None,
            "signal_id": None,
            "issue_id": None,
        }
    ]
    signals = {s.id: s for s in detected.signals()}
    found = [e for e in entries if e["kind"] == "signal"]
    assert sorted(e["signal_kind"] for e in found) == [
        "dead_click",
        "error_click",
        "js_error",
        "rage_click",
    ]
    for entry in found:
        signal = signals[entry["signal_id"]]
        assert (entry["issue_id"], entry["replay_timestamp_ms"]) == (
            signal.issue_id,
            signal.replay_timestamp_ms,
        )
    assert [e["detail"] for e in entries if e["kind"] == "error"] == [
        "TypeError: Cannot read properties of undefined (reading 'items')"
    ]
    assert SECRET not in result.body.decode()
    assert "hunter2" not in result.body.decode()


def test_pages_and_time_window(detected: Rig) -> None:
    fn = load_function("IssuesFunction")
    everything = get(fn, "shop-a", query={"limit": "100"}).json()["items"]
    walked: list[Any] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = get(fn, "shop-a", query=query).json()
        walked += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == everything
    assert pages == -(-len(everything) // 3)
    window = get(fn, "shop-a", query={"from_ms": "4000", "to_ms": "5000", "limit": "100"}).json()
    assert window["items"] == [e for e in everything if 4000 <= e["replay_timestamp_ms"] <= 5000]
    assert {e["kind"] for e in window["items"]} == {"click", "signal"}
    # A cursor is bound to its session and window.
    first = get(fn, "shop-a", query={"limit": "2"}).json()["next_cursor"]
    moved = get(fn, "shop-a", query={"limit": "2", "cursor": first, "from_ms": "1"})
    assert (moved.status, moved.json()) == (400, {"error": "Invalid cursor"})


def test_other_organizations_and_unknown_sessions_are_the_same_404(detected: Rig) -> None:
    fn = load_function("IssuesFunction")
    answers = [get(fn, s) for s in ("shop-b", "no-such-session", "bad%20id", "x" * 200)]
    assert {(a.status, a.body) for a in answers} == {(404, b'{"error": "Session not found"}')}
    assert len({json.dumps(sorted(a.headers.items())) for a in answers}) == 1


@pytest.mark.parametrize(
    ("options", "status", "body"),
    [
        ({"query": {"limit": "0"}}, 400, None),
        ({"query": {"from_ms": "-1"}}, 400, None),
        ({"query": {"cursor": "nope"}}, 400, {"error": "Invalid cursor"}),
        (
            {"principal": principal_for(CredentialKind.OAUTH, ORG_A, scopes=["write:issues"])},
            403,
            {"error": "Missing required scope: read:lucent"},
        ),
        ({"method": "POST"}, 405, {"error": "Method not allowed"}),
    ],
)
def test_errors(detected: Rig, options: dict[str, Any], status: int, body: Any) -> None:
    fn = load_function("IssuesFunction")
    result = get(fn, "shop-a", **options)
    assert result.status == status
    if body is not None:
        assert result.json() == body
    if status == 405:
        assert result.headers["Allow"] == "GET"


def test_the_timeline_is_sorted_by_replay_time_across_batches_and_pages(
    aws: dict[str, str], dynamodb: Any, s3: Any
) -> None:
    """Issue 17, finding 13: a rage burst straddling two batches is emitted at its third click
    (batch 1) but points at its first (batch 0): the signal sits right after that click."""
    rig = Rig(dynamodb, s3, org=ORG_A)
    start = [meta(0), page(element(20, "div", "Photo"), element(30, "div", "Other"))]
    rig.deliver(
        [
            rig.upload("burst", 0, [*start, click(1000, 20), click(1500, 20)]),
            rig.upload(
                "burst", 1, [click(2000, 20), click(2100, 30, x=900), click(2100, 30, x=900)]
            ),
        ]
    )
    fn = load_function("IssuesFunction")
    everything = get(fn, "burst", query={"limit": "100"}).json()["items"]
    shown = [(e["replay_timestamp_ms"], e["kind"], e["signal_kind"]) for e in everything]
    assert shown == [
        (0, "page_view", None),
        (1000, "click", None),
        (1000, "signal", "rage_click"),
        (1500, "click", None),
        (2000, "click", None),
        (2100, "click", None),
        (2100, "click", None),
    ]
    walked: list[Any] = []
    cursor = None
    while True:
        query = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        page_ = get(fn, "burst", query=query).json()
        walked += page_["items"]
        cursor = page_["next_cursor"]
        if cursor is None:
            break
    assert walked == everything
    window = get(fn, "burst", query={"from_ms": "1000", "to_ms": "1500"}).json()["items"]
    assert [e["replay_timestamp_ms"] for e in window] == [1000, 1000, 1500]
