"""``make bench``: every measurement, one table, and ``bench/results.json``.

Each figure is a ratio to a floor measured in the same run, because machines are noisy; absolute
values are printed next to it for the cost estimate in docs/performance.md. A section that fails
is reported as failed and makes the exit status non-zero; the others still run.
"""

from __future__ import annotations

import json
import platform
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results.json")
Row = tuple[str, str, str, str]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms" if seconds < 0.01 else f"{seconds * 1000:.1f} ms"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us"


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def _ingest_rows(r: dict[str, Any]) -> list[Row]:
    rows = []
    for name, v in r.items():
        label = f"1 ingest CPU/batch: {name} ({v['events']} ev, {v['body_bytes'] // 1024} KiB sent)"
        rows.append(
            (label, _ms(v["ingest_seconds"]), _ms(v["floor_seconds"]), f"{v['ratio']:.2f}x")
        )
    return rows


def _authorizer_rows(r: dict[str, Any]) -> list[Row]:
    floor = _us(r["floor_seconds"])
    return [
        (
            "2 authorizer CPU/request: cache hit",
            _us(r["cache_hit_seconds"]),
            floor,
            f"{r['cache_hit_ratio']:.0f}x",
        ),
        (
            "2 authorizer CPU/request: cache miss",
            _us(r["cache_miss_seconds"]),
            floor,
            f"{r['cache_miss_ratio']:.0f}x",
        ),
    ]


def _coldstart_rows(r: dict[str, Any]) -> list[Row]:
    base = f"{r['boto3_import_ms']:.0f} ms"
    return [
        (
            f"3 cold start (import+init): {name}",
            f"{v['init_ms']:.0f} ms",
            base,
            f"{v['ratio']:.2f}x",
        )
        for name, v in r["functions"].items()
    ]


def _calls_rows(r: dict[str, Any]) -> list[Row]:
    rows = []
    for row in r["rows"]:
        detail = "; ".join(
            f"{fn.removesuffix('Function')}: " + ", ".join(f"{op} {n}" for op, n in ops.items())
            for fn, ops in row["calls"].items()
        )
        rows.append(
            (
                f"4 AWS calls: {row['outcome']}",
                f"{row['total_calls']} ({row['total_http_attempts']} HTTP)",
                f"status {row['status']}",
                detail or "-",
            )
        )
    return rows


def _ratelimit_rows(r: dict[str, Any]) -> list[Row]:
    """Section 5: value = wrongly admitted / wrongly refused, in percent of the class's requests."""
    rows = []
    containers = r["containers_per_key"]
    for limit, classes in r["accuracy"].items():
        for name, v in classes.items():
            rows.append(
                (
                    f"5 rate limit {int(limit):,}/min vs exact log: {name} "
                    f"({v['requests']:,} req, {v['keys']:,} keys, {containers} containers)",
                    f"{v['wrongly_admitted_pct']:.4f}% / {v['wrongly_refused_pct']:.4f}%",
                    f"refused {v['refused_pct']:.2f}%",
                    f"writes/admitted {v['writes_per_admitted']:.3f}, "
                    f"WCU/admitted {v['wcu_per_admitted']:.2f}, "
                    f"writes/429 {v['writes_per_refused']:.3f}, "
                    f"WCU/429 write {v['wcu_per_refusal_write']:.2f}",
                )
            )
    checked = [v for classes in r["accuracy"].values() for v in classes.values()]
    total = sum(v["retry_after_checked"] for v in checked)
    early = sum(
        v["retry_after_checked"] * v["retry_after_too_early_pct_of_checked"] for v in checked
    )
    late = sum(v["retry_after_checked"] * v["retry_after_too_late_pct_of_checked"] for v in checked)
    rows.append(
        (
            f"5 Retry-After vs the limiter's next admission ({total:,} checked)",
            f"early {early / max(total, 1):.3f}%",
            f"late {late / max(total, 1):.3f}%",
            f"simulated in {r['simulation_seconds']:.0f} s",
        )
    )
    for name, v in r["skew"].items():
        rows.append(
            (
                f"5 clocks +-{r['skew_ms']:.0f} ms apart, 100/min: {name} ({v['requests']:,} req)",
                f"{v['wrongly_admitted_pct']:.4f}% / {v['wrongly_refused_pct']:.4f}%",
                f"Retry-After early {v['retry_after_too_early_pct_of_checked']:.2f}%",
                f"late {v['retry_after_too_late_pct_of_checked']:.2f}%",
            )
        )
    for design_limit, classes in r["tiers"].items():
        design, limit = design_limit.split("|")
        at_limit = classes["at-the-limit"]
        wrong = ", ".join(
            f"{name} {v['wrongly_admitted_pct']:.3f}/{v['wrongly_refused_pct']:.3f}"
            for name, v in classes.items()
        )
        rows.append(
            (
                f"5 tier {int(limit):,}/min, {design}: WCU per admitted / per 429 write",
                f"{at_limit['wcu_per_admitted']:.2f} / {at_limit['wcu_per_refusal_write']:.2f}",
                f"item <= {at_limit['max_item_bytes']:,} B",
                f"wrong % adm/ref: {wrong}",
            )
        )
    e = r["equivalence"]
    rows.append(
        (
            f"5 memory table = moto ({e['moto']}), decision by decision",
            f"{e['decisions_compared']:,} req",
            f"{e['keys']} keys",
            f"CPU: moto {e['moto_seconds']:.0f} s, memory {e['memory_seconds']:.1f} s "
            f"({e['processes']} processes)",
        )
    )
    return rows


