"""The node mirror's bounds (issue 17, finding 1; docs/decisions/022-mirror-bounds.md).

Work is counted, not timed: the lines of mirror.py that run (a trace function), and the
comparisons made on node ids (ids are an int subclass that counts its ``==``; list scans such as
``list.index`` and ``x in list`` run in C and show only there). Each batch must stay within a
budget linear in its size: the number of JSON objects in it (events, nodes, adds, removes, text
and attribute changes). Past the budget the run is stopped, so the quadratic code this replaced
fails in seconds instead of running for minutes.

The batch shapes are bench/detection.py's, the worst that ingest accepts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import detection as shapes
from lucent.detection import mirror as bounds
from lucent.detection.detector import SessionDetector
from lucent.detection.mirror import NodeMirror
from tests.unit.test_detection import click, element, incremental, meta, page

# Lines of mirror.py and id comparisons per JSON object of the batch, at most. The mirror runs
# about 10 lines per node it adds and 30 per click; the comparisons are a few per operation.
LINES_PER_OBJECT = 60
COMPARISONS_PER_OBJECT = 4


class OverBudget(Exception):
    pass


class Counter:
    def __init__(self, lines: int, comparisons: int) -> None:
        self.lines = 0
        self.comparisons = 0
        self.max_lines = lines
        self.max_comparisons = comparisons

    def line(self) -> None:
        self.lines += 1
        if self.lines > self.max_lines:
            raise OverBudget(f"more than {self.max_lines:,} lines of mirror.py")

    def compared(self) -> None:
        self.comparisons += 1
        if self.comparisons > self.max_comparisons:
            raise OverBudget(f"more than {self.max_comparisons:,} comparisons of node ids")


# The counter of the run under way: the ids' comparisons count there.
RUNNING = [Counter(sys.maxsize, sys.maxsize)]


class CountedId(int):
    """A node id that counts how often it is compared for equality."""

    def __eq__(self, other: object) -> bool:
        RUNNING[-1].compared()
        return int(self) == other

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = int.__hash__


def objects(value: Any) -> int:
    """JSON objects in ``value``: the size a batch's cost is held to."""
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            count += 1
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def counted(run: Callable[[], Any], size: int) -> Counter:
    """Run ``run`` counting its work; OverBudget past the budget for ``size`` objects."""
    counter = Counter(LINES_PER_OBJECT * size, COMPARISONS_PER_OBJECT * size)
    RUNNING.append(counter)
    target = bounds.__file__

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            counter.line()
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == target else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        run()
    finally:
        sys.settrace(previous)
        RUNNING.pop()
    return counter


def feed_within_budget(events: list[Any]) -> tuple[SessionDetector, Counter]:
    detector = SessionDetector()
    size = objects(events)
    counter = counted(lambda: detector.feed(events), size)
    print(f"{size:,} objects: {counter.lines:,} lines, {counter.comparisons:,} comparisons")
    return detector, counter


# --- the worst batches ingest accepts ----------------------------------------------------------


# The two shapes issue 17 measured, at the size it reported and at ingest's largest.
ISSUE_SIZES = {
    "button of empty <i>, clicked, as reported (16,000 <i>, 700 clicks)": lambda ident: (
        shapes.button_clicks(16_000, ident, clicks=700)
    ),
    "adds before the last node, as reported (20,000)": lambda ident: shapes.next_id_adds(
        20_000, ident
    ),
}


@pytest.mark.parametrize("name", ISSUE_SIZES)
def test_the_batches_issue_17_reported_stay_within_a_linear_budget(name: str) -> None:
    detector, _ = feed_within_budget(ISSUE_SIZES[name](CountedId))
    assert len(detector.mirror.nodes) <= bounds.MAX_NODES + 1


# The largest accepted batch of each reported shape, and the nodes its page has besides the <i>.
LARGEST = {"button of empty <i>, clicked": 4, "adds before the last node (nextId)": 5}


@pytest.fixture(scope="module")
def largest_sizes() -> dict[str, int]:
    return {name: shapes.largest(shapes.WORST_SHAPES[name][0]) for name in LARGEST}


