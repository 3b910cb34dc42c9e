"""Detection's pipeline in ``make dev``: what AWS does between the bucket and DetectionFunction.

All of it comes from template.yaml (lucent_dev.template), nothing is restated:

* every ``AWS::SQS::Queue`` is created in the embedded AWS (moto) with its attributes and its
  redrive policy (dead-letter queue, ``maxReceiveCount``);
* the bucket's ``NotificationConfiguration`` is set on moto's bucket, so moto's S3 sends
  ``ObjectCreated`` notifications for ``replays/`` to moto's SQS (and first an
  ``s3:TestEvent``, as S3 does), exactly as in AWS;
* each SQS event source of a function gets a poller that does what Lambda's event source mapping
  does: receive up to ``BatchSize`` messages, invoke the function with an SQS event of Lambda's
  shape, delete the messages that succeeded, and leave the ``batchItemFailures`` (or, without
  ``ReportBatchItemFailures``, the whole batch when the function fails) to come back after the
  queue's visibility timeout, and to moto's redrive to the dead-letter queue.

Nothing bypasses the queue: the ingest function's PutObject is the only way in.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from lucent_dev import template as tpl
from lucent_dev.gateway import LocalContext

REGION = "us-east-1"
# Longest a poller waits on an empty queue before looking again (SQS long polling).
RECEIVE_WAIT_SECONDS = 1


@dataclass
class PollerStats:
    invocations: int = 0
    messages: int = 0
    failures: int = 0  # messages left on the queue for a retry
    errors: int = 0  # invocations that raised
    last_error: str = ""


@dataclass
class _Poller:
    source: tpl.SqsEventSource
    queue_url: str
    queue_arn: str
    invoke: Any
    stats: PollerStats = field(default_factory=PollerStats)
    thread: threading.Thread | None = None


class DetectionPipeline:
    """Queues, bucket notifications and event source mappings of template.yaml, on moto."""

    def __init__(
        self,
        aws: Any,
        names: Mapping[str, str],
        env: Mapping[str, str],
        *,
        errors: TextIO | None = None,
        quiet: bool = True,
    ) -> None:
        self._aws = aws
        self._names = dict(names)
        self._env = dict(env)
        self._errors = errors
        self._quiet = quiet
        self._stop = threading.Event()
        self.queue_urls: dict[str, str] = {}
        self.pollers: list[_Poller] = []

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> DetectionPipeline:
        sqs = self._aws.client("sqs")
        self._create_queues(sqs)
        self._configure_notifications(self._aws.client("s3"), sqs)
        self._start_pollers()
        return self

    def stop(self) -> None:
        self._stop.set()
        for poller in self.pollers:
            if poller.thread is not None:
                poller.thread.join(timeout=RECEIVE_WAIT_SECONDS + 10)

    def _create_queues(self, sqs: Any) -> None:
        specs = tpl.queues()
        # Dead-letter queues first: the others name them in their redrive policy.
        ordered = sorted(specs.values(), key=lambda q: q.dead_letter_queue is not None)
        for spec in ordered:
            attributes = dict(spec.attributes)
            if spec.dead_letter_queue is not None:
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": self.queue_arn(sqs, spec.dead_letter_queue),
                        "maxReceiveCount": str(spec.max_receive_count or 1),
                    }
                )
            name = tpl.physical_name(spec.logical_id)
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            self.queue_urls[spec.logical_id] = url
            self._names[spec.logical_id] = name

    def queue_arn(self, sqs: Any, logical_id: str) -> str:
        attributes = sqs.get_queue_attributes(
            QueueUrl=self.queue_urls[logical_id], AttributeNames=["QueueArn"]
        )
        return str(attributes["Attributes"]["QueueArn"])

    def _configure_notifications(self, s3: Any, sqs: Any) -> None:
        by_bucket: dict[str, list[dict[str, Any]]] = {}
        for note in tpl.queue_notifications():
            config: dict[str, Any] = {
                "QueueArn": self.queue_arn(sqs, note.queue),
                "Events": list(note.events),
            }
            if note.prefix:
                config["Filter"] = {
                    "Key": {"FilterRules": [{"Name": "prefix", "Value": note.prefix}]}
                }
            by_bucket.setdefault(note.bucket, []).append(config)
        for bucket, configs in by_bucket.items():
            s3.put_bucket_notification_configuration(
                Bucket=self._names[bucket],
                NotificationConfiguration={"QueueConfigurations": configs},
            )

    def _start_pollers(self) -> None:
        from lucent_dev.containers import Container  # the same container the APIs' functions use

        specs = tpl.functions()
        sqs = self._aws.client("sqs")
        for source in tpl.sqs_event_sources():
            handler = tpl.load_handler(specs[source.function], fresh=True)
            container = Container(
                source.function, handler, self._env, self._errors, quiet=self._quiet
            )
            poller = _Poller(
                source,
                self.queue_urls[source.queue],
                self.queue_arn(sqs, source.queue),
                container,
            )
            poller.thread = threading.Thread(
                target=self._poll,
                args=(poller,),
                name=f"lucent-esm-{source.function}",
                daemon=True,
            )
            self.pollers.append(poller)
            poller.thread.start()

    # --- the event source mapping ---------------------------------------------------------------

    def _poll(self, poller: _Poller) -> None:
        sqs = self._aws.client("sqs")
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=poller.queue_url,
                    MaxNumberOfMessages=min(poller.source.batch_size, 10),
                    WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception:
                if self._stop.wait(0.2):
                    return
                continue
            if messages:
                self._deliver(sqs, poller, messages)

    def _deliver(self, sqs: Any, poller: _Poller, messages: list[dict[str, Any]]) -> None:
        source = poller.source
        event = {"Records": [self._record(poller, m) for m in messages]}
        poller.stats.invocations += 1
        poller.stats.messages += len(messages)
        try:
            result = poller.invoke(event, LocalContext(source.function))
        except Exception:
            poller.stats.errors += 1
            poller.stats.failures += len(messages)
            poller.stats.last_error = traceback.format_exc(limit=3)
            return
        failed: set[str] = set()
        if source.report_batch_item_failures and isinstance(result, dict):
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures") or []}
        poller.stats.failures += len(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                for n, m in enumerate(done[start : start + 10])
            ]
            with contextlib.suppress(Exception):  # a message deleted twice is no harm
                sqs.delete_message_batch(QueueUrl=poller.queue_url, Entries=entries)

    def _record(self, poller: _Poller, message: dict[str, Any]) -> dict[str, Any]:
        attributes = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
                "SenderId": attributes.get("SenderId", "local"),
                "ApproximateFirstReceiveTimestamp": attributes.get(
                    "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
                ),
            },
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": poller.queue_arn,
            "awsRegion": REGION,
        }
