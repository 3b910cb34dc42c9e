"""``lucent replay [--url URL] [--credentials FILE]``: replay events/ as real HTTP requests.

Against the local API by default (URLs and demo credentials from ``.lucent/dev.json``), or any
deployment: ``--url`` for every API, or ``--ingest-url``/``--data-url`` when they differ (as on
AWS, where each REST API has its own URL), and ``--credentials`` with a JSON file of that
deployment's credentials by role (the canary's secret format, docs/local-development.md).
Exits non-zero when any check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from lucent.canary.engine import ManifestError, Result, load_manifest, replay, summary
from lucent_dev.cli import UsageError
from lucent_dev.target import DEV_STATE_PATH, TargetError, read_dev_state
from lucent_dev.template import PROJECT_ROOT

EVENTS_DIR = PROJECT_ROOT / "events"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay", help="replay events/ as HTTP requests against a deployment (default: local API)"
    )
    parser.add_argument("--url", help="base URL of every API (default: the local API's)")
    parser.add_argument("--ingest-url", help="base URL of the ingest API (overrides --url)")
    parser.add_argument("--data-url", help="base URL of the Data API (overrides --url)")
    parser.add_argument(
        "--mcp-url", help="base URL of the MCP API (default: the Data API's, as in `make dev`)"
    )
    parser.add_argument(
        "--credentials",
        type=Path,
        metavar="FILE",
        help="JSON of the deployment's credentials by role (default: .lucent/dev.json)",
    )
    parser.add_argument("--events", type=Path, default=EVENTS_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="replay only these events")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds per request")
    parser.set_defaults(run=run)


def _values(args: argparse.Namespace) -> dict[str, Any]:
    if args.credentials is not None:
        try:
            loaded = json.loads(args.credentials.read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"cannot read credentials from {args.credentials}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise UsageError(f"{args.credentials} must hold a JSON object of role -> value")
        return loaded
    try:
        return read_dev_state(DEV_STATE_PATH)
    except TargetError as exc:
        raise UsageError(f"{exc}, or pass --credentials FILE") from exc


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    stream = out or sys.stdout
    values = _values(args)
    ingest_url = args.ingest_url or args.url or values.get("ingest_url")
    data_url = args.data_url or args.url or values.get("data_url")
    if not ingest_url or not data_url:
        raise UsageError("no URL: pass --url (or --ingest-url and --data-url)")
    try:
        manifest = load_manifest(args.events)
    except ManifestError as exc:
        raise UsageError(str(exc)) from exc
    strings = {k: str(v) for k, v in values.items() if isinstance(v, str | int)}
    print(f"Replaying {args.events} against ingest {ingest_url}, data {data_url}", file=stream)
    total = sum(1 for e in manifest.events if e.http is not None)
    done = 0

    def progress(result: Result) -> None:
        nonlocal done
        done += 1
        status = "-" if result.status is None else str(result.status)
        detail = result.skipped or "; ".join(result.problems)
        line = f"[{done:>{len(str(total))}}/{total}] {result.outcome} {result.spec.name} {status}"
        line += f" {result.elapsed_ms:.0f} ms" if result.status is not None else ""
        print(line + (f"  {detail}" if detail else ""), file=stream, flush=True)

    results = replay(
        manifest,
        # The local API serves MCP on the Data API's host; a deployment's is McpUrl (--mcp-url).
        {"ingest": ingest_url, "data": data_url, "mcp": args.mcp_url or data_url},
        strings,
        only=args.only,
        timeout=args.timeout,
        on_result=progress,
    )
    if args.only and not results:
        raise UsageError(f"no event named {', '.join(args.only)} in {args.events}")
    print(table(results), file=stream)
    counts = summary(results)
    print(
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped",
        file=stream,
    )
    return 1 if counts["failed"] else 0


def table(results: list[Result]) -> str:
    rows = [("event", "api", "result", "status", "ms")]
    for r in results:
        status = "-" if r.status is None else str(r.status)
        elapsed = f"{r.elapsed_ms:.0f}" if r.status is not None else "-"
        rows.append((r.spec.name, r.spec.api, r.outcome, status, elapsed))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n" + "\n".join(line.rstrip() for line in lines)
