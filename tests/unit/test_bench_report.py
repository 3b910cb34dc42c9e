"""docs/performance.md shows the committed bench/results.json, as bench/report.py renders it.

``make bench`` measures, writes bench/results.json and regenerates the doc's results; both are
committed together. If either changes without the other, or the results are not one complete
run of a clean tree, this fails.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bench import report

DOC_TEXT = report.DOC.read_text("utf-8")
COMMITTED = report.load()


def test_the_doc_shows_exactly_what_the_committed_results_render() -> None:
    assert report.generated(DOC_TEXT) == report.render(COMMITTED)
    assert report.main(["--check"]) == 0


def test_the_committed_results_are_one_complete_run_of_a_clean_tree() -> None:
    run = COMMITTED["run"]
    assert run["quick"] is False
    assert run["dirty"] is False
    assert COMMITTED["failed"] == {}
    assert set(COMMITTED["sections"]) == set(report.SECTIONS)
    assert len(run["commit"]) >= 7


def test_the_doc_states_the_machine_the_load_and_the_commit() -> None:
    section = report.generated(DOC_TEXT)
    run = COMMITTED["run"]
    assert f"at commit `{run['commit']}` (clean tree)" in section
    assert f"Machine: {run['machine']['cpu']}, {run['machine']['cores']} cores" in section
    start = ", ".join(f"{v:.2f}" for v in run["load_average_start"])
    end = ", ".join(f"{v:.2f}" for v in run["load_average_end"])
    assert f"Load average (1, 5, 15 min): {start} at the start, {end} at the end." in section


@pytest.mark.parametrize(
    ("figure", "expected"),
    [
        ({"min": 1.2e-3, "median": 1.25e-3, "max": 1.31e-3}, "1.25 ms (1.20–1.31 ms)"),
        ({"min": 2.5e-3, "median": 2.5e-3, "max": 2.5e-3}, "2.50 ms"),
        # Across a unit boundary both ends keep their unit.
        ({"min": 915e-6, "median": 918e-6, "max": 1.02e-3}, "918 µs (915 µs–1.02 ms)"),
    ],
)
def test_a_figure_reads_median_then_min_max(figure: dict[str, float], expected: str) -> None:
    assert report.spread(figure, report._seconds) == expected


def test_a_ratio_keeps_its_spread() -> None:
    assert report.spread({"min": 1.36, "median": 1.45, "max": 1.6}, report._times) == (
        "1.45x (1.36–1.60x)"
    )


def test_a_failed_section_is_shown_as_failed() -> None:
    results: dict[str, Any] = copy.deepcopy(COMMITTED)
    del results["sections"]["memory"]
    results["failed"]["memory"] = "NothingMeasured: RSS growth is 0: nothing was measured"
    rendered = report.render(results)
    assert (
        "#### 7. Peak memory\n\n**FAILED**: NothingMeasured: RSS growth is 0: nothing was measured"
    ) in rendered


def test_splice_replaces_only_the_generated_part() -> None:
    doc = f"# title\n\nhand\n\n{report.BEGIN}\nold\n{report.END}\n\nmore hand\n"
    assert report.splice(doc, "new\n") == (
        f"# title\n\nhand\n\n{report.BEGIN}\nnew\n{report.END}\n\nmore hand\n"
    )
    with pytest.raises(ValueError, match="must hold"):
        report.splice("# no markers\n", "new\n")
