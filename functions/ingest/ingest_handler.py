"""``/api/sdk/replay``. Thin: read the event, ``IngestService.handle``, respond.

``POST`` stores a batch; ``OPTIONS`` is the CORS preflight; any other method is 405 with
``Allow: OPTIONS, POST`` (template.yaml routes them here without an authorizer, as it does the
preflight, so that the answer is the same with or without a key). Every response carries the
ingest CORS headers, errors and unexpected exceptions included. Nothing from the body, the
``api_key`` query parameter, key-carrying headers or the full URL is logged.

The browser's path stays lean: plain validation instead of pydantic
(docs/decisions/025-lean-ingest-validation.md), ``lucent.http`` instead of Powertools' event
handler (026-lean-no-event-handler.md), and no X-Ray SDK: Lambda's own segment
(``Tracing: Active``) plus the service's ``RateLimiterLatency`` and ``StorageLatency`` metrics
(027-lean-xray-sdk.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from lucent.container import per_container
from lucent.contract import INGEST_ALLOWED_METHODS, INGEST_CORS_HEADERS
from lucent.errors import LucentError, MethodNotAllowed
from lucent.http import Reply, preflight_reply
from lucent.ingest.service import IngestRequest, IngestService
from lucent.observability import logger, metrics
from lucent.settings import get_settings


class PowertoolsTelemetry:
    def metric(self, name: str, value: float, unit: str) -> None:
        metrics.add_metric(name=name, unit=unit, value=value)

    def rejected(self, reason: str) -> None:
        metrics.add_metric(name="Rejected", unit="Count", value=1)
        with single_metric(
            name="RejectedByReason",
            unit=MetricUnit.Count,
            value=1,
            namespace=get_settings().metrics_namespace,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="reason", value=reason)

    def warning(self, message: str, fields: Mapping[str, Any]) -> None:
        logger.warning(message, extra=dict(fields))


@per_container
def service() -> IngestService:
    """One per container: clients and the rate limiter's cache survive between invocations."""
    return IngestService.from_settings(get_settings(), telemetry=PowertoolsTelemetry())


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # OPTIONS and the ANY route are reached without a credential: no body read, no AWS call.
    method = str(event.get("httpMethod", "")).upper()
    if method == "OPTIONS":
        metrics.add_metric(name="Preflight", unit=MetricUnit.Count, value=1)
        return preflight_reply().to_proxy()
    if method != "POST":
        logger.info("method not allowed", extra={"method": method[:16], "status": 405})
        metrics.add_metric(name="MethodNotAllowed", unit=MetricUnit.Count, value=1)
        refused = MethodNotAllowed(list(INGEST_ALLOWED_METHODS))
        return Reply.error(refused, INGEST_CORS_HEADERS).to_proxy()
    who: dict[str, str | None] = {"credential_id": None, "org_id": None}
    try:
        request = IngestRequest.from_event(event)
        if request.principal is not None:
            who = {
                "credential_id": request.principal.credential_id,
                "org_id": request.principal.org_id,
            }
        result = service().handle(request)
    except LucentError as exc:
        logger.info(
            "batch refused",
            extra={**who, "status": exc.status, "reason": getattr(exc, "reason", exc.message)},
        )
        return Reply.error(exc, INGEST_CORS_HEADERS).to_proxy()
    except Exception:
        logger.exception("ingest failed", extra=who)
        metrics.add_metric(name="InternalError", unit=MetricUnit.Count, value=1)
        return Reply.internal_error(INGEST_CORS_HEADERS).to_proxy()
    logger.info(
        "batch stored",
        extra={
            **who,
            "session_id": result.session_id,
            "sequence": result.sequence,
            "events": result.events_stored,
            "bytes": result.bytes_stored,
            "client_gzip": result.client_gzip,
            "retried": result.retried,
            "rate_count": result.rate.count if result.rate else None,
        },
    )
    return Reply.json(200, result.body(), INGEST_CORS_HEADERS).to_proxy()
