"""(3) Cold start, measured as Lambda pays it, against ``python3.12 -c "import boto3"``.

Each run is a whole new ``python3.12`` process (a new container), so interpreter start-up is in
both figures. The function's process runs in a Lambda-like environment (``LAMBDA_TASK_ROOT``,
``AWS_LAMBDA_FUNCTION_NAME``, ``AWS_EXECUTION_ENV``, the template's variables) with tracing as
deployed (``Tracing: Active``: Powertools' Tracer is on, the X-Ray SDK loaded and botocore
patched), imports the handler module as Lambda does, and then builds what the first invocation
builds: the handler's per-container ``service()`` (the authorizer's ``authenticator()``, MCP's
``server()`` and tool list, the canary's secret client and events: ``FACTORIES``), which creates
its boto3 clients. No request is sent. Every function of template.yaml is measured.

The figure is the child's CPU time (user + system, from ``wait4``), which a loaded machine
inflates far less than wall time; wall time is reported beside it. Each round runs ``import
boto3``, ``import boto3`` plus the very clients the function created (the unavoidable part of a
cold start: the second floor), and every function, interleaved, so drift hits all alike; ratios are
per round. Needs ``.venv-py312`` (``make .venv-py312/.installed``): Lambda's runtime is 3.12.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

from bench import common
from bench.common import NothingMeasured, Spread
from lucent_dev import template as tpl

PY312 = tpl.PROJECT_ROOT / ".venv-py312" / "bin" / "python"
# What each handler builds on its first invocation (run after the module's import, with the
# module as ``module``). Every function of the template is measured, the scheduled ones too: a
# function missing here fails the section, so a new function must say how it starts.
FACTORIES = {
    "AuthorizerFunction": "module.authenticator()",
    "DataAuthorizerFunction": "module.authenticator()",
    "IngestFunction": "module.service()",
    "IssuesFunction": "module.service()",
    "McpFunction": "module.server(); import lucent.mcp.tools as t; t.tool_definitions()",
    "DetectionFunction": "module.service()",
    "OAuthFunction": "module._parts()",
    "InsightsFunction": "module.store()",
    # Its secret's client and the packaged events it replays (no request is sent).
    "CanaryFunction": (
        "module.secretsmanager_client(module.get_settings()); "
        "module.load_manifest(module.events_dir())"
    ),
}

_FUNCTION = """
import sys
from importlib import util
path, first_invocation = sys.argv[1], sys.argv[2]
spec = util.spec_from_file_location("lambda_function", path)
module = util.module_from_spec(spec)
sys.modules["lambda_function"] = module
spec.loader.exec_module(module)
module.lambda_handler
exec(first_invocation)
from lucent import aws
services = [name for name, made in (("dynamodb", aws.dynamodb_client), ("s3", aws.s3_client),
            ("secretsmanager", aws.secretsmanager_client), ("cognito-idp", aws.cognito_client))
            if made.cache_info().currsize]
print(",".join(services) or "-", len(sys.modules))
"""
_BOTO3 = """
import sys
import boto3
print("-", len(sys.modules))
"""
_BOTO3_CLIENTS = """
import sys
import boto3
from botocore.config import Config
session = boto3.session.Session()
for service in sys.argv[1:]:
    session.client(service, region_name="us-east-1", config=Config(retries={"mode": "standard"}))