@pytest.mark.parametrize("name", LARGEST)
def test_the_largest_accepted_batch_of_each_reported_shape_stays_within_a_linear_budget(
    name: str, largest_sizes: dict[str, int]
) -> None:
    shape = shapes.WORST_SHAPES[name][0]
    n = largest_sizes[name]
    events = shape(n, CountedId)
    assert shapes.accepted(events)  # what ingest takes...
    assert not shapes.accepted(shape(n + max(1, n // 50)))  # ...and barely more it refuses
    detector, _ = feed_within_budget(events)
    mirror = detector.mirror
    assert len(mirror.nodes) == bounds.MAX_NODES
    # Every node past the cap is counted, none mirrored: the container's own nodes come first.
    assert mirror.dropped["nodes"] == LARGEST[name] + n - bounds.MAX_NODES


def test_the_largest_button_batch_still_names_its_button() -> None:
    events = shapes.button_clicks(shapes.largest(shapes.button_clicks))
    found = SessionDetector().feed(events)
    clicks = [e for e in found.timeline if e["k"] == "click"]
    assert clicks == [
        {"t": 2_000 * k, "k": "click", "selector": "body > button"} for k in range(1, 4_999)
    ]
    # 2 s apart, each unanswered: a dead click each, but the last two (their windows are open);
    # a batch keeps the first 500 signals (rules.MAX_SIGNALS_PER_BATCH) and counts the rest.
    assert {(s.kind, s.selector, s.text) for s in found.signals} == {
        ("dead_click", "body > button", None)
    }
    assert (len(found.signals), found.dropped["signals"]) == (500, 4_996 - 500)


# Every other cost of the same class, each at a size that took main's mirror seconds to minutes.
CLASS_WIDE = {
    "removes, last first (20,000)": lambda ident: shapes.removes(20_000, ident),
    "a mutation before each of 500 clicks on the 5,001st of 20,000 buttons": lambda ident: (
        shapes.mutation_clicks(20_000, ident, pairs=500)
    ),
    "contenteditable toggled 2,000 times on 5,000 texts": lambda ident: shapes.editable_toggles(
        2_000, ident
    ),
    "20,000 text changes 70 levels deep": lambda ident: shapes.deep_texts(20_000, ident),
    "a mutation before each of 500 clicks, 20,000 classes": lambda ident: shapes.long_class(
        20_000, ident, pairs=500
    ),
}


@pytest.mark.parametrize("name", CLASS_WIDE)
def test_every_mirror_cost_stays_within_a_linear_budget(name: str) -> None:
    feed_within_budget(CLASS_WIDE[name](CountedId))


# --- what the bounds keep and what they leave out ------------------------------------------------


def mirror_of(*children: dict[str, Any]) -> NodeMirror:
    mirror = NodeMirror()
    mirror.reset(page(*children)["data"]["node"])
    return mirror


def buttons(count: int, first_id: int = 100) -> list[dict[str, Any]]:
    return [element(first_id + i, "button") for i in range(count)]


def test_nth_of_type_is_exact_within_its_budget_and_left_out_past_it() -> None:
    mirror = mirror_of(
        {**element(10, "ul", id="list"), "childNodes": buttons(bounds.MAX_SIBLING_STEPS + 2)}
    )
    assert mirror.selector(100) == "ul#list > button:nth-of-type(1)"
    assert mirror.selector(100 + bounds.MAX_SIBLING_STEPS) == (
        f"ul#list > button:nth-of-type({bounds.MAX_SIBLING_STEPS + 1})"
    )
    assert mirror.dropped == {}
    assert mirror.selector(101 + bounds.MAX_SIBLING_STEPS) == "ul#list > button"
    assert mirror.dropped == {"nth_of_type": 1}


def test_the_first_of_its_type_among_many_others_is_still_named_exactly() -> None:
    others = [element(200 + i, "i") for i in range(bounds.MAX_SIBLING_STEPS + 5)]
    mirror = mirror_of(
        {**element(10, "div", id="list"), "childNodes": [*buttons(1), *others, *buttons(1, 900)]}
    )
    assert mirror.selector(100) == "div#list > button:nth-of-type(1)"
    lonely = mirror_of({**element(10, "div", id="list"), "childNodes": [*buttons(1), *others]})
    assert lonely.selector(100) == "div#list > button:nth-of-type(1)"  # past the budget: exact
    assert lonely.dropped == {"nth_of_type": 1}
    few = mirror_of({**element(10, "div", id="list"), "childNodes": [*buttons(1), *others[:3]]})
    assert few.selector(100) == "div#list > button"


def test_visible_text_walks_at_most_its_budget_of_nodes() -> None:
    empty = [element(200 + i, "i") for i in range(bounds.MAX_TEXT_VISITS)]
    late = mirror_of(
        {
            **element(10, "button", **{"aria-label": "Close"}),
            "childNodes": [*empty, {"type": 3, "textContent": "Buy", "id": 999}],
        }
    )
    assert late.text(10) == "Close"  # the text past the budget is not read: the label is
    assert late.dropped == {"text_walks": 1}
    early = mirror_of(
        {
            **element(10, "button"),
            "childNodes": [*empty[:-1], {"type": 3, "textContent": "Buy", "id": 999}],
        }
    )
    assert early.text(10) == "Buy"
    assert early.dropped == {}


def test_a_tag_that_is_not_a_css_identifier_never_reaches_a_selector() -> None:
    mirror = mirror_of(
        element(10, "img src=x onerror=alert(1)>", "Buy"),
        element(11, "o:p", "Word"),
        element(12, "#text", "not a text node"),
        element(13, "My-Widget_2"),
        element(14, "x" * 65),
    )
    assert mirror.selector(10) == "body > *"
    assert mirror.selector(11) == "body > *"
    assert mirror.selector(12) == "body > *"
    assert mirror.nodes[12].children == [1012]
    assert mirror.selector(13) == "body > my-widget_2"
    assert mirror.selector(14) == "body > *"
    assert mirror.text(10) == "Buy"
    assert mirror.dropped == {"tag_names": 4}
    assert "onerror" not in json.dumps(mirror.to_state())


def test_a_state_saved_before_the_bounds_is_read_as_page_content() -> None:
    rows: list[list[Any]] = [
        [1, None, "#document", {}],
        [3, 1, "body", {}],
        [
            10,
            3,
            "img src=x onerror=alert(1)>",
            {"class": "x1234 " * 2_000, "aria-label": "L" * 999},
        ],
        [11, 10, "#text", "x" * 5_000],
        [12, 99, "div", {}],  # a parent that is not there: a root, as before
        "not a row",
        [13, "3", "div", {}],
    ]
    mirror = NodeMirror.from_state(rows)
    assert mirror.selector(10) == "body > *"
    assert len(mirror.nodes[10].attrs["class"]) <= 1_024
    assert len(mirror.nodes[10].attrs["aria-label"]) == 81
    assert mirror.text(10) == "x" * 79 + "…"
    assert sorted(mirror.nodes) == [1, 3, 10, 11, 12]


def test_a_state_over_the_node_cap_keeps_the_first_nodes_and_none_below_a_refused_one() -> None:
    rows: list[list[Any]] = [[1, None, "#document", {}], [3, 1, "body", {}]]
    rows += [[100 + i, 3, "div", {}] for i in range(bounds.MAX_NODES)]
    rows += [[50_000, 100 + bounds.MAX_NODES - 1, "span", {}], [50_001, 3, "span", {}]]
    mirror = NodeMirror.from_state(rows)
    assert len(mirror.nodes) == bounds.MAX_NODES
    assert 50_000 not in mirror.nodes
    assert mirror.dropped == {"nodes": 4}
    assert mirror.to_state() == rows[: bounds.MAX_NODES]


def test_a_selector_stops_before_its_character_cap() -> None:
    long_tag = "x" + "y" * 63
    classes = {"class": f"{'a' * 40} {'b' * 40}"}
    node: dict[str, Any] = element(20, long_tag, "deep", **classes)
    for level in range(6):
        node = {**element(30 + level, long_tag, **classes), "childNodes": [node]}
    mirror = mirror_of(node)
    selector = mirror.selector(20)
    assert selector is not None
    assert len(selector) <= bounds.MAX_SELECTOR_CHARS
    assert selector.count(">") == 2  # three segments of 146 characters fit, four do not
    assert selector.endswith(f"{long_tag}.{'a' * 40}.{'b' * 40}")
    assert mirror.dropped == {"selector_segments": 1}


def test_contenteditable_is_sticky_so_text_typed_later_stays_out() -> None:
    mirror = mirror_of(element(10, "div", "before"))
    mirror.apply_mutation({"attributes": [{"id": 10, "attributes": {"contenteditable": "true"}}]})
    assert mirror.text(10) is None
    mirror.apply_mutation({"attributes": [{"id": 10, "attributes": {"contenteditable": "false"}}]})
    mirror.apply_mutation(
        {
            "texts": [{"id": 1010, "value": "typed secret"}],
            "adds": [
                {"parentId": 10, "node": {"type": 3, "textContent": "typed too", "id": 77}},
                {"parentId": 10, "node": element(78, "b", "deeper typing")},
            ],
        }
    )
    state = json.dumps(NodeMirror.from_state(json.loads(json.dumps(mirror.to_state()))).to_state())
    assert "typed" not in state
    assert "typing" not in state
    assert mirror.text(10) is None


def test_the_node_cap_refuses_further_adds_and_counts_them() -> None:
    mirror = mirror_of({**element(10, "div", id="list"), "childNodes": buttons(bounds.MAX_NODES)})
    assert len(mirror.nodes) == bounds.MAX_NODES
    kept = len(mirror.nodes[10].children)
    assert mirror.dropped == {"nodes": bounds.MAX_NODES - kept}
    mirror.apply_mutation({"adds": [{"parentId": 10, "node": element(5, "a", "x")}]})
    assert 5 not in mirror.nodes
    assert mirror.dropped == {"nodes": bounds.MAX_NODES - kept + 1}
    mirror.apply_mutation({"removes": [{"parentId": 10, "id": 100}]})
    mirror.apply_mutation({"adds": [{"parentId": 10, "nextId": 101, "node": element(5, "a")}]})
    assert mirror.nodes[10].children[:2] == [5, 101]


def test_mutations_and_clicks_give_the_same_selectors_as_recomputing_from_scratch() -> None:
    """The caches never serve a selector or text older than the last mutation."""
    detector = SessionDetector()
    events = [
        meta(0),
        page(element(10, "div", id="list", **{"class": "x"})),
        incremental(1, 0, adds=[{"parentId": 10, "node": element(11, "button", "One")}]),
        click(2, 11),
        incremental(3, 0, adds=[{"parentId": 10, "nextId": 11, "node": element(12, "button")}]),
        click(4, 11),
        incremental(5, 0, texts=[{"id": 1011, "value": "Two"}]),
        click(6, 11),
    ]
    found = detector.feed(events)
    assert [(e.get("selector"), e.get("text")) for e in found.timeline if e["k"] == "click"] == [
        ("div#list > button", "One"),
        ("div#list > button:nth-of-type(2)", "One"),
        ("div#list > button:nth-of-type(2)", "Two"),
    ]


# --- the linked siblings against a plain list --------------------------------------------------


operations = st.lists(
    st.tuples(st.sampled_from(["add", "remove"]), st.integers(0, 12), st.integers(-1, 12)),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=operations)
def test_children_stay_in_the_order_a_plain_list_gives(ops: list[tuple[str, int, int]]) -> None:
    mirror = mirror_of(element(10, "div", id="list"))
    model: list[int] = []
    for op, node, other in ops:
        node_id, next_id = 100 + node, (100 + other if other >= 0 else None)
        if op == "add":
            if node_id in model:
                model.remove(node_id)
            if next_id is not None and next_id in model:
                model.insert(model.index(next_id), node_id)
            else:
                model.append(node_id)
            add = {"parentId": 10, "nextId": next_id, "node": element(node_id, "li")}
            mirror.apply_mutation({"adds": [add]})
        else:
            if node_id in model:
                model.remove(node_id)
            mirror.apply_mutation({"removes": [{"parentId": 10, "id": node_id}]})
        assert mirror.nodes[10].children == model
        for position, child in enumerate(model):
            nth = f":nth-of-type({position + 1})" if len(model) > 1 else ""
            assert mirror.selector(child) == f"div#list > li{nth}"
    assert NodeMirror.from_state(mirror.to_state()).to_state() == mirror.to_state()
