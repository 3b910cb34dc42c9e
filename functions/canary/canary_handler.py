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

from pathlib import Path
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lucent.aws import secretsmanager_client
from lucent.canary.engine import load_manifest, replay, summary
from lucent.canary.store import CanarySecretStore
from lucent.observability import logger, metrics
from lucent.settings import get_settings

_HERE = Path(__file__).resolve().parent
REQUEST_TIMEOUT_SECONDS = 10.0


def events_dir() -> Path:
    configured = get_settings().canary_events_dir
    if configured:
        return Path(configured)
    packaged = _HERE / "events"
    return packaged if packaged.is_dir() else _HERE.parents[1] / "events"


def credentials() -> dict[str, str]:
    """The deployment's credentials by role, from the secret (read on every run: rotation)."""
    settings = get_settings()
    arn = settings.require("canary_credentials_secret_arn")
    return CanarySecretStore(secretsmanager_client(settings), arn).credentials()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    urls = {"ingest": settings.require("ingest_url"), "data": settings.require("data_url")}
    if settings.mcp_url:
        urls["mcp"] = settings.mcp_url
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
