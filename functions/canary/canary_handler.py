"""Scheduled canary: replays the packaged events/ against the deployed APIs and publishes the result.

* URLs: ``INGEST_URL`` and ``DATA_URL`` (template.yaml builds them from the stack's APIs).
* Credentials: the JSON object in the Secrets Manager secret ``CANARY_CREDENTIALS_SECRET_ARN``,
  keyed by role (``public_key``, ``api_key``, ...; docs/local-development.md). Events that need a
  role the secret does not hold are skipped, not failed.
* Events: ``events/`` next to this file (a symlink to the repository's ``events/``, whose files
  ``sam build`` copies into the package); ``CANARY_EVENTS_DIR`` overrides.
* Result: metrics ``CanaryPassed``, ``CanaryFailed`` and ``CanarySkipped`` (namespace Lucent), one
  error log line per failed check (no secret in it), and a summary as the return value.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lucent.canary import load_manifest, replay, summary
from lucent.observability import logger, metrics

_HERE = Path(__file__).resolve().parent
REQUEST_TIMEOUT_SECONDS = 10.0


def events_dir() -> Path:
    configured = os.environ.get("CANARY_EVENTS_DIR")
    if configured:
        return Path(configured)
    packaged = _HERE / "events"
    return packaged if packaged.is_dir() else _HERE.parents[1] / "events"


@lru_cache(maxsize=1)
def secrets_client() -> Any:
    import boto3

    return boto3.session.Session().client("secretsmanager")


def credentials() -> dict[str, str]:
    """The deployment's credentials by role, from the secret (read on every run: rotation)."""
    arn = os.environ.get("CANARY_CREDENTIALS_SECRET_ARN", "")
    if not arn:
        raise RuntimeError("CANARY_CREDENTIALS_SECRET_ARN is empty")
    secret = secrets_client().get_secret_value(SecretId=arn)["SecretString"]
    loaded = json.loads(secret)
    if not isinstance(loaded, dict):
        raise TypeError("the canary secret must be a JSON object of role -> value")
    return {str(k): str(v) for k, v in loaded.items() if isinstance(v, str | int)}


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    urls = {"ingest": os.environ["INGEST_URL"], "data": os.environ["DATA_URL"]}
    manifest = load_manifest(events_dir())
    results = replay(
        manifest,
        urls,
        credentials(),
        timeout=REQUEST_TIMEOUT_SECONDS,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    counts = summary(results)
    for result in results:
        if result.skipped is None and not result.passed:
            logger.error(
                "canary check failed",
                extra={
                    "event": result.spec.file,
                    "api": result.spec.api,
                    "status": result.status,
                    "problems": result.problems,
                },
            )
    metrics.add_metric(name="CanaryPassed", unit=MetricUnit.Count, value=counts["passed"])
    metrics.add_metric(name="CanaryFailed", unit=MetricUnit.Count, value=counts["failed"])
    metrics.add_metric(name="CanarySkipped", unit=MetricUnit.Count, value=counts["skipped"])
    logger.info("canary run", extra=counts)
    return {
        **counts,
        "failures": [r.spec.name for r in results if r.skipped is None and not r.passed],
    }
