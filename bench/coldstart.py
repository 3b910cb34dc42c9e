"""(3) Cold start: import and init of each function module in a fresh interpreter, against
``import boto3`` alone in the same kind of interpreter. Medians of N runs, with min and max; the
ratio is each run's own (function / ``import boto3`` of the same round).

Each run is a new ``python`` process (as a new Lambda container is). The time is measured inside
the process around the import, so interpreter start-up, which Lambda pays for every runtime
alike, is left out. "init" is the module's import, which is Lambda's INIT phase; clients are built
lazily on the first request and show up in that request's time instead.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from bench import common
from bench.common import NothingMeasured, Spread
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
    what = f"cold start of {service}"
    stdout = common.child_process(
        [sys.executable, "-c", code, *args],
        what=what,
        timeout=60,
        env={**env, "POWERTOOLS_SERVICE_NAME": service},
    )
    millis, modules = stdout.split()
    return common.positive(float(millis), f"{what}: import time"), int(modules)


def run(quick: bool = False) -> dict[str, Any]:
    runs = 1 if quick else 7
    env = _env()
    specs = {
        name: spec
        for name, spec in tpl.functions().items()
        if spec.module_file.is_file() and name != "CanaryFunction"
    }
    if not specs:
        raise NothingMeasured("template.yaml names no function module to import")
    if not quick:  # warm the page cache and .pyc files
        _once(_IMPORT_BOTO3, env=env, service="bench")
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
    ratios: dict[str, list[float]] = {name: [] for name in specs}
    modules: dict[str, int] = {}
    for _ in range(runs):  # interleaved, so drift on a noisy machine hits every module alike
        boto3_ms, boto3_modules = _once(_IMPORT_BOTO3, env=env, service="bench")
        baseline.append(boto3_ms)
        for name, spec in specs.items():
            millis, count = _once(
                _IMPORT_FUNCTION,
                str(spec.module_file),
                spec.handler.rsplit(".", 1)[1],
                env=env,
                service=name,
            )
            if count <= 1:
                raise NothingMeasured(f"{name}: the import loaded {count} modules")
            samples[name].append(millis)
            ratios[name].append(millis / boto3_ms)
            modules[name] = count
    out: dict[str, Any] = {
        "runs": runs,
        "boto3_import_ms": Spread.of(baseline, "import boto3").as_dict(),
        "boto3_modules": boto3_modules,
        "functions": {},
    }
    for name, values in samples.items():
        out["functions"][name] = {
            "init_ms": Spread.of(values, f"cold start of {name}").as_dict(),
            "ratio": Spread.of(ratios[name], f"cold start of {name}: ratio").as_dict(),
            "modules": modules[name],
        }
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
