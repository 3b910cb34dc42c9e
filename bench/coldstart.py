"""(3) Cold start: import and init of each function module in a fresh interpreter, against
``import boto3`` alone in the same kind of interpreter. Medians of N runs.

Each run is a new ``python`` process (as a new Lambda container is). The time is measured inside
the process around the import, so interpreter start-up, which Lambda pays for every runtime
alike, is left out. "init" is the module's import, which is Lambda's INIT phase; clients are built
lazily on the first request and show up in that request's time instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from bench import common
from lucent_dev import template as tpl

_IMPORT_FUNCTION = """
import sys, time
t0 = time.perf_counter()
from importlib import util
spec = util.spec_from_file_location("lambda_function_module", sys.argv[1])
module = util.module_from_spec(spec)
spec.loader.exec_module(module)
getattr(module, sys.argv[2])
t1 = time.perf_counter()
print((t1 - t0) * 1000, len(sys.modules))
"""
_IMPORT_BOTO3 = """
import sys, time
t0 = time.perf_counter()
import boto3
t1 = time.perf_counter()
print((t1 - t0) * 1000, len(sys.modules))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(common.function_env())
    # What Lambda puts on sys.path: the function's code and the layer (here: the repo's layer).
    env["PYTHONPATH"] = os.pathsep.join(
        [str(tpl.PROJECT_ROOT / "layers" / "common"), env.get("PYTHONPATH", "")]
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # warm .pyc caches, as a deployed package has
    return env


def _once(code: str, *args: str, env: dict[str, str], service: str) -> tuple[float, int]:
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**env, "POWERTOOLS_SERVICE_NAME": service},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    millis, modules = result.stdout.split()
    return float(millis), int(modules)


def run(runs: int = 7) -> dict[str, Any]:
    env = _env()
    specs = {
        name: spec
        for name, spec in tpl.functions().items()
        if spec.module_file.is_file() and name != "CanaryFunction"
    }
    _once(_IMPORT_BOTO3, env=env, service="bench")  # warm the page cache and .pyc files
    for spec in specs.values():
        _once(
            _IMPORT_FUNCTION,
            str(spec.module_file),
            spec.handler.rsplit(".", 1)[1],
            env=env,
            service="bench",
        )
    baseline: list[float] = []
    samples: dict[str, list[float]] = {name: [] for name in specs}
    modules: dict[str, int] = {}
    for _ in range(runs):  # interleaved, so drift on a noisy machine hits every module alike
        baseline.append(_once(_IMPORT_BOTO3, env=env, service="bench")[0])
        for name, spec in specs.items():
            millis, count = _once(
                _IMPORT_FUNCTION,
                str(spec.module_file),
                spec.handler.rsplit(".", 1)[1],
                env=env,
                service=name,
            )
            samples[name].append(millis)
            modules[name] = count
    boto3_ms = common.median(baseline)
    out: dict[str, Any] = {"runs": runs, "boto3_import_ms": boto3_ms, "functions": {}}
    for name, values in samples.items():
        ms = common.median(values)
        out["functions"][name] = {"init_ms": ms, "ratio": ms / boto3_ms, "modules": modules[name]}
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
