"""Logger, Metrics and Tracer for every function, from one module.

The tracer is created lazily: the X-Ray SDK costs about 200 ms of cold start (measured in
bench/), and the authorizer, which runs before every ingest request, never traces.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from lucent.redaction import redact_text

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

METRICS_NAMESPACE = "Lucent"


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with every credential scrubbed from the final line."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is at write time (Lambda's, or a test's capture)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


logger = Logger(logger_formatter=RedactingFormatter(), stream=_CurrentStdout())  # type: ignore[arg-type]
metrics = Metrics(namespace=METRICS_NAMESPACE)

_tracer: Tracer | None = None


def get_tracer() -> Tracer:
    global _tracer  # noqa: PLW0603 - one tracer per container, created on first use
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        _tracer = Tracer()
    return _tracer


def __getattr__(name: str) -> Any:
    # ``from lucent.observability import tracer`` works, and only then pays the X-Ray import.
    if name == "tracer":
        return get_tracer()
    raise AttributeError(name)
