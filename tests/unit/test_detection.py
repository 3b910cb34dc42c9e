"""The detection rules over rrweb events: golden sessions, thresholds, batch boundaries, privacy.

Pure: no AWS. The golden sessions under tests/fixtures/sessions/ were recorded from Chromium
(``shop``, ``quiet``: record_sessions.py) or written by hand where the browser has no recorder
(``network``: the rrweb/network@1 format). Each comes with the signals expected from it.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lucent.detection import rules
from lucent.detection.detector import DetectedSignal, SessionDetector
from lucent.detection.mirror import NodeMirror

SESSIONS = Path(__file__).parents[1] / "fixtures" / "sessions"
GOLDEN = ("shop", "quiet", "network")
SECRET = "hunter2-SECRET-7781"
T0 = 1_700_000_000_000


def load_events(name: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads((SESSIONS / f"{name}.events.json").read_text())
    return events


def summary(signals: list[DetectedSignal]) -> list[dict[str, Any]]:
    return [
        {
            "kind": s.kind,
            "selector": s.selector,
            "text": s.text,
            "title": s.title,
            "detail": s.detail,
            "replay_timestamp_ms": s.replay_timestamp_ms,
        }
        for s in signals
    ]


def run_in_batches(events: list[dict[str, Any]], cuts: list[int]) -> tuple[list[Any], list[Any]]:
    """Feed the events batch by batch, the state going through JSON in between (as stored)."""
    state: dict[str, Any] | None = None
    signals: list[DetectedSignal] = []
    timeline: list[dict[str, Any]] = []
    bounds = [0, *sorted(set(cuts)), len(events)]
    for start, end in itertools.pairwise(bounds):
        detector = SessionDetector(state)
        found = detector.feed(events[start:end])
        offset = len(signals)
        signals += found.signals
        timeline += [
            {**e, "index": e["index"] + offset} if e["k"] == "signal" else e for e in found.timeline
        ]
        state = json.loads(json.dumps(detector.state()))
    return signals, timeline


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_session_gives_exactly_its_expected_signals(name: str) -> None:
    expected = json.loads((SESSIONS / f"{name}.expected.json").read_text())
    found = SessionDetector().feed(load_events(name))
    assert summary(found.signals) == expected


def test_shop_session_names_the_same_button_as_the_quiet_one() -> None:
    """Two sessions of the same page: the same element gets the same selector."""
    shop = SessionDetector().feed(load_events("shop"))
    quiet = SessionDetector().feed(load_events("quiet"))
    shop_clicks = {e["selector"] for e in shop.timeline if e["k"] == "click"}
    quiet_clicks = {e["selector"] for e in quiet.timeline if e["k"] == "click"}
    assert quiet_clicks <= shop_clicks
    assert "main#shop > form > button.btn.primary:nth-of-type(1)" in quiet_clicks


@pytest.mark.parametrize("name", ["shop", "network"])
def test_typed_text_never_reaches_signals_timeline_or_state(name: str) -> None:
    events = load_events(name)
    detector = SessionDetector()
    found = detector.feed(events)
    everything = json.dumps([summary(found.signals), found.timeline, detector.state()])
    typed = [
        e["data"]["text"]
        for e in events
        if e["type"] == 3 and e["data"].get("source") == 5 and len(e["data"].get("text", "")) > 5
    ]
    assert typed, "the session has typed text to leak"
    for text in typed:
        assert text not in everything
    assert SECRET not in everything
    assert "typed words" not in everything


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(GOLDEN))
def test_any_batch_boundaries_give_the_same_signals_and_timeline(name: str, data: Any) -> None:
    events = load_events(name)
    cuts = data.draw(st.lists(st.integers(1, len(events) - 1), max_size=12))
    whole = SessionDetector().feed(events)
    signals, timeline = run_in_batches(events, cuts)
    assert summary(signals) == summary(whole.signals)
    assert [s.fingerprint for s in signals] == [s.fingerprint for s in whole.signals]
    assert timeline == whole.timeline


# --- rules at their thresholds -------------------------------------------------------------------


def page(*children: dict[str, Any]) -> dict[str, Any]:
    body = {"type": 2, "tagName": "body", "attributes": {}, "childNodes": list(children), "id": 3}
    html = {"type": 2, "tagName": "html", "attributes": {}, "childNodes": [body], "id": 2}
    return {
        "type": 2,
        "timestamp": T0,
        "data": {"node": {"type": 0, "id": 1, "childNodes": [html]}},
    }


def element(node_id: int, tag: str, text: str = "", **attrs: str) -> dict[str, Any]:
    kids = [{"type": 3, "textContent": text, "id": node_id + 1000}] if text else []
    return {"type": 2, "tagName": tag, "attributes": attrs, "childNodes": kids, "id": node_id}


def meta(ms: int, href: str = "https://shop.example/p") -> dict[str, Any]:
    return {"type": 4, "timestamp": T0 + ms, "data": {"href": href}}


def click(ms: int, node: int, x: int = 100, y: int = 100) -> dict[str, Any]:
    return {
        "type": 3,
        "timestamp": T0 + ms,
        "data": {"source": 2, "type": 2, "id": node, "x": x, "y": y},
    }


def incremental(ms: int, source: int, **data: Any) -> dict[str, Any]:
    return {"type": 3, "timestamp": T0 + ms, "data": {"source": source, **data}}


def move(ms: int) -> dict[str, Any]:
    return incremental(ms, 1, positions=[])


def console_error(ms: int, message: str) -> dict[str, Any]:
    return {
        "type": 6,
        "timestamp": T0 + ms,
        "data": {
            "plugin": "rrweb/console@1",
            "payload": {
                "level": "error",
                "trace": ["onClick (https://shop.example:8443/app.js?v=3:10:5)"],
                "payload": [json.dumps(message)],
            },
        },
    }


START = [meta(0), page(element(10, "button", "Buy", id="buy"), element(20, "div", "Photo"))]


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [s.kind for s in SessionDetector().feed(events).signals]


def test_three_clicks_each_within_a_second_and_30px_are_one_rage_click() -> None:
    burst = [click(1000, 20), click(2000, 20, x=115, y=115), click(3000, 20, x=130, y=100)]
    assert kinds(START + burst) == ["rage_click"]
    # Longer bursts are still one signal.
    assert kinds(START + burst + [click(3500, 20), click(3900, 20)]) == ["rage_click"]


@pytest.mark.parametrize(
    "third",
    [click(3001, 20, x=100, y=100), click(2900, 20, x=131, y=100)],
    ids=["1001 ms after the previous", "31 px from the previous"],
)
def test_a_click_over_a_threshold_breaks_the_burst(third: dict[str, Any]) -> None:
    first_two = [click(1000, 20), click(2000, 20, x=100, y=100)]
    # The previous click at (100,100) at 2000: 1001 ms later, or 31 px away, is a new burst.
    assert kinds(START + first_two + [third]) == []


def test_rage_clicks_on_a_button_are_not_also_dead_clicks() -> None:
    burst = [click(1000, 10), click(1300, 10), click(1600, 10)]
    assert kinds(START + burst + [move(9000)]) == ["rage_click"]


def test_two_quick_clicks_on_a_dead_button_are_two_dead_clicks() -> None:
    assert kinds([*START, click(1000, 10), click(1500, 10), move(9000)]) == [
        "dead_click",
        "dead_click",
    ]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (incremental(3500, 0, adds=[], removes=[], texts=[], attributes=[]), []),
        (incremental(3500, 3, id=1, x=0, y=10), []),
        (incremental(3500, 14, ranges=[]), []),
        (incremental(3500, 7, id=10, type=0), []),
        (incremental(3500, 13, id=1, set={}), []),
        (meta(3500, "https://shop.example/other"), []),
        (meta(3500, "https://shop.example/p?page=2"), ["dead_click"]),  # same page: no navigation
        (incremental(3501, 0, adds=[], removes=[], texts=[], attributes=[]), ["dead_click"]),
        (move(3500), ["dead_click"]),
    ],
    ids=[
        "mutation at 2500 ms",
        "scroll",
        "selection",
        "media",
        "style",
        "navigation",
        "query-only change",
        "mutation at 2501 ms",
        "mouse move",
    ],
)
def test_dead_click_window_is_2500_ms_and_any_response_answers_it(
    response: dict[str, Any], expected: list[str]
) -> None:
    assert kinds([*START, click(1000, 10), response, move(9000)]) == expected


def test_no_dead_click_when_the_session_ends_inside_the_window() -> None:
    assert kinds([*START, click(1000, 10), move(3000)]) == []


def test_clicks_on_what_is_not_actionable_are_never_dead() -> None:
    assert kinds([*START, click(1000, 20), move(9000)]) == []


@pytest.mark.parametrize(
    ("tag", "attrs", "actionable"),
    [
        ("a", {}, True),
        ("button", {}, True),
        ("input", {"type": "submit"}, True),
        ("input", {"type": "checkbox"}, True),
        ("input", {"type": "radio"}, True),
        ("input", {"type": "text"}, False),
        ("div", {"role": "button"}, True),
        ("label", {}, True),
        ("summary", {}, True),
        ("select", {}, True),
        ("div", {}, False),
        ("img", {}, False),
    ],
)
def test_actionable_elements(tag: str, attrs: dict[str, str], actionable: bool) -> None:
    events = [meta(0), page(element(10, tag, **attrs)), click(1000, 10), move(9000)]
    assert kinds(events) == (["dead_click"] if actionable else [])


def test_an_error_within_a_second_of_a_click_is_an_error_click_not_a_dead_click() -> None:
    events = [*START, click(1000, 10), console_error(2000, "Uncaught TypeError: cart is undefined")]
    found = SessionDetector().feed([*events, move(9000)]).signals
    assert [(s.kind, s.selector, s.title) for s in found] == [
        ("js_error", None, "TypeError: cart is undefined"),
        ("error_click", "button#buy", "Error after clicking button#buy"),
    ]
    late = [*START, click(1000, 10), console_error(2001, "TypeError: cart is undefined")]
    # Decided when the window closes (at the move), so after the error.
    assert kinds([*late, move(9000)]) == ["js_error", "dead_click"]


def test_js_error_fingerprint_normalises_numbers_ids_and_urls_and_keeps_the_top_frame() -> None:
    a = SessionDetector().feed(
        [*START, console_error(10, "Order 1234 failed at https://api.x/o/1?t=secret id 9f8e7d6c5b")]
    )
    b = SessionDetector().feed(
        [*START, console_error(10, "Order 77 failed at https://api.x/o/2 id deadbeef12")]
    )
    assert a.signals[0].fingerprint == b.signals[0].fingerprint
    assert a.signals[0].title == "Order <n> failed at <url> id <id>"
    assert a.signals[0].fingerprint.endswith("\x1eonClick (/app.js:10:5)")


def test_rejections_lose_their_uncaught_prefix() -> None:
    assert rules.normalise_message("Uncaught (in promise) Error: nope") == "Error: nope"


def test_network_errors_fingerprint_by_method_and_path_template() -> None:
    assert rules.path_template(
        "https://x/api/orders/42/items/550e8400-e29b-41d4-a716-446655440000?q=1"
    ) == ("/api/orders/:id/items/:id")
    assert rules.path_template("https://x/api/cart") == "/api/cart"


def test_signals_carry_page_url_without_query_and_replay_offset() -> None:
    events = [meta(0, "https://shop.example/checkout?email=a@b.c#top"), *START[1:]]
    found = SessionDetector().feed([*events, click(1200, 10), move(9000)]).signals
    assert found[0].url == "https://shop.example/checkout"
    assert found[0].replay_timestamp_ms == 1200
    assert found[0].timestamp_ms == T0 + 1200
    assert found[0].fingerprint == "dead_click\x1f/checkout\x1fbutton#buy"


def test_severity_rule() -> None:
    assert rules.severity("dead_click", 1) == "low"
    assert rules.severity("dead_click", 10) == "medium"
    assert rules.severity("dead_click", 100) == "high"
    assert rules.severity("error_click", 100) == "critical"
    assert rules.severity("error_click", 1000) == "critical"
    assert rules.severity("js_error", 9) == "medium"


# --- the node mirror -----------------------------------------------------------------------------


def mirror_of(*children: dict[str, Any]) -> NodeMirror:
    mirror = NodeMirror()
    mirror.reset(page(*children)["data"]["node"])
    return mirror


def test_selector_prefers_a_stable_id_then_tags_classes_and_nth_of_type() -> None:
    mirror = mirror_of(
        element(10, "button", "A", id="buy", **{"class": "btn"}),
        element(11, "button", "B", **{"class": "btn css-1x9k2 primary active"}),
        element(12, "button", "C", id="ember1234"),
    )
    assert mirror.selector(10) == "button#buy"
    assert mirror.selector(11) == "body > button.btn.primary:nth-of-type(2)"
    assert mirror.selector(12) == "body > button:nth-of-type(3)"
    assert mirror.selector(1010) == "button#buy"  # a text node names its element
    assert mirror.text(11) == "B"


def test_mutations_keep_the_mirror_current_and_typed_values_out() -> None:
    mirror = mirror_of(element(10, "div", id="list"))
    mirror.apply_mutation(
        {
            "adds": [
                {"parentId": 10, "nextId": None, "node": element(11, "button", "Pay")},
                {"parentId": 10, "nextId": 11, "node": element(12, "input", value="4242 4242")},
                {"parentId": 3, "nextId": None, "node": element(13, "div", contenteditable="true")},
            ],
            "texts": [{"id": 1011, "value": "Pay now"}],
            "attributes": [{"id": 11, "attributes": {"class": "cta", "value": "x", "id": None}}],
            "removes": [],
        }
    )
    mirror.apply_mutation(
        {
            "adds": [
                {
                    "parentId": 13,
                    "nextId": None,
                    "node": {"type": 3, "textContent": "my diary", "id": 14},
                }
            ],
            "texts": [],
            "attributes": [],
            "removes": [],
        }
    )
    assert mirror.selector(11) == "div#list > button.cta"  # the only button there
    assert mirror.nodes[10].children == [12, 11]
    assert mirror.text(11) == "Pay now"
    state = json.dumps(mirror.to_state())
    assert "4242" not in state
    assert "my diary" not in state
    assert mirror.text(13) is None
    rebuilt = NodeMirror.from_state(json.loads(state))
    assert rebuilt.to_state() == mirror.to_state()
    mirror.apply_mutation(
        {"removes": [{"parentId": 10, "id": 11}], "adds": [], "texts": [], "attributes": []}
    )
    assert 11 not in mirror.nodes
    assert 1011 not in mirror.nodes


def test_visible_text_is_clipped_to_80_characters() -> None:
    mirror = mirror_of(element(10, "a", "word " * 40))
    text = mirror.text(10)
    assert text is not None
    assert len(text) == 80
    assert text.endswith("…")


def test_malformed_events_are_skipped() -> None:
    junk: list[Any] = [
        None,
        1,
        {"type": 3},
        {"type": 3, "timestamp": "x", "data": {}},
        {"type": 3, "timestamp": T0, "data": {"source": 2, "type": 2, "id": "x"}},
        {"type": 2, "timestamp": T0, "data": {"node": "nope"}},
        {
            "type": 6,
            "timestamp": T0,
            "data": {"plugin": "rrweb/network@1", "payload": {"requests": 3}},
        },
    ]
    assert SessionDetector().feed(junk).signals == []
