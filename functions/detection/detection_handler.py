"""Detection function: S3 ObjectCreated notifications on replays/, through SQS (docs/detection.md).

Thin: Powertools' batch processing (``BatchProcessor`` for SQS with
``process_partial_response``) reports partial batch failures, each failed message retried by SQS
alone and, past maxReceiveCount, sent to the dead-letter queue;
``lucent.detection.service.DetectionService`` does the work, exactly once per batch. Records are
processed one by one, in the batch's order, so a message that needs the batch of the one before
it finds it committed.

A message fails (and is retried) when: an earlier batch of the session has not arrived yet
(``SequenceGap``, given up after a few deliveries), S3 or DynamoDB failed
(``DetectionUnavailable``), conflicts kept coming, or the invocation's time ran low
(``OutOfTime``). Time is checked before each message and between a session's batches: with less
than ``MIN_REMAINING_MS`` left, the messages not yet done are reported as failures, so SQS
retries only those instead of the whole batch after a timeout. A batch where every message
fails is still an answer (``raise_on_entire_batch_failure=False``): SQS would otherwise retry the
messages that succeeded too. The ``s3:TestEvent`` that S3 sends when the notification is
configured is acknowledged and ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

from lucent.container import per_container
from lucent.detection.service import MIN_REMAINING_MS, DetectionService
from lucent.detection.store import DetectionStore
from lucent.errors import OutOfTime, SequenceGap
from lucent.observability import logger
from lucent.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


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


class TimeBudget:
    """An invocation's time, checked before each record: once less than MIN_REMAINING_MS is
    left, that record and every later one of the batch is not started (``OutOfTime``)."""

    def __init__(self, time_left_ms: Callable[[], int], records: int) -> None:
        self.time_left_ms = time_left_ms
        self._not_started = records
        self._spent = False

    def start_record(self) -> None:
        if not self._spent and self.time_left_ms() < MIN_REMAINING_MS:
            self._spent = True
            logger.info("out of time, messages handed back", extra={"count": self._not_started})
        self._not_started -= 1
        if self._spent:
            raise OutOfTime("not started: the invocation's time ran low")


def record_handler(record: SQSRecord, budget: TimeBudget | None = None) -> None:
    if budget is not None:
        budget.start_record()
    receive_count = int(record.attributes.approximate_receive_count or 1)
    time_left_ms = budget.time_left_ms if budget is not None else None
    for key in object_keys(record.body):
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


def sqs_records(event: Any) -> list[Any]:
    """The event's records; an event without any is not an SQS batch (an invocation error)."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not records or not isinstance(records, list):
        raise ValueError("Invalid event format: not an SQS batch (no Records)")
    return records


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    budget = TimeBudget(context.get_remaining_time_in_millis, len(sqs_records(event)))
    return process_partial_response(
        event=event,
        record_handler=partial(record_handler, budget=budget),
        processor=processor,
        context=context,
    )
