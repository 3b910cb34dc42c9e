"""The results of a bench run as Markdown: what ``python -m bench.run`` prints.

Every figure is the median over the section's rounds, followed by (min-max) when the rounds
differ at the precision shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

DASH = "\u2013"  # en dash, as docs/ writes ranges
Figure = Mapping[str, float]  # {"min", "median", "max", "n"}, as common.Spread.as_dict()


# --- numbers -------------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    if value < 1e-3:
        micros = value * 1e6
        return f"{micros:.1f} µs" if micros < 100 else f"{micros:.0f} µs"
    millis = value * 1e3
    if millis < 10:
        return f"{millis:.2f} ms"
    return f"{millis:.1f} ms" if millis < 100 else f"{millis:.0f} ms"


def _millis(value: float) -> str:
    return _seconds(value / 1e3)


def _times(value: float) -> str:
    return f"{value:.2f}x" if value < 10 else f"{value:,.0f}x"


def _ratio(value: float) -> str:
    return f"{value:.3f}x" if value < 0.1 else _times(value)


def _rate(value: float) -> str:
    return f"{value:,.0f}/s"


def _mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"


def _kib(value: float) -> str:
    return f"{value / 1024:,.1f} KiB"


def spread(figure: Figure, unit: Callable[[float], str]) -> str:
    """``median (min-max)`` in ``unit``; the median alone when the three read the same."""
    low, mid, high = unit(figure["min"]), unit(figure["median"]), unit(figure["max"])
    if low == mid == high:
        return mid
    if _unit(low) == _unit(high):  # "1.25 ms (1.20-1.31 ms)", not "(1.20 ms-1.31 ms)"
        low = low.removesuffix(_unit(low)).rstrip()
    return f"{mid} ({low}{DASH}{high})"


def _unit(text: str) -> str:
    """The unit a formatted figure ends with: " ms", "x", "/s"..."""
    if " " in text:
        return text.rsplit(" ", 1)[1]
    return text.lstrip("+-0123456789.,")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# --- sections ------------------------------------------------------------------------------------


def _ingest(r: Mapping[str, Any]) -> list[str]:
    rows = []
    for name, v in r.items():
        encoding = "gzip" if v["gzip"] else "plain JSON"
        rows.append(
            [
                name,
                f"{v['events']:,}",
                f"{_kib(v['body_bytes'])} {encoding}",
                _kib(v["json_bytes"]),
                spread(v["subject_seconds"], _seconds),
                spread(v["floor_seconds"], _seconds),
                spread(v["ratio"], _times),
                str(v["rounds"]),
            ]
        )
    header = [
        "batch",
        "events",
        "sent",
        "JSON",
        "ingest CPU",
        "floor: decode + parse + 2 bare calls",
        "ratio",
        "rounds",
    ]
    return _table(header, rows)


def _authorizer(r: Mapping[str, Any]) -> list[str]:
    rows = []
    for label, key in (("cache hit", "cache_hit"), ("cache miss (GetItem)", "cache_miss")):
        v = r[key]
        rows.append(
            [
                label,
                spread(v["subject_seconds"], _seconds),
                spread(v["floor_seconds"], _seconds),
                spread(v["ratio"], _times),
                str(v["rounds"]),
            ]
        )
    header = ["request", "authorizer CPU", "floor: minimal authorizer", "ratio", "rounds"]
    return _table(header, rows)


def _cold_start(r: Mapping[str, Any]) -> list[str]:
    boto3 = spread(r["boto3_import_ms"], _millis)
    rows = [
        [
            name,
            spread(v["init_ms"], _millis),
            boto3,
            spread(v["ratio"], _times),
            f"{v['modules']:,}",
        ]
        for name, v in r["functions"].items()
    ]
    header = ["function", "import + init", "floor: `import boto3`", "ratio", "modules loaded"]
    return [*_table(header, rows), "", f"Runs per module: {r['runs']}, interleaved."]


def _calls(r: Mapping[str, Any]) -> list[str]:
    rows = []
    for row in r["rows"]:
        calls = "; ".join(
            f"{fn.removesuffix('Function')}: "
            + ", ".join(f"{op.split('.', 1)[1]} {n}" for op, n in ops.items())
            for fn, ops in row["calls"].items()
        )
        retried = {op.split(".", 1)[1]: n for op, n in row["http_attempts"].items() if n > 1}
        attempts = str(row["total_http_attempts"])
        if retried:
            attempts += " (" + ", ".join(f"{op} {n}" for op, n in retried.items()) + ")"
        rows.append(
            [row["outcome"], str(row["status"]), str(row["total_calls"]), calls or "-", attempts]
        )
    header = ["outcome", "status", "calls", "by function", "HTTP attempts"]
    return [*_table(header, rows), "", "Counts are exact: the same every run."]


def _rate_limiter(r: Mapping[str, Any]) -> list[str]:
    rows = []
    for name, v in [*r["classes"].items(), ("all", r["all"])]:
        rows.append(
            [
                name,
                f"{v['requests']:,}",
                f"{v['keys']:,}",
                f"{v['refused_pct']:.2f}%",
                f"{v['wrongly_admitted_pct']:.3f}%",
                f"{v['wrongly_refused_pct']:.3f}%",
                f"{v['total_admitted_diff_pct']:+.3f}%",
            ]
        )
    header = [
        "class",
        "requests",
        "keys",
        "refused",
        "wrongly admitted",
        "wrongly refused",
        "admitted vs exact",
    ]
    a = r["all"]
    return [
        *_table(header, rows),
        "",
        f"`Retry-After`, checked on {a['retry_after_checked']:,} refusals: too short "
        f"{a['retry_after_too_short_pct_of_checked']:.3f}%, longer than needed "
        f"{a['retry_after_too_long_pct_of_checked']:.3f}%; the exact log would still refuse "
        f"{a['retry_after_exact_log_refuses_pct_of_refusals']:.1f}% of those waits. "
        f"{a['function_calls_for_decisions']:,} decisions called the function. Seeded trace "
        f"({r['duration_seconds']:.0f} s of traffic per key, seed {r['seed']}): the same "
        f"figures every run; simulated in {r['simulation_seconds']:.1f} s.",
    ]


def _throughput(r: Mapping[str, Any]) -> list[str]:
    row = [
        str(r["clients"]),
        f"{r['requests_per_round']:,} / {r['floor_requests_per_round']:,}",
        spread(r["local_api_rps"], _rate),
        spread(r["trivial_server_rps"], _rate),
        spread(r["ratio"], _ratio),
        spread(r["api_cpu_seconds_per_request"], _seconds),
        str(r["rounds"]),
    ]
    header = [
        "clients",
        "batches per round (API / floor)",
        "local API",
        "floor: trivial server",
        "ratio",
        "API process CPU per batch",
        "rounds",
    ]
    return _table(header, [row])


def _memory(r: Mapping[str, Any]) -> list[str]:
    batch = (
        f"largest batch: {r['events']:,} events, {_mib(r['json_bytes'])} JSON, "
        f"{_mib(r['body_bytes'])} gzip"
    )
    rows = [
        [
            "peak of Python allocations during the call",
            spread(r["tracemalloc_peak_bytes"], _mib),
            spread(r["floor_peak_bytes"], _mib),
            f"{spread(r['peak_vs_floor'], _times)}; {_times(r['peak_vs_json'])} the JSON; "
            f"{_times(r['peak_vs_body'])} the bytes sent",
        ],
        [
            "growth of the resident set during the call",
            spread(r["rss_growth_bytes"], _mib),
            "",
            f"{_times(r['rss_vs_json'])} the JSON; process peak "
            f"{spread(r['process_peak_rss_bytes'], _mib)} of the function's 512 MiB",
        ],
    ]
    header = ["measure", "value", "floor: decode + parse alone", "ratio"]
    return [
        f"{batch}; fresh processes per figure: {r['rounds']}.",
        "",
        *_table(header, rows),
    ]


SECTIONS: dict[str, tuple[str, Callable[[Mapping[str, Any]], list[str]]]] = {
    "ingest_cpu": ("1. Ingest CPU per batch", _ingest),
    "authorizer_cpu": ("2. Authorizer CPU per request", _authorizer),
    "cold_start": ("3. Cold start", _cold_start),
    "aws_calls": ("4. AWS calls per request", _calls),
    "rate_limiter": ("5. Rate limiter accuracy", _rate_limiter),
    "throughput": ("6. Local API throughput", _throughput),
    "memory": ("7. Peak memory", _memory),
}


# --- the whole -----------------------------------------------------------------------------------


def _header(results: Mapping[str, Any]) -> list[str]:
    run = results["run"]
    m = run["machine"]
    started = time.strftime(
        "%Y-%m-%d %H:%M UTC", time.strptime(run["started"], "%Y-%m-%dT%H:%M:%SZ")
    )
    tree = "with uncommitted changes" if run["dirty"] else "clean tree"
    kind = "`python -m bench.run --quick`" if run["quick"] else "`make bench`"

    def loads(values: Sequence[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    return [
        f"Measured by {kind} at commit `{run['commit']}` ({tree}), {started}, "
        f"{run['seconds']:.0f} s in all.",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['arch']}, "
        f"{m['os']}; {m['python']}.",
        f"Load average (1, 5, 15 min): {loads(run['load_average_start'])} at the start, "
        f"{loads(run['load_average_end'])} at the end.",
        f"Figures: the median over the section's rounds, then (min{DASH}max) when they differ.",
    ]


def render(results: Mapping[str, Any]) -> str:
    """The generated part of docs/performance.md, markers excluded."""
    lines = _header(results)
    for name, (title, section) in SECTIONS.items():
        if name in results["sections"]:
            body = section(results["sections"][name])
            seconds = results["seconds"].get(name)
            if seconds is not None:
                body = [*body, "", f"Section run time: {seconds:.0f} s."]
        elif name in results["failed"]:
            body = [f"**FAILED**: {results['failed'][name]}"]
        else:
            continue
        lines += ["", f"#### {title}", "", *body]
    return "\n".join(lines) + "\n"
