"""Logger, Metrics and Tracer for every function, from one module, each created on first use.

``from lucent.observability import logger, metrics`` gives Powertools' Logger (with every line
scrubbed of credentials) and Metrics; ``tracer`` (or ``get_tracer()``) gives Powertools' Tracer
with only botocore patched. Nothing of Powertools is imported until one of them is first used.

``audit`` is the authorizer's lean path and only the authorizer's (every other function logs
and publishes through ``logger`` and ``metrics``): it runs before every ingest request, so it
writes its one line per decision itself, without Powertools: a single JSON line that is both the
structured audit log entry and the CloudWatch embedded-metric (EMF) record of the decision. It
costs a few microseconds and no import (docs/decisions/024-lean-authorizer.md).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lucent.redaction import redact_text
from lucent.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics, Tracer
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    logger: Logger
    metrics: Metrics
    tracer: Tracer
    RedactingFormatter: type[LambdaPowertoolsFormatter]

# Only botocore: every AWS call goes through it, and patching every library the X-Ray SDK knows
# traces nothing we use (docs/decisions/027-lean-xray-sdk.md).
TRACED_MODULES = ("botocore",)


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is at write time (Lambda's, or a test's capture)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def _make_formatter_class() -> type[LambdaPowertoolsFormatter]:
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class RedactingFormatter(LambdaPowertoolsFormatter):
        """Powertools' JSON formatter with every credential scrubbed from the final line."""

        def format(self, record: logging.LogRecord) -> str:
            return redact_text(super().format(record))

    return RedactingFormatter


def _make_logger() -> Logger:
    from aws_lambda_powertools import Logger

    formatter = __getattr__("RedactingFormatter")()
    return Logger(logger_formatter=formatter, stream=_CurrentStdout())  # type: ignore[arg-type]


def _make_metrics() -> Metrics:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=get_settings().metrics_namespace)


def _make_tracer() -> Tracer:
    from aws_lambda_powertools import Tracer

    return Tracer(patch_modules=list(TRACED_MODULES))


_FACTORIES: dict[str, Any] = {
    "logger": _make_logger,
    "metrics": _make_metrics,
    "tracer": _make_tracer,
    "RedactingFormatter": _make_formatter_class,
}


def __getattr__(name: str) -> Any:
    # One instance per container, made on first use and then a plain module attribute.
    factory = _FACTORIES.get(name)
    if factory is None:
        raise AttributeError(name)
    value = factory()
    globals()[name] = value
    return value


def get_tracer() -> Tracer:
    return __getattr__("tracer")  # type: ignore[no-any-return]


# --- the authorizer's audit line ------------------------------------------------------------------

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_cold_start = True


def _timestamp(now: float) -> str:
    # Powertools' format, so every function's lines sort and parse alike.
    millis = int(now * 1000) % 1000
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)) + f",{millis:03d}+0000"


def audit(
    message: str,
    *,
    metric: str,
    fields: Mapping[str, object],
    context: Any = None,
    level: str = "INFO",
    with_traceback: bool = False,
) -> None:
    """Write one line: the log entry ``message`` with ``fields`` and the EMF metric ``metric``
    (Count 1, dimension ``service``), scrubbed of credentials like every other line.

    Below the configured log level only the metric is written, so the count never goes missing.
    """
    global _cold_start  # noqa: PLW0603 - the first line of a container says so, as Powertools does
    settings = get_settings()
    now = time.time()
    line: dict[str, object] = {}
    if _LEVELS.get(level, 20) >= _LEVELS.get(settings.log_level.upper(), 20):
        line.update(
            level=level,
            message=message,
            timestamp=_timestamp(now),
            service=settings.service_name,
            cold_start=_cold_start,
            function_name=getattr(context, "function_name", None),
            function_request_id=getattr(context, "aws_request_id", None),
        )
        line.update(fields)
        if with_traceback:
            line["exception"] = traceback.format_exc()
    _cold_start = False
    line["_aws"] = {
        "Timestamp": int(now * 1000),
        "CloudWatchMetrics": [
            {
                "Namespace": settings.metrics_namespace,
                "Dimensions": [["service"]],
                "Metrics": [{"Name": metric, "Unit": "Count"}],
            }
        ],
    }
    line["service"] = settings.service_name
    line[metric] = 1
    sys.stdout.write(redact_text(json.dumps(line, separators=(",", ":"), default=str)) + "\n")
