"""The detection function's SQS contract: S3 notifications in, partial batch failures out; and
the insights function over what detection stored (moto, in-process)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from lucent.detection.insights import IssueRow, derive
from lucent.detection.service import replay_key
from lucent.errors import OutOfTime
from lucent.issues.models import PageParams
from tests.conftest import load_function
from tests.unit.test_detection import T0, click, element, load_events, meta, move, page
from tests.unit.test_detection_store import ORG, Rig

BUCKET_ARN = "arn:aws:s3:::lucent-local-replay-bucket"


def notification(key: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"arn": BUCKET_ARN},
                    "object": {"key": key.replace("/", "%2F", 0)},
                },
            }
        ]
    }


def sqs_event(bodies: list[Any], receive_count: int = 1) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{n}",
                "receiptHandle": f"r{n}",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": str(receive_count)},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
            }
            for n, body in enumerate(bodies)
        ]
    }


class Context:
    function_name = "DetectionFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:DetectionFunction"
    aws_request_id = "req-1"

    def __init__(self, remaining_ms: list[int] | None = None) -> None:
        # What get_remaining_time_in_millis answers, call after call (the last one stays).
        self.remaining_ms = list(remaining_ms or [20_000])

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms.pop(0) if len(self.remaining_ms) > 1 else self.remaining_ms[0]


def test_partial_failures_name_only_the_waiting_batch(
    aws: dict[str, str], dynamodb: Any, s3: Any, capsys: Any
) -> None:
    rig = Rig(dynamodb, s3)
    handler = load_function("DetectionFunction")
    start = [meta(0), page(element(10, "button", "Buy", id="buy"))]
    early = rig.upload("f1", 0, [*start, click(1000, 10)])
    late = rig.upload("f2", 1, [move(9000)])  # f2's batch 0 never came (yet)
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}
    result = handler(sqs_event([test_event, notification(early), notification(late)]), Context())
    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    rig.upload("f1", 1, [move(9000)])
    result = handler(sqs_event([notification(replay_key(ORG, "f1", 1))]), Context())
    assert result == {"batchItemFailures": []}
    assert {k[0]: i.occurrences for k, i in rig.issues().items()} == {"dead_click": 1}
    logs = capsys.readouterr().out
    assert '"message":"detection"' in logs
    assert "Buy" not in logs  # ids and counts only


def test_a_batch_where_every_message_fails_names_them_all_and_is_no_invocation_error(
    aws: dict[str, str], dynamodb: Any, s3: Any
) -> None:
    rig = Rig(dynamodb, s3)
    handler = load_function("DetectionFunction")
    waiting = [rig.upload(f"w{n}", 1, [move(9000)]) for n in range(2)]  # no batch 0 for either
    broken = sqs_event([notification(waiting[0]), notification(waiting[1])])
    broken["Records"].append({**broken["Records"][0], "messageId": "m2", "body": "not json"})
    result = handler(broken, Context())
    assert result == {
        "batchItemFailures": [
            {"itemIdentifier": "m0"},
            {"itemIdentifier": "m1"},
            {"itemIdentifier": "m2"},
        ]
    }


@pytest.mark.parametrize("event", [{}, {"Records": []}, {"Records": {"m0": {}}}, {"records": [{}]}])
def test_an_event_that_is_no_sqs_batch_is_an_invocation_error(
    aws: dict[str, str], event: dict[str, Any]
) -> None:
    handler = load_function("DetectionFunction")
    with pytest.raises(ValueError, match="not an SQS batch"):
        handler(event, Context())


def test_insights_are_derived_per_page_and_for_new_issues(
    aws: dict[str, str], dynamodb: Any, s3: Any
) -> None:
    rig = Rig(dynamodb, s3)
    rig.deliver([rig.upload("i1", 0, load_events("shop"))])
    rig.deliver([rig.upload("i2", 0, load_events("network"))])
    load_function("InsightsFunction")
    module = sys.modules["lucent_fn_InsightsFunction"]
    # A day after the network session (T0): its 3 issues are new, the shop's (recorded later) too.
    assert module.run(now=datetime.fromtimestamp(T0 / 1000 + 3600, UTC)) == {ORG: 3}
    insights = {i.title: i for i in rig.data.list_insights(rig.reader, PageParams()).items}
    issues = {i.id: i for i in rig.issues().values()}
    assert set(insights) == {
        "4 open issues on /page/detection.html",
        "3 open issues on /cart",
        "7 new issues in the last 24 hours",
    }
    cart = insights["3 open issues on /cart"]
    assert {issues[i].url for i in cart.related_issue_ids} == {"https://shop.example/cart"}
    assert cart.summary.startswith("3 open issues on /cart affected 3 sessions")
    assert set(insights["7 new issues in the last 24 hours"].related_issue_ids) == set(issues)
    # Run again an hour later: the derived set is replaced, never piled up.
    module.run(now=datetime.fromtimestamp(T0 / 1000 + 7200, UTC))
    assert len(rig.data.list_insights(rig.reader, PageParams()).items) == 3


def row(issue_id: str, hours: dict[str, int], first_seen: str = "2026-11-01T00:00:00Z") -> IssueRow:
    return IssueRow(
        issue_id, f"Issue {issue_id}", "js_error", "open", "https://x/a", 1, 1, first_seen, hours
    )


def test_a_spike_is_three_times_the_daily_average_of_the_week_before() -> None:
    now = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)
    week = {f"h202611{d:02d}10": 7 for d in range(23, 29)}  # 42 over the 7 days before: 6 a day
    spiking = row("iss_A", {**week, "h2026113009": 18})  # 18 >= 3 x 6
    steady = row("iss_B", {**week, "h2026113009": 17})
    quiet = row("iss_C", {"h2026113009": 4})  # under the minimum of 5
    titles = {i.title: i.related_issue_ids for i in derive("org", [spiking, steady, quiet], now)}
    assert titles["1 issue spiking in the last 24 hours"] == ["iss_A"]


def test_records_left_when_time_runs_low_are_reported_unprocessed(
    aws: dict[str, str], dynamodb: Any, s3: Any
) -> None:
    """Issue 17, finding 1: before time runs out, the rest of the batch is handed back to SQS
    (only those messages) instead of the invocation timing out and the whole batch coming back."""
    rig = Rig(dynamodb, s3)
    handler = load_function("DetectionFunction")
    start = [meta(0), page(element(10, "button", "Buy", id="buy"))]
    keys = [rig.upload(f"t{n}", 0, [*start, click(1000, 10), move(9000)]) for n in range(3)]
    plenty, low = 19_000, 1_000
    context = Context([plenty, plenty, low])
    result = handler(sqs_event([notification(k) for k in keys]), context)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert {k[0]: i.occurrences for k, i in rig.issues().items()} == {"dead_click": 1}
    # The handed-back messages, delivered again, count once each.
    result = handler(sqs_event([notification(k) for k in keys], receive_count=2), Context())
    assert result == {"batchItemFailures": []}
    assert {k[0]: i.occurrences for k, i in rig.issues().items()} == {"dead_click": 3}


def test_a_session_with_many_stored_batches_stops_between_batches_when_time_runs_low(
    aws: dict[str, str], dynamodb: Any, s3: Any
) -> None:
    rig = Rig(dynamodb, s3)
    start = [meta(0), page(element(10, "button", "Buy", id="buy"))]
    keys = [rig.upload("many", 0, start)]
    keys += [rig.upload("many", n, [click(n * 10_000, 10)]) for n in range(1, 6)]
    left = [19_000, 19_000, 19_000, 1_000]
    with pytest.raises(OutOfTime):
        rig.service.handle_object(
            keys[0], time_left_ms=lambda: left.pop(0) if len(left) > 1 else 1_000
        )
    state = rig.store.load_session(ORG, "many")
    assert state is not None
    assert state.next_seq == 3
    outcome = rig.service.handle_object(keys[0], time_left_ms=lambda: 19_000)
    assert outcome is not None
    assert outcome.processed == [3, 4, 5]
    assert {k[0]: i.occurrences for k, i in rig.issues().items()} == {"dead_click": 4}


def test_messages_not_started_for_lack_of_time_are_logged_once_with_their_count(
    aws: dict[str, str], dynamodb: Any, s3: Any, capsys: Any
) -> None:
    rig = Rig(dynamodb, s3)
    handler = load_function("DetectionFunction")
    keys = [rig.upload(f"c{n}", 0, [meta(0), move(9000)]) for n in range(3)]
    result = handler(sqs_event([notification(k) for k in keys]), Context([1_000]))
    assert result == {
        "batchItemFailures": [
            {"itemIdentifier": "m0"},
            {"itemIdentifier": "m1"},
            {"itemIdentifier": "m2"},
        ]
    }
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    handed_back = [line for line in lines if line["message"] == "out of time, messages handed back"]
    assert [line["count"] for line in handed_back] == [3]
    assert rig.store.load_session(ORG, "c0") is None  # not started
