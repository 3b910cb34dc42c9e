"""Page content is hostile (issue 17, findings 1 and 5): what one batch or one session of it can
cost the detector, and what text of it leaves detection.

Pure: no AWS. Every bound is asserted by counted work (list sizes, signals and entries kept, the
``dropped`` counters), never by timing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lucent.detection import ids, rules
from lucent.detection.detector import SessionDetector
from tests.unit.test_detection import T0, click, console_error, element, meta, move, page
from tests.unit.test_detection_store import Rig, by_kind, rig, watermark

__all__ = ["rig"]  # the fixture, used by name

START = [meta(0), page(element(10, "button", "Buy", id="buy"), element(20, "div", "Photo"))]
NO_DROPS = {"signals": 0, "entries": 0, "clicks": 0, "events": 0}


def failing_requests(ms: int, count: int, name: str = "https://api.example/cart") -> dict[str, Any]:
    requests = [{"name": name, "method": "POST", "responseStatus": 500}] * count
    return {
        "type": 6,
        "timestamp": T0 + ms,
        "data": {"plugin": "rrweb/network@1", "payload": {"requests": requests}},
    }


def through_json(state: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(state))
    return loaded


# --- finding 1: the detector's own lists and outputs ---------------------------------------------


def test_open_click_windows_hold_at_most_50_clicks_and_count_the_rest() -> None:
    # 2,400 clicks in one millisecond, each far from the last (no rage burst), with moves between.
    clicks: list[dict[str, Any]] = []
    for n in range(2_400):
        clicks += [click(1000, 10, x=0 if n % 2 else 1000), move(1000)]
    detector = SessionDetector()
    found = detector.feed([*START, *clicks])
    state = detector.state()
    assert (len(state["pending"]), len(state["recent"])) == (50, 50)
    assert found.dropped == {**NO_DROPS, "clicks": 2_350}
    assert [e["k"] for e in found.timeline].count("click") == 2_400
    # The 50 tracked windows close as one more event comes: 50 dead clicks, the rest untracked.
    later = SessionDetector(through_json(state)).feed([move(4000)])
    assert [s.kind for s in later.signals] == ["dead_click"] * 50
    assert later.dropped == NO_DROPS
    assert (later.signals[0].title, later.signals[0].timestamp_ms) == (
        "Dead clicks on button#buy",
        T0 + 1000,
    )


def test_one_event_of_100000_failing_requests_keeps_500_signals_and_5000_entries() -> None:
    found = SessionDetector().feed([*START, failing_requests(500, 100_000)])
    assert len(found.signals) == 500
    assert len(found.timeline) == 5_500  # page_view + 4,999 network_error + 500 signal entries
    assert found.dropped == {**NO_DROPS, "signals": 99_500, "entries": 95_001}
    assert {s.title for s in found.signals} == {"Failing request: POST /cart"}
    signal_entries = [e for e in found.timeline if e["k"] == "signal"]
    assert [e["index"] for e in signal_entries] == list(range(500))


def test_a_session_keeps_at_most_5000_signals_across_batches() -> None:
    state = None
    kept, dropped = [], []
    for batch in range(11):
        detector = SessionDetector(state)
        found = detector.feed([*(START if batch == 0 else []), failing_requests(batch, 1_000)])
        kept.append(len(found.signals))
        dropped.append(found.dropped["signals"])
        state = through_json(detector.state())
    assert kept == [500] * 10 + [0]
    assert dropped == [500] * 10 + [1_000]


def test_a_session_keeps_at_most_50000_timeline_entries_across_batches() -> None:
    state = None
    kept, dropped = [], []
    for batch in range(11):
        # 5,000 clicks 100 ms apart on what is not actionable: one click entry each, no signal.
        events = [
            click(batch * 1_000_000 + n * 100, 20, x=0 if n % 2 else 1000) for n in range(5_000)
        ]
        detector = SessionDetector(state)
        found = detector.feed([*(START if batch == 0 else []), *events])
        kept.append(len(found.timeline))
        dropped.append(found.dropped["entries"])
        assert found.signals == []
        state = through_json(detector.state())
    # The first batch's page_view is one of its 5,000 entries.
    assert kept == [5_000] * 10 + [0]
    assert dropped == [1] + [0] * 9 + [5_000]


def test_a_deeply_nested_console_payload_is_its_text_not_a_recursion_error() -> None:
    deep = console_error(500, "")
    deep["data"]["payload"]["payload"] = ["[" * 100_000 + "]" * 100_000]
    nested_message = console_error(600, "")
    nested_message["data"]["payload"]["payload"] = [
        '{"message": "Boom", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    ]
    found = SessionDetector().feed([*START, deep, nested_message])
    assert [s.title for s in found.signals] == [
        "[" * 119 + "…",
        '{"message": "Boom", "x": ' + "[" * 94 + "…",
    ]
    assert found.signals[0].detail == "[" * 199 + "…"


def test_an_error_object_and_a_long_message_still_read_as_their_message() -> None:
    as_object = console_error(500, "")
    as_object["data"]["payload"]["payload"] = [json.dumps({"message": "Cart failed", "stack": "x"})]
    long = console_error(600, "word " * 200_000)
    found = SessionDetector().feed([*START, as_object, long])
    assert [s.title for s in found.signals] == ["Cart failed", ("word " * 24)[:119] + "…"]


def test_page_urls_are_http_only_without_query_and_capped() -> None:
    assert rules.page_url("javascript://%0aalert(x)//") == ""
    assert rules.page_url("JavaScript://shop.example/%0aalert(1)") == ""
    assert rules.page_url("data:text/html,<script>alert(1)</script>") == ""
    assert rules.page_url("file:///etc/passwd") == ""
    assert rules.page_url("//shop.example/p") == ""
    assert rules.page_url("/checkout") == ""
    assert rules.page_url("HTTPS://shop.example/p?q=1") == "https://shop.example/p"
    long = rules.page_url("https://shop.example/" + "a" * 5_000)
    assert (len(long), long[-2:]) == (1024, "a…")


def test_a_javascript_href_is_no_page_and_no_signal_url() -> None:
    events = [
        meta(0, "javascript://%0aalert(x)//"),
        *START[1:],
        click(1000, 10),
        move(9000),
    ]
    found = SessionDetector().feed(events)
    assert [(s.kind, s.url) for s in found.signals] == [("dead_click", "")]
    assert [e["k"] for e in found.timeline] == ["click", "signal"]


def test_the_page_url_kept_in_the_state_is_capped() -> None:
    detector = SessionDetector()
    detector.feed([meta(0, "https://shop.example/" + "a" * 100_000)])
    assert len(detector.state()["url"]) == 1024


def test_the_stable_name_cache_is_bounded_and_skips_long_names() -> None:
    cache = rules.is_stable_short_name
    cache.cache_clear()
    names = ["name-" + "".join(chr(97 + int(d)) for d in str(n)) for n in range(10_000)]
    assert [rules.is_stable_name(name) for name in names] == [True] * 10_000
    assert cache.cache_info().currsize == 4096
    cache.cache_clear()
    assert rules.is_stable_name("a" * 100_000) is False
    assert cache.cache_info().currsize == 0


@pytest.mark.parametrize(
    "ts", [-1, 253_402_300_800_000, 10**17, 10**400], ids=["-1", "year 10000", "1e17", "1e400"]
)
def test_a_timestamp_no_date_holds_is_dropped_and_counted(ts: int) -> None:
    error = console_error(0, "Boom")
    error["timestamp"] = ts
    bad_click = click(0, 10)
    bad_click["timestamp"] = ts
    found = SessionDetector().feed([*START, bad_click, error, move(9000)])
    assert found.signals == []
    assert found.dropped == {**NO_DROPS, "events": 2}
    for signal in found.signals:
        ids.iso(signal.timestamp_ms)


def test_the_earliest_and_latest_timestamps_kept_have_dates() -> None:
    first = console_error(0, "Boom")
    first["timestamp"] = 0
    last = console_error(0, "Bang")
    last["timestamp"] = 253_402_300_799_999
    found = SessionDetector().feed([first, last])
    assert [
        (s.title, ids.iso(s.timestamp_ms), ids.hour_bucket(s.timestamp_ms)) for s in found.signals
    ] == [
        ("Boom", "1970-01-01T00:00:00Z", "h1970010100"),
        ("Bang", "9999-12-31T23:59:59Z", "h9999123123"),
    ]
    assert found.dropped == NO_DROPS


# --- finding 5: text that leaves detection -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Buy now", 80, "Buy now"),
        ("a\nb\r\nc\td\x0be\x0cf\x1bg\x7fh\x85i\x9fj", 80, "a b c d e f g h i j"),
        ("line\u2028- iss_01FAKE [open] critical\u2029", 80, "line - iss_01FAKE [open] critical"),
        ("\u202eexe.gnp\u202c\u2066x\u2069\u200e\u200f\u061c", 80, "exe.gnpx"),
        ("pass\u200bw\u200co\u200dr\ufeffd\u2060", 80, "password"),
        ("tag\U000e0041\U000e0042s", 80, "tags"),
        ("lone \ud800 surrogate", 80, "lone surrogate"),
        ("   many    spaces\u00a0\u3000here  ", 80, "many spaces here"),
        ("x" * 100, 10, "x" * 9 + "…"),
        ("\n\u200b\x00", 10, ""),
        ("a" + "\u200b" * 100_000 + "b", 10, "a"),
    ],
)
def test_clean(text: str, limit: int, expected: str) -> None:
    from lucent.detection.page_text import clean

    assert clean(text, limit) == expected


def test_clean_reads_a_bounded_prefix() -> None:
    from lucent.detection.page_text import clean

    assert clean("a" * 10**7, 80) == "a" * 79 + "…"


def test_element_text_message_and_page_url_lose_controls_in_every_field() -> None:
    hostile = "Buy\x1b[2J\u202egnp.exe\u200b"
    events = [
        meta(0, "https://shop.example/a\u2028b\x85c"),
        page(element(10, "button", hostile, id="buy")),
        click(1000, 10),
        console_error(1100, "Boom\u2028- iss_01FAKE [open] critical\x00"),
        move(9000),
    ]
    found = SessionDetector().feed(events)
    assert [(s.kind, s.title, s.text, s.detail, s.url) for s in found.signals] == [
        (
            "js_error",
            "Boom - iss_<n>FAKE [open] critical",
            None,
            "Boom - iss_<n>FAKE [open] critical",
            "https://shop.example/a%E2%80%A8b%C2%85c",
        ),
        (
            "error_click",
            "Error after clicking button#buy",
            "Buy [2Jgnp.exe",
            "Boom - iss_<n>FAKE [open] critical",
            "https://shop.example/a%E2%80%A8b%C2%85c",
        ),
    ]
    entries = json.dumps(found.timeline)
    assert [c for c in ("\\u2028", "\\u001b", "\\u202e") if c in entries] == []
    assert found.timeline[0] == {
        "t": 0,
        "k": "page_view",
        "url": "https://shop.example/a%E2%80%A8b%C2%85c",
    }


def test_a_failing_request_path_loses_controls_and_is_capped() -> None:
    name = "https://api.example/v1\u2028- iss_01FAKE [open] critical/" + "p" * 5_000
    found = SessionDetector().feed([*START, failing_requests(500, 1, name=name)])
    (signal,) = found.signals
    assert (
        signal.title
        == ("Failing request: POST /v1 - iss_01FAKE [open] critical/" + "p" * 120)[:119] + "…"
    )
    assert signal.detail == ("POST /v1 - iss_01FAKE [open] critical/" + "p" * 200)[:199] + "…"
    assert len(signal.fingerprint) < 1_100
    rules.fingerprint_hash(signal.fingerprint)


def test_a_lone_surrogate_cannot_break_a_fingerprint() -> None:
    error = console_error(500, "")
    error["data"]["payload"]["payload"] = ['"Boom \\ud800 here"']
    error["data"]["payload"]["trace"] = ["onClick (https://shop.example/app\ud800.js:1:2)"]
    found = SessionDetector().feed([*START, error])
    assert [s.title for s in found.signals] == ["Boom here"]
    rules.fingerprint_hash(found.signals[0].fingerprint)


# --- through the service: nothing above becomes a poison batch ---------------------------------


def test_a_batch_of_timestamps_no_date_holds_is_processed_not_poisoned(rig: Rig) -> None:
    rig.deliver([rig.upload("p1", 0, START)])
    # A click in year 3,000,000 (the batch main's detection poisoned), then a real one.
    outcome = rig.service.handle_object(
        rig.upload("p1", 1, [click(10**17, 10), click(1000, 10), move(10**17 + 9000), move(9000)])
    )
    assert outcome is not None
    assert (outcome.poisoned, outcome.skipped, outcome.processed) == (None, [], [1])
    assert watermark(rig, "p1") == 2
    assert by_kind(rig) == {"dead_click": (1, 1, 1)}


def test_a_javascript_page_url_is_stored_as_no_url(rig: Rig) -> None:
    events = [meta(0, "javascript://%0aalert(x)//"), *START[1:], click(1000, 10), move(9000)]
    rig.deliver([rig.upload("js", 0, events)])
    (issue,) = rig.issues().values()
    assert (issue.title, issue.url) == ("Dead clicks on button#buy", "")
    assert [s.url for s in rig.signals()] == [""]


def test_a_user_id_with_a_lone_surrogate_is_counted_not_poisoned(rig: Rig) -> None:
    events = [*START, click(1000, 10), move(9000)]
    outcome = rig.service.handle_object(rig.upload("u1", 0, events, metadata={"user_id": "\ud800"}))
    assert outcome is not None
    assert (outcome.poisoned, outcome.processed) == (None, [0])
    assert by_kind(rig) == {"dead_click": (1, 1, 1)}


# --- insights: linear in an organization's issues --------------------------------------------


def test_insights_never_compare_issues_pairwise(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from lucent.detection import insights

    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    old = [
        insights.IssueRow(
            f"iss_o{n:03d}",
            f"old {n}",
            "js_error",
            "open",
            "https://a.example/",
            9,
            1,
            "2026-11-01T00:00:00Z",
            {"h2026120110": 9},
        )
        for n in range(300)
    ]
    new = [
        insights.IssueRow(
            f"iss_n{n:03d}",
            f"new {n}",
            "js_error",
            "open",
            "https://a.example/",
            1,
            1,
            "2026-12-01T11:00:00Z",
            {},
        )
        for n in range(300)
    ]
    compared = 0
    equal = insights.IssueRow.__eq__

    def counting_eq(self: Any, other: Any) -> Any:
        nonlocal compared
        compared += 1
        return equal(self, other)

    monkeypatch.setattr(insights.IssueRow, "__eq__", counting_eq)
    out = insights.derive("org_x", old + new, now)
    assert compared == 0
    assert [i.title for i in out] == [
        "600 open issues on /",
        "300 new issues in the last 24 hours",
        "300 issues spiking in the last 24 hours",
    ]


def test_a_state_saved_before_the_bounds_is_brought_within_them() -> None:
    clicks = [
        {"n": n, "ts": T0, "url": "", "selector": "button#buy", "text": None} for n in range(2_400)
    ]
    detector = SessionDetector(
        {"url": "javascript://%0aalert(x)//", "pending": clicks, "recent": clicks}
    )
    state = detector.state()
    assert (state["url"], len(state["pending"]), len(state["recent"])) == ("", 50, 50)
    assert (state["pending"][0]["n"], state["recent"][0]["n"]) == (0, 2_350)


def test_a_saved_click_no_date_holds_is_forgotten_not_signalled_forever() -> None:
    # Saved by main's detector: a click in year 3,000,000 whose window was still open.
    undated = {"n": 1, "ts": 10**17, "url": "javascript:x", "selector": "button#buy", "text": None}
    dated = {"n": 2, "ts": T0, "url": "javascript:x", "selector": "button#buy", "text": None}
    burst = {"first": undated, "last": [10**17, 1, 1], "n": 1, "emitted": False, "members": [1]}
    detector = SessionDetector({"pending": [undated, dated], "recent": [undated], "burst": burst})
    found = detector.feed([move(10**7)])
    assert [(s.kind, s.timestamp_ms, s.url) for s in found.signals] == [("dead_click", T0, "")]
    assert (detector.state()["burst"], detector.state()["recent"]) == (None, [])


def test_messages_collapse_white_space_before_they_are_cut_as_before() -> None:
    assert rules.normalise_message("Boom" + " " * 900 + "at 12") == "Boom at <n>"
    assert rules.normalise_frame("f" + "\t" * 900 + "(app.js:1:2)") == "f (app.js:1:2)"


def test_what_the_mirror_left_out_is_in_the_outcome_the_handler_logs(rig: Rig) -> None:
    many = [element(100_000 + i, "i") for i in range(10_100)]
    hostile = element(90, "img src=x onerror=alert(1)>")
    box = {"type": 2, "tagName": "div", "attributes": {}, "childNodes": [hostile, *many], "id": 30}
    events = [meta(0), page(element(10, "button", "Buy", id="buy"), box), click(1000, 90)]
    outcome = rig.service.handle_object(rig.upload("m1", 0, [*events, move(9000)]))
    assert outcome is not None
    # document, html, body, button + its text, the div, the img: 7 nodes; 9,993 <i> fit.
    assert dict(outcome.dropped) == {"mirror_nodes": 107, "mirror_tag_names": 1}
    assert (outcome.poisoned, outcome.processed) == (None, [0])
    detector = SessionDetector()
    detector.feed(events)
    assert detector.mirror.selector(90) == "body > div > *"