def _throughput_rows(r: dict[str, Any]) -> list[Row]:
    return [
        (
            f"6 local API ingest, {r['clients']} clients ({r['requests']} batches)",
            f"{r['local_api_rps']:.0f} req/s",
            f"{r['trivial_server_rps']:.0f} req/s",
            f"{r['ratio']:.3f}x",
        )
    ]


def _memory_rows(r: dict[str, Any]) -> list[Row]:
    return [
        (
            f"7 peak memory, largest batch ({r['events']} ev, {_mib(r['body_bytes'])} gzip, "
            f"{_mib(r['json_bytes'])} JSON)",
            _mib(r["tracemalloc_peak_bytes"]),
            f"{_mib(r['floor_peak_bytes'])} parse",
            f"{r['peak_vs_floor']:.2f}x parse; {r['peak_vs_json']:.1f}x JSON; "
            f"{r['peak_vs_body']:.0f}x sent",
        ),
        (
            "7 RSS growth, same call (process peak)",
            _mib(r["rss_growth_bytes"]),
            f"({_mib(r['process_peak_rss_bytes'])})",
            f"{r['rss_vs_json']:.1f}x JSON; the function has 512 MiB",
        ),
    ]


def _sections() -> list[
    tuple[str, Callable[[], dict[str, Any]], Callable[[dict[str, Any]], list[Row]]]
]:
    from bench import (
        authorizer_cpu,
        aws_calls,
        coldstart,
        ingest_cpu,
        memory,
        ratelimit_accuracy,
        throughput,
    )

    return [
        ("ingest_cpu", ingest_cpu.run, _ingest_rows),
        ("authorizer_cpu", authorizer_cpu.run, _authorizer_rows),
        ("cold_start", coldstart.run, _coldstart_rows),
        ("aws_calls", aws_calls.run, _calls_rows),
        ("rate_limiter", ratelimit_accuracy.run, _ratelimit_rows),
        ("throughput", throughput.run, _throughput_rows),
        ("memory", memory.run, _memory_rows),
    ]


def _print_table(rows: list[Row]) -> None:
    header: Row = ("measure", "value", "floor", "ratio / detail")
    # Section 5's value is "wrongly admitted / wrongly refused", in percent of all requests.
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    print(line)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print(line)


def main() -> int:
    warnings.simplefilter("ignore")  # Powertools warns about empty metrics on every flush
    only = set(sys.argv[1:])
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    rows: list[Row] = []
    failed = False
    for name, measure, format_rows in _sections():
        if only and name not in only:
            continue
        started = time.perf_counter()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        try:
            result = measure()
        except Exception:
            failed = True
            traceback.print_exc()
            results[name] = {"failed": traceback.format_exc(limit=3)}
            rows.append((name, "FAILED", "", "see stderr"))
            continue
        results.setdefault("bench_seconds", {})[name] = time.perf_counter() - started
        results[name] = result
        rows.extend(format_rows(result))
    _print_table(rows)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    print(f"wrote {RESULTS}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