print(",".join(sys.argv[1:]), len(sys.modules))
"""


def lambda_environment(logical_id: str, spec: tpl.FunctionSpec) -> dict[str, str]:
    """What Lambda would set for this function (less the credentials and the trace id)."""
    names = {lid: kw["TableName"] for lid, kw in tpl.table_definitions().items()}
    names["ReplayBucket"] = tpl.physical_name("ReplayBucket")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        **common.function_env(),
        # References to resources that exist only in AWS (an app client id, an API's URL) get a
        # stand-in value: the function reads them at start, and nothing is sent.
        **{key: f"bench-{key.lower()}" for key in spec.environment},
        **tpl.resolve_environment(spec, names, tpl.parameter_defaults()),
        "LAMBDA_TASK_ROOT": str(spec.module_file.parent),
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "_HANDLER": spec.handler,
        # Tracing: Active, as deployed; segments go to a loopback port nobody reads.
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        # The layer's packages, where Lambda mounts them (/opt/python); here, the repo's layer.
        "PYTHONPATH": str(tpl.PROJECT_ROOT / "layers" / "common"),
    }
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
    return env


def _run(args: list[str], env: dict[str, str], what: str) -> tuple[float, float, str, int]:
    """(CPU seconds, wall seconds, services, modules) of one whole child process. The CPU time is
    the child's own (user + system, microsecond resolution), from the accounting of reaped
    children around the call: only this child is reaped in between."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0 or not process.stdout.strip():
        tail = "\n".join(process.stderr.strip().splitlines()[-15:])
        raise NothingMeasured(f"{what}: the child exited with {process.returncode}:\n{tail}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    services, modules = process.stdout.split()[-2:]
    return (
        common.positive(cpu, f"{what}: CPU"),
        common.positive(wall, f"{what}: wall"),
        services,
        int(modules),
    )


def _interpreter(quick: bool) -> str:
    """Lambda's python3.12 (``.venv-py312``); the quick smoke run of ``make test`` falls back to
    this interpreter on a machine without python3.12 (the README promises only 3.11+)."""
    if PY312.is_file():
        return str(PY312)
    if quick:
        return sys.executable
    raise NothingMeasured(f"{PY312} is missing: run `make .venv-py312/.installed` first")


def run(quick: bool = False) -> dict[str, Any]:
    python = _interpreter(quick)
    runs = 2 if quick else 9
    functions = tpl.functions()
    unknown = sorted(set(functions) - set(FACTORIES))
    if unknown:
        raise NothingMeasured(
            f"no cold-start factory for {', '.join(unknown)}: add it to FACTORIES"
        )
    specs = {name: functions[name] for name in FACTORIES if name in functions}
    if not specs:
        raise NothingMeasured("template.yaml names no function to start")
    base_env = lambda_environment("bench", next(iter(specs.values())))
    services: dict[str, str] = {}
    # Warm the page cache and .pyc files, as a deployed package's are, and learn each
    # function's clients for the second floor.
    _run([python, "-c", _BOTO3], base_env, "import boto3")
    for name, spec in specs.items():
        env = lambda_environment(name, spec)
        args = [python, "-c", _FUNCTION, str(spec.module_file), FACTORIES[name]]
        services[name] = _run(args, env, f"cold start of {name}")[2]
        if services[name] == "-":
            raise NothingMeasured(f"{name}: `{FACTORIES[name]}` created no boto3 client")
    floors = sorted(set(services.values()))
    for clients in floors:
        _run([python, "-c", _BOTO3_CLIENTS, *clients.split(",")], base_env, f"boto3 + {clients}")
    boto3_cpu: list[float] = []
    boto3_wall: list[float] = []
    floor_cpu: dict[str, list[float]] = {clients: [] for clients in floors}
    cpu: dict[str, list[float]] = {name: [] for name in specs}
    wall: dict[str, list[float]] = {name: [] for name in specs}
    ratio: dict[str, list[float]] = {name: [] for name in specs}
    ratio_clients: dict[str, list[float]] = {name: [] for name in specs}
    modules: dict[str, int] = {}
    for _ in range(runs):
        b_cpu, b_wall, _, boto3_modules = _run([python, "-c", _BOTO3], base_env, "import boto3")
        boto3_cpu.append(b_cpu)
        boto3_wall.append(b_wall)
        round_floor = {
            clients: _run(
                [python, "-c", _BOTO3_CLIENTS, *clients.split(",")], base_env, f"boto3 + {clients}"
            )[0]
            for clients in floors
        }
        for clients, value in round_floor.items():
            floor_cpu[clients].append(value)
        for name, spec in specs.items():
            env = lambda_environment(name, spec)
            args = [python, "-c", _FUNCTION, str(spec.module_file), FACTORIES[name]]
            f_cpu, f_wall, _, count = _run(args, env, f"cold start of {name}")
            cpu[name].append(f_cpu)
            wall[name].append(f_wall)
            ratio[name].append(f_cpu / b_cpu)
            ratio_clients[name].append(f_cpu / round_floor[services[name]])
            modules[name] = count
    out: dict[str, Any] = {
        "runs": runs,
        "python": subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip(),
        "boto3_cpu_ms": Spread.of([v * 1000 for v in boto3_cpu], "import boto3").as_dict(),
        "boto3_wall_ms": Spread.of([v * 1000 for v in boto3_wall], "import boto3").as_dict(),
        "boto3_modules": boto3_modules,
        "boto3_with_clients_cpu_ms": {
            clients: Spread.of([v * 1000 for v in values], f"boto3 + {clients}").as_dict()
            for clients, values in floor_cpu.items()
        },
        "functions": {},
    }
    for name in specs:
        out["functions"][name] = {
            "clients": services[name],
            "cpu_ms": Spread.of([v * 1000 for v in cpu[name]], name).as_dict(),
            "wall_ms": Spread.of([v * 1000 for v in wall[name]], name).as_dict(),
            "ratio": Spread.of(ratio[name], f"{name}: ratio").as_dict(),
            "ratio_to_boto3_with_clients": Spread.of(
                ratio_clients[name], f"{name}: ratio to boto3 + clients"
            ).as_dict(),
            "modules": modules[name],
        }
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
