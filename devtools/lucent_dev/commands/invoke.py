"""``lucent invoke FUNCTION EVENT_FILE``: run one function in-process on one event (no Docker).

The function is loaded from template.yaml (``CodeUri``/``Handler``) in a fresh module, with the
environment the template gives it. Its AWS is the running local API's embedded AWS when
``.lucent/dev.json`` points at one that answers, otherwise an in-process moto with every table
and bucket of the template and the demo data. The response goes to stdout as JSON; the
function's own logs go to stderr (as ``sam local invoke`` does).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lucent_dev import template as tpl
from lucent_dev.cli import UsageError
from lucent_dev.containers import apply_environment, function_environment
from lucent_dev.embedded_aws import provision
from lucent_dev.gateway import LocalContext
from lucent_dev.local_api import is_reachable
from lucent_dev.target import DEV_STATE_PATH, TargetError, read_dev_state

EVENTS_DIR = tpl.PROJECT_ROOT / "events"


def register(subparsers: Any) -> None:
    invoke = subparsers.add_parser(
        "invoke", help="run one function in-process on an event file and print its response"
    )
    invoke.add_argument("function", help="logical id from template.yaml, e.g. IngestFunction")
    invoke.add_argument("event", type=Path, help="an API Gateway event, e.g. events/....json")
    invoke.set_defaults(run=run)


def resolve_function(name: str) -> tpl.FunctionSpec:
    specs = tpl.functions()
    wanted = name.lower().removesuffix("function")
    for logical_id, spec in specs.items():
        if logical_id.lower().removesuffix("function") == wanted:
            return spec
    raise UsageError(f"unknown function {name!r}; template.yaml has: {', '.join(sorted(specs))}")


@contextlib.contextmanager
def backing_aws(state_path: Path | None = None) -> Iterator[tuple[dict[str, str], str]]:
    """The environment a function needs, and a description of where its AWS is."""
    try:
        state = read_dev_state(state_path or DEV_STATE_PATH)
    except TargetError:
        state = None
    endpoint = state.get("aws_endpoint_url") if state else None
    if state and endpoint and is_reachable(endpoint):
        names = {**state["tables"], "ReplayBucket": state["bucket"]}
        yield (
            function_environment(names, endpoint, functions=tpl.functions()),
            f"the local API's embedded AWS ({endpoint})",
        )
        return
    import boto3
    from moto import mock_aws

    env = function_environment({}, None)
    apply_environment(env)  # fake credentials and region before moto starts
    with mock_aws():
        region = env["AWS_REGION"]
        names = provision(
            boto3.client("dynamodb", region_name=region), boto3.client("s3", region_name=region)
        )
        yield (
            function_environment(names, None, functions=tpl.functions()),
            "an in-process moto with the demo data",
        )


def invoke(
    spec: tpl.FunctionSpec, event: dict[str, Any], env: dict[str, str]
) -> tuple[Any, BaseException | None]:
    """Run the handler once in a fresh module (a new container); returns (output, error)."""
    apply_environment(
        {
            **env,
            "POWERTOOLS_SERVICE_NAME": str(
                spec.environment.get("POWERTOOLS_SERVICE_NAME", "local")
            ),
        }
    )
    handler = tpl.load_handler(spec, fresh=True)
    try:
        return handler(event, LocalContext(spec.logical_id)), None
    except Exception as exc:  # reported like Lambda reports a function error
        return None, exc


def run(args: argparse.Namespace) -> int:
    spec = resolve_function(args.function)
    try:
        event = json.loads(args.event.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise UsageError(f"{args.event} not found (the events are in events/)") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{args.event} is not JSON: {exc}") from exc
    stdout = sys.stdout
    with backing_aws() as (env, where):
        print(f"Invoking {spec.logical_id} with {args.event}, backed by {where}", file=sys.stderr)
        with contextlib.redirect_stdout(sys.stderr):
            output, error = invoke(spec, event, env)
    if error is not None:
        document: Any = {"errorMessage": str(error), "errorType": type(error).__name__}
    else:
        document = output
    print(json.dumps(document, indent=2), file=stdout)
    _report_manifest_check(args.event, output, error)
    return 1 if error is not None else 0


def _report_manifest_check(path: Path, output: Any, error: BaseException | None) -> None:
    """When the event is one of events/, say whether it gave its documented outcome."""
    from lucent.canary.engine import ManifestError, check_invoke, load_manifest

    try:
        manifest = load_manifest(EVENTS_DIR)
    except ManifestError:
        return
    resolved = path.resolve()
    for spec in manifest.events:
        if (EVENTS_DIR / spec.file).resolve() == resolved:
            problems = check_invoke(spec.invoke, output, error)
            verdict = (
                "as documented" if not problems else "NOT as documented: " + "; ".join(problems)
            )
            print(f"{spec.file}: {verdict} (events/manifest.json)", file=sys.stderr)
            return
