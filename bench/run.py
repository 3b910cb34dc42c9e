"""``make bench``: every measurement, one report, ``bench/results.json``.

    python -m bench.run                  every section; writes bench/results.json
    python -m bench.run memory throughput   only those sections; writes nothing
    python -m bench.run --quick          every section on small samples (``make bench-quick``,
                                         which ``make test`` runs); writes nothing
    ... --out PATH                       write the results there instead

Each figure is a ratio to a floor measured in the same run, because machines are noisy. A section
that fails -- including one that measured nothing (``common.NothingMeasured``) -- is reported as
FAILED and makes the exit status non-zero; the others still run. Only a full run in which every
section passed writes ``bench/results.json``, from which ``python -m bench.report`` generates the
results in docs/performance.md: a partial, quick or failed run never replaces a complete one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import report
from bench.common import require_finite

RESULTS = Path(__file__).with_name("results.json")
ROOT = Path(__file__).resolve().parents[1]
# Outputs of the bench itself: a tree that differs from HEAD only in these measured HEAD's code.
OUTPUTS = ("bench/results.json", "docs/performance.md")

Measure = Callable[[bool], dict[str, Any]]


def sections() -> list[tuple[str, Measure]]:
    from bench import (
        authorizer_cpu,
        aws_calls,
        coldstart,
        detection,
        ingest_cpu,
        mcp,
        memory,
        ratelimit_accuracy,
        throughput,
    )

    return [
        ("ingest_cpu", ingest_cpu.run),
        ("authorizer_cpu", authorizer_cpu.run),
        ("cold_start", coldstart.run),
        ("aws_calls", aws_calls.run),
        ("rate_limiter", lambda quick: ratelimit_accuracy.run(quick=quick)),
        ("throughput", throughput.run),
        ("memory", memory.run),
        ("detection", detection.run),
        ("mcp", mcp.run),
    ]


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "arch": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def git_state() -> dict[str, Any]:
    changed = _git("status", "--porcelain", "--", ".", *(f":!{path}" for path in OUTPUTS))
    return {"commit": _git("rev-parse", "--short", "HEAD"), "dirty": bool(changed)}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def measure_all(
    chosen: Sequence[tuple[str, Measure]], *, quick: bool, log: Callable[[str], None]
) -> dict[str, Any]:
    results: dict[str, Any] = {
        "run": {
            "quick": quick,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load_average_start": _load(),
            "machine": machine(),
            **git_state(),
        },
        "seconds": {},
        "sections": {},
        "failed": {},
    }
    started = time.perf_counter()
    for name, measure in chosen:
        log(f"bench: {name} ...")
        section_started = time.perf_counter()
        try:
            result = measure(quick)
            require_finite(result, name)
        except Exception as exc:
            log(traceback.format_exc())
            results["failed"][name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            continue
        results["seconds"][name] = round(time.perf_counter() - section_started, 1)
        results["sections"][name] = result
    results["run"]["load_average_end"] = _load()
    results["run"]["seconds"] = round(time.perf_counter() - started, 1)
    return results


def main(
    argv: Sequence[str] | None = None,
    available: Sequence[tuple[str, Measure]] = (),
    *,
    default_out: Path = RESULTS,
) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="sections to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small samples; writes nothing")
    parser.add_argument("--out", type=Path, help="write the results to this file")
    args = parser.parse_args(argv)
    available = list(available) or sections()
    unknown = set(args.names) - {name for name, _ in available}
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; known: {[n for n, _ in available]}")
    if args.quick and args.out is not None and args.out.resolve() == default_out.resolve():
        parser.error(f"a quick run never replaces {default_out}")
    warnings.simplefilter("ignore")  # Powertools warns about empty metrics on every flush
    chosen = [(n, m) for n, m in available if not args.names or n in args.names]

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    results = measure_all(chosen, quick=args.quick, log=log)
    # Rendering is part of every run: a section whose results the report cannot show fails here.
    print(report.render(results))
    out = args.out
    if out is None and not args.quick and not args.names and not results["failed"]:
        out = default_out
    if out is not None:
        out.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
        log(f"wrote {out}")
    else:
        log("results not written (a quick, partial or failed run); --out PATH writes them")
    if results["failed"]:
        log(f"FAILED: {', '.join(results['failed'])}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
