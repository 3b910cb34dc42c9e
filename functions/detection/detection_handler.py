"""Detection function: S3 ObjectCreated notifications on replays/, through SQS (docs/detection.md).

Thin: ``partial_batch_response`` reports partial batch failures (each failed message is
retried by SQS alone, and past maxReceiveCount goes to the dead-letter queue);
``lucent.detection.service.DetectionService`` does the work, exactly once per batch.

The batch loop is ours, a dozen lines giving what Powertools' ``BatchProcessor`` (SQS,
``raise_on_entire_batch_failure=False``) with ``process_partial_response`` gave: importing that
utility cost ~25 ms of every cold start (it loads ``asyncio`` and every event data class), about a
sixth of what the function adds to ``import boto3`` (docs/performance.md, section 3).

A message fails (and is retried) when: an earlier batch of the session has not arrived yet
(``SequenceGap``, given up after a few deliveries), S3 or DynamoDB failed
(``DetectionUnavailable``), conflicts kept coming, or the invocation's time ran low
(``OutOfTime``). Time is checked before each message and between a session's batches: with less
than ``MIN_REMAINING_MS`` left, the messages not yet done are reported as failures, so SQS
retries only those instead of the whole batch after a timeout. The ``s3:TestEvent`` that S3
sends when the notification is configured is acknowledged and ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from lucent.container import per_container
from lucent.detection.service import MIN_REMAINING_MS, DetectionService
from lucent.detection.store import DetectionStore
from lucent.errors import OutOfTime, SequenceGap
from lucent.observability import logger
from lucent.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@per_container
def service() -> DetectionService:
    return DetectionService(DetectionStore.from_settings(get_settings()))


def object_keys(body: str) -> list[str]:
    """The replay object keys an S3 notification names (none for ``s3:TestEvent``)."""
    message = json.loads(body)
    if not isinstance(message, dict) or message.get("Event") == "s3:TestEvent":
        return []
    keys = []
    for record in message.get("Records") or ():
        if str(record.get("eventName", "")).startswith("ObjectCreated"):
            # S3 URL-encodes keys in notifications (a space arrives as '+').
            keys.append(unquote_plus(record["s3"]["object"]["key"]))
    return keys


def record_handler(
    record: Mapping[str, Any], time_left_ms: Callable[[], int] | None = None
) -> None:
    receive_count = int(record["attributes"]["ApproximateReceiveCount"] or 1)
    for key in object_keys(record["body"]):
        try:
            outcome = service().handle_object(key, receive_count, time_left_ms)
        except SequenceGap as exc:
            logger.info("batch waits for an earlier one", extra={"key": key, "reason": str(exc)})
            raise
        except OutOfTime as exc:
            logger.info("out of time, retried", extra={"key": key, "reason": str(exc)})
            raise
        if outcome is None:
            logger.warning("not a replay object key", extra={"key": key})
            continue
        # Ids and counts only: never events, texts or user ids.
        logger.info(
            "detection",
            extra={
                "org_id": outcome.org_id,
                "session_id": outcome.session_id,
                "sequence": outcome.sequence,
                "processed": outcome.processed,
                "skipped": outcome.skipped,
                "duplicate": outcome.duplicate,
                "signals": outcome.signals,
                "dropped_signals": outcome.dropped_signals,
                "dropped_entries": outcome.dropped_entries,
                "dropped": dict(outcome.dropped),  # clicks, events, mirror_nodes, ...
                "poisoned": outcome.poisoned,
                "conflicts": outcome.conflicts,
            },
        )


def partial_batch_response(
    event: Mapping[str, Any],
    handle: Callable[[Mapping[str, Any]], None],
    time_left_ms: Callable[[], int] | None = None,
) -> dict[str, list[dict[str, str]]]:
    """``handle`` each SQS record in order; every record it raised on is reported for SQS to
    retry, and so is every record not started because less than MIN_REMAINING_MS was left. A
    batch where all fail is still an answer, not an invocation error: SQS would otherwise retry
    the messages that succeeded too. An event without records is not an SQS batch."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not records or not isinstance(records, list):
        raise ValueError("Invalid event format: not an SQS batch (no Records)")
    failed: list[dict[str, str]] = []
    for position, record in enumerate(records):
        if time_left_ms is not None and time_left_ms() < MIN_REMAINING_MS:
            failed += [{"itemIdentifier": r["messageId"]} for r in records[position:]]
            logger.info(
                "out of time, messages handed back", extra={"count": len(records) - position}
            )
            break
        try:
            handle(record)
        except Exception:  # any failure is the message's: SQS retries it
            failed.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failed}


@logger.inject_lambda_context
def lambda_handler(
    event: dict[str, Any], context: LambdaContext
) -> dict[str, list[dict[str, str]]]:
    time_left = context.get_remaining_time_in_millis
    return partial_batch_response(
        event, lambda record: record_handler(record, time_left), time_left
    )
