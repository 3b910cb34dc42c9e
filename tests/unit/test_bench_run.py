"""The bench cannot report what it did not measure (bench/common.py, bench/run.py).

The sections themselves run in ``make bench-quick`` (part of ``make test``); these tests hold the
pieces every section relies on: empty or zero samples raise, a failed section fails the run and
never replaces a complete ``results.json``, and paired timing restores the garbage collector.
"""

from __future__ import annotations

import gc
import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench import common, run
from bench.common import NothingMeasured, Spread


def test_an_empty_sample_raises() -> None:
    with pytest.raises(NothingMeasured, match=r"ingest: empty sample"):
        Spread.of([], "ingest")


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf])
def test_a_zero_negative_or_nan_figure_raises(value: float) -> None:
    with pytest.raises(NothingMeasured, match=r"floor is"):
        Spread.of([1.0, value], "floor")
    with pytest.raises(NothingMeasured, match=r"floor is"):
        common.positive(value, "floor")


def test_a_spread_is_min_median_max_of_its_sample() -> None:
    assert Spread.of([3.0, 1.0, 2.0, 10.0], "x").as_dict() == {
        "min": 1.0,
        "median": 2.5,
        "max": 10.0,
        "n": 4,
    }


def test_a_nan_anywhere_in_a_result_raises() -> None:
    common.require_finite({"a": {"b": [1.0, 2]}, "c": "text", "d": 0})
    with pytest.raises(NothingMeasured, match=r"^memory\.rows\.1\.ratio is nan$"):
        common.require_finite({"rows": [{"ratio": 1.0}, {"ratio": math.nan}]}, "memory")


def test_a_failing_child_process_raises_with_its_stderr() -> None:
    with pytest.raises(NothingMeasured, match=r"cold start: the child exited with 3:\nboom"):
        common.child_process(
            ["python3", "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"],
            what="cold start",
            timeout=30,
        )
    with pytest.raises(NothingMeasured, match=r"cold start: the child printed nothing"):
        common.child_process(["python3", "-c", "pass"], what="cold start", timeout=30)


def _work(size: int) -> Any:
    return sum(i * i for i in range(size))


def test_paired_alternates_rounds_and_restores_the_collector() -> None:
    assert gc.isenabled()
    measured = common.paired(
        lambda _: _work(200), lambda _: _work(2_000), min_seconds=0.01, rounds=3, what="work"
    )
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert measured.ratio.n == 3
    assert measured.floor.min <= measured.floor.median <= measured.floor.max
    # Ten times the work: the ratio cannot be near 1 even on a noisy machine.
    assert measured.ratio.median > 3
    assert measured.floor_calls > measured.subject_calls > 3


def test_paired_gives_every_call_a_fresh_index_and_stops_when_inputs_run_out() -> None:
    seen: list[int] = []

    def subject(i: int) -> Any:
        seen.append(i)
        return _work(500)

    measured = common.paired(lambda _: _work(50), subject, min_seconds=0.005, rounds=2, what="x")
    assert seen == list(range(measured.subject_calls))
    with pytest.raises(NothingMeasured, match=r"needs \d+ distinct inputs, has 3"):
        common.paired(lambda _: None, subject, min_seconds=0.01, max_calls=3, what="x")


def _measured(quick: bool) -> dict[str, Any]:
    return {"figure": 1.5, "quick": quick}


def _nothing(quick: bool) -> dict[str, Any]:
    raise NothingMeasured("0 calls counted")


def _nan(quick: bool) -> dict[str, Any]:
    return {"ratio": math.nan}


def test_a_section_that_measures_nothing_fails_the_run_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    sections = [("fine", _measured), ("empty", _nothing), ("nan", _nan)]
    assert run.main([], sections, default_out=out) == 1
    assert not out.exists()
    err = capsys.readouterr().err
    assert "NothingMeasured: 0 calls counted" in err
    assert "FAILED: empty, nan\n" in err


def test_a_full_run_that_passed_writes_its_results(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    assert run.main([], [("fine", _measured)], default_out=out) == 0
    written = json.loads(out.read_text())
    assert written["sections"] == {"fine": {"figure": 1.5, "quick": False}}
    assert written["failed"] == {}
    assert written["run"]["quick"] is False
    assert set(written["run"]) >= {"commit", "dirty", "machine", "load_average_start"}


@pytest.mark.parametrize("argv", [["--quick"], ["fine"]])
def test_quick_and_partial_runs_write_nothing(tmp_path: Path, argv: list[str]) -> None:
    out = tmp_path / "results.json"
    sections = [("fine", _measured), ("other", _measured)]
    assert run.main(argv, sections, default_out=out) == 0
    assert not out.exists()


def test_a_quick_run_refuses_to_write_over_the_results() -> None:
    with pytest.raises(SystemExit) as exited:
        run.main(["--quick", "--out", str(run.RESULTS)], [("fine", _measured)])
    assert exited.value.code == 2


def test_an_unknown_section_is_refused() -> None:
    with pytest.raises(SystemExit) as exited:
        run.main(["nope"], [("fine", _measured)])
    assert exited.value.code == 2
