"""Insights function: scheduled (EventBridge), derives each organization's insights from the
issues detection found (lucent.detection.insights; docs/detection.md). ``make dev`` runs it with
``lucent data insights --local``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lucent.container import per_container
from lucent.detection.insights import derive
from lucent.detection.store import InsightsStore
from lucent.observability import logger
from lucent.settings import get_settings


@per_container
def store() -> InsightsStore:
    return InsightsStore.from_settings(get_settings())


def run(now: datetime | None = None) -> dict[str, int]:
    """Derive and store every organization's insights; counts per organization."""
    moment = now or datetime.now(UTC)
    written = {}
    for org_id in store().organizations():
        insights = derive(org_id, store().issues(org_id), moment)
        removed = store().replace_derived(org_id, insights)
        logger.info(
            "insights derived",
            extra={"org_id": org_id, "insights": len(insights), "replaced": removed},
        )
        written[org_id] = len(insights)
    return written


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {"organizations": run()}
