"""``lucent data seed --org ORG [--local] [--stack NAME]``: load the demo data set.

``lucent data insights [--local] [--stack NAME]``: derive insights now from detected issues, as
the scheduled InsightsFunction does (lucent.detection.insights).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from lucent.errors import ServiceUnavailable
from lucent_dev import demo_data
from lucent_dev.cli import UsageError
from lucent_dev.target import TargetError, resolve


def register(subparsers: Any) -> None:
    data = subparsers.add_parser("data", help="demo data for the Data API")
    actions = data.add_subparsers(dest="action", required=True)
    seed = actions.add_parser(
        "seed", help="load 25 issues, 120 signals and 8 insights for one organization"
    )
    seed.add_argument("--org", required=True, help="organization id to load the data into")
    seed.add_argument(
        "--local", action="store_true", help="use the running local API (.lucent/dev.json)"
    )
    seed.add_argument("--stack", help="read the data table name from this CloudFormation stack")
    seed.add_argument("--json", action="store_true", help="print the counts as JSON")
    seed.set_defaults(run=run_seed)
    insights = actions.add_parser(
        "insights", help="derive insights from detected issues now (what InsightsFunction does)"
    )
    insights.add_argument(
        "--local", action="store_true", help="use the running local API (.lucent/dev.json)"
    )
    insights.add_argument("--stack", help="read the data table name from this CloudFormation stack")
    insights.add_argument("--json", action="store_true", help="print the counts as JSON")
    insights.set_defaults(run=run_insights)


def run_insights(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from lucent.detection.insights import derive
    from lucent.detection.store import InsightsStore
    from lucent.errors import DetectionUnavailable

    try:
        target = resolve(args.local, args.stack)
        table = target.settings.require("data_table")
    except (TargetError, RuntimeError) as exc:
        raise UsageError(str(exc)) from exc
    store = InsightsStore(target.client("dynamodb"), table)
    now = datetime.now(UTC)
    counts: dict[str, int] = {}
    try:
        for org_id in store.organizations():
            derived = derive(org_id, store.issues(org_id), now)
            store.replace_derived(org_id, derived)
            counts[org_id] = len(derived)
    except DetectionUnavailable as exc:
        raise UsageError(f"could not derive insights in {table}: {exc.__cause__}") from exc
    if args.json:
        print(json.dumps({"table": table, "insights": counts}))
    else:
        print(
            f"derived insights in {table} ({target.description}): "
            + (
                ", ".join(f"{org} {n}" for org, n in counts.items())
                or "no organization with detected issues"
            )
        )
    return 0


def run_seed(args: argparse.Namespace) -> int:
    if not args.org.strip():
        raise UsageError("--org must not be empty")
    try:
        target = resolve(args.local, args.stack)
        table = target.settings.require("data_table")
    except (TargetError, RuntimeError) as exc:
        raise UsageError(str(exc)) from exc
    try:
        counts = demo_data.seed(target.client("dynamodb"), table, args.org)
    except ServiceUnavailable as exc:
        raise UsageError(f"could not write the demo data to {table}: {exc.__cause__}") from exc
    if args.json:
        print(json.dumps({"org_id": args.org, "table": table, **counts}))
    else:
        print(
            f"seeded org {args.org} in {table} ({target.description}): "
            + ", ".join(f"{n} {name}" for name, n in counts.items())
        )
    return 0
