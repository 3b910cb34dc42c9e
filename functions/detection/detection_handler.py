"""Detection function: S3 ObjectCreated notifications on replays/, through SQS (docs/detection.md).

Thin: Powertools' batch utility reports partial batch failures (each failed message is
retried by SQS alone, and past maxReceiveCount goes to the dead-letter queue);
``lucent.detection.service.DetectionService`` does the work, exactly once per batch.

A message fails (and is retried) when: an earlier batch of the session has not arrived yet
(``SequenceGap``, given up after a few deliveries), S3 or DynamoDB failed
(``DetectionUnavailable``), or conflicts kept coming. The ``s3:TestEvent`` that S3 sends when
the notification is configured is acknowledged and ignored.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from lucent.aws import dynamodb_client, s3_client
from lucent.container import per_container
from lucent.detection.service import DetectionService
from lucent.detection.store import DetectionStore
from lucent.errors import SequenceGap
from lucent.observability import logger
from lucent.settings import get_settings

# Every failed message is reported; a batch where all fail is not an invocation error (SQS
# would then retry the messages that succeeded too).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@per_container
def service() -> DetectionService:
    settings = get_settings()
    store = DetectionStore(
        dynamodb_client(settings),
        settings.require("data_table"),
        s3_client(settings),
        settings.require("replay_bucket"),
    )
    return DetectionService(store)


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


def record_handler(record: SQSRecord) -> None:
    receive_count = int(record.attributes.approximate_receive_count or 1)
    for key in object_keys(record.body):
        try:
            outcome = service().handle_object(key, receive_count)
        except SequenceGap as exc:
            logger.info("batch waits for an earlier one", extra={"key": key, "reason": str(exc)})
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
                "conflicts": outcome.conflicts,
            },
        )


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
