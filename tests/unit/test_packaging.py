"""What the deployed bundle relies on: pins in step, handlers present, a lean authorizer."""

from __future__ import annotations

import json
import subprocess
import sys

from lucent_dev import template as tpl

ROOT = tpl.PROJECT_ROOT


def test_every_function_handler_exists_and_runtime_is_312_or_newer() -> None:
    template = tpl.load_template()
    runtime = template["Globals"]["Function"]["Runtime"]
    assert runtime in {"python3.12", "python3.13"}
    for spec in tpl.functions().values():
        assert spec.module_file.is_file(), spec.module_file


def modules_loaded_by(function: str, service: str) -> list[str]:
    """Every module a fresh interpreter holds after importing ``function``'s handler."""
    code = (
        "import sys, json; from lucent_dev import template as t; "
        f"t.load_handler(t.functions()[{function!r}]); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    env_vars = {"POWERTOOLS_SERVICE_NAME": service, "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**env_vars, "PATH": "/usr/bin:/bin"},
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def top_level(modules: list[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_authorizer_imports_stay_lean() -> None:
    """The authorizer runs before every ingest request (the browser's path): no Powertools,
    pydantic or X-Ray, and botocore without boto3 (lucent.aws; why: docs/decisions/023-lean-botocore-loader.md, 024-lean-authorizer.md)."""
    loaded = modules_loaded_by("AuthorizerFunction", "authorizer")
    packages = top_level(loaded)
    assert "botocore" in packages
    for heavy in (
        "boto3",
        "s3transfer",
        "pydantic",
        "aws_xray_sdk",
        "pydantic_core",
        "aws_lambda_powertools",
    ):
        assert heavy not in packages, heavy
    assert "aws_lambda_powertools.event_handler" not in loaded


def test_ingest_imports_no_pydantic_or_xray() -> None:
    """Ingest (the browser's path) validates batches with plain code (lucent.ingest.batch),
    routes without Powertools' event handler and has no X-Ray SDK (Lambda's segment and latency
    metrics instead), to keep its cold start (why: docs/decisions/025-027)."""
    loaded = modules_loaded_by("IngestFunction", "ingest")
    packages = top_level(loaded)
    assert "lucent" in packages
    assert "aws_lambda_powertools" in packages
    assert not packages & {"pydantic", "pydantic_core", "aws_xray_sdk", "wrapt"}
    assert not [m for m in loaded if m.startswith("aws_lambda_powertools.event_handler")]


def test_aws_retry_budget_fails_inside_the_function_timeout() -> None:
    """A hanging S3 or DynamoDB must fail in our code (503 / fail-open), not time the Lambda out."""
    from lucent.aws import CLIENT_CONFIG

    timeout = tpl.load_template()["Globals"]["Function"]["Timeout"]
    attempts = CLIENT_CONFIG.retries["total_max_attempts"]
    per_attempt = CLIENT_CONFIG.connect_timeout + CLIENT_CONFIG.read_timeout
    backoff_allowance = 1  # standard mode: jittered exponential, capped well under 1 s for 1 retry
    assert attempts * per_attempt + backoff_allowance < timeout
