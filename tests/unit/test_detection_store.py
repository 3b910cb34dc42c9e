"""Exactly-once issue counts over S3 + DynamoDB (moto, in-process): duplicates, re-sends, out of
order, straddling windows, regressions, users, and what the Data API then serves."""

from __future__ import annotations

import gzip
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from lucent import datatable
from lucent.auth.credentials import CredentialKind, Principal
from lucent.contract import READ_SCOPE
from lucent.detection import service as detection_service
from lucent.detection.service import DetectionService, replay_key
from lucent.detection.store import (
    DetectionStore,
    SessionRecord,
    decode_batch_object,
    fit_state,
)
from lucent.errors import PoisonBatch, SequenceGap
from lucent.ingest import batch as ingest_batch
from lucent.issues.models import IssueListParams, IssueStatus, SignalListParams, TimelineParams
from lucent.issues.service import DataService
from lucent.issues.store import DataStore
from lucent_dev import template as tpl
from tests.conftest import REGION
from tests.unit.test_detection import (
    GOLDEN,
    T0,
    click,
    console_error,
    element,
    load_events,
    meta,
    move,
    page,
)

ORG = "org_detect"
TABLE = tpl.physical_name("DataTable")
BUCKET = tpl.physical_name("ReplayBucket")


class Rig:
    """S3 + the data table, the detection service, and the Data API reading the result."""

    def __init__(self, dynamodb: Any, s3: Any, org: str = ORG) -> None:
        self.org = org
        self.dynamodb = dynamodb
        self.s3 = s3
        self.store = DetectionStore(dynamodb, TABLE, s3, BUCKET)
        self.service = DetectionService(self.store, clock=lambda: T0 + 86_400_000)
        self.data = DataService(DataStore(dynamodb, TABLE))
        self.reader = Principal(
            org_id=org,
            credential_id="cred_reader",
            kind=CredentialKind.API,
            scopes=frozenset({READ_SCOPE}),
            rate_limit_per_minute=100,
        )

    def upload(self, session: str, sequence: int, events: list[Any], **extra: Any) -> str:
        key = replay_key(self.org, session, sequence)
        body = json.dumps({"session_id": session, "sequence": sequence, "events": events, **extra})
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(body.encode()))
        return key

    def deliver(self, keys: list[str]) -> None:
        """Deliver notifications in this order; a batch that waits is retried after the rest,
        as SQS would after its visibility timeout."""
        waiting: list[str] = []
        for key in keys:
            try:
                self.service.handle_object(key)
            except SequenceGap:
                waiting.append(key)
        for key in waiting:
            self.service.handle_object(key, receive_count=2)

    def issues(self) -> dict[tuple[str, str | None], Any]:
        page = self.data.list_issues(self.reader, IssueListParams(limit=100))
        return {(i.kind.value, i.selector or i.title): i for i in page.items}

    def counts(self) -> dict[tuple[str, str | None], tuple[int, int, int, str, str]]:
        return {
            k: (
                i.occurrences,
                i.sessions_affected,
                i.users_affected,
                str(i.first_seen),
                str(i.last_seen),
            )
            for k, i in self.issues().items()
        }

    def signals(self) -> list[Any]:
        return self.data.list_signals(self.reader, SignalListParams(limit=100)).items


@pytest.fixture
def rig(aws: dict[str, str], dynamodb: Any, s3: Any) -> Rig:
    return Rig(dynamodb, s3)


def table_text(dynamodb: Any) -> str:
    """Every item of the data table as text, binary attributes (the gzip state) inflated."""

    def inflate(value: Any) -> Any:
        return gzip.decompress(value).decode() if isinstance(value, bytes) else str(value)

    items = dynamodb.scan(TableName=TABLE)["Items"]
    assert items
    return json.dumps(items, default=inflate)


def split(events: list[Any], cuts: list[int]) -> list[list[Any]]:
    bounds = [0, *sorted(set(cuts)), len(events)]
    return [events[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def expected_shop(sessions: int = 1, users: int = 1) -> dict[str, tuple[int, int, int]]:
    return {
        "dead_click": (sessions, sessions, users),
        "rage_click": (sessions, sessions, users),
        "js_error": (sessions, sessions, users),
        "error_click": (sessions, sessions, users),
    }


def by_kind(rig: Rig) -> dict[str, tuple[int, int, int]]:
    return {
        k[0]: (i.occurrences, i.sessions_affected, i.users_affected)
        for k, i in rig.issues().items()
    }


def test_the_shop_session_becomes_its_four_issues_with_signals(rig: Rig) -> None:
    events = load_events("shop")
    keys = [rig.upload("s-shop", n, part) for n, part in enumerate(split(events, [20, 40]))]
    rig.deliver(keys)
    issues = rig.issues()
    assert by_kind(rig) == expected_shop()
    dead = issues[("dead_click", "main#shop > form > button.btn.primary:nth-of-type(1)")]
    assert dead.title == "Dead clicks on main#shop > form > button.btn.primary:nth-of-type(1)"
    assert dead.severity.value == "low"
    assert dead.status is IssueStatus.OPEN
    assert dead.url.endswith("/page/detection.html")
    js = issues[("js_error", "TypeError: Cannot read properties of undefined (reading 'items')")]
    assert js.selector is None
    signals = rig.signals()
    assert sorted(s.kind.value for s in signals) == [
        "dead_click",
        "error_click",
        "js_error",
        "rage_click",
    ]
    rage = next(s for s in signals if s.kind.value == "rage_click")
    assert (rage.session_id, rage.text, rage.replay_timestamp_ms) == ("s-shop", "Blue mug", 4660)
    assert rage.issue_id == issues[("rage_click", rage.selector)].id
    assert rage.occurred_at == datetime.fromtimestamp((events[0]["timestamp"] + 4660) // 1000, UTC)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_split_shuffle_and_duplication_gives_the_same_issues(data: Any) -> None:
    """The property of the issue: batches cut anywhere, delivered in any order, any number of
    times, give the issues of one in-order pass."""
    name = data.draw(st.sampled_from(GOLDEN))
    events = load_events(name)
    cuts = data.draw(st.lists(st.integers(1, len(events) - 1), max_size=6))
    parts = split(events, cuts)
    order = data.draw(st.permutations(list(range(len(parts)))))
    dupes = data.draw(st.lists(st.integers(0, len(parts) - 1), max_size=4))
    with mock_aws():
        import boto3

        dynamodb = boto3.client("dynamodb", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        tpl.create_storage(dynamodb, s3)
        reference = Rig(dynamodb, s3)
        reference.deliver([reference.upload("whole", 0, events)])
        rig = Rig(dynamodb, s3)
        # Arrival order: each object is stored just before its first notification.
        keys = []
        for n in order:
            keys.append(rig.upload("split", n, parts[n]))
        keys += [replay_key(ORG, "split", d) for d in dupes]
        rig.deliver(keys)
        # Two sessions of the same events: each issue counts both, once each, and the split
        # session's signals are exactly the whole one's.
        signals = rig.signals()
        for issue in rig.issues().values():
            whole = sum(1 for s in signals if s.issue_id == issue.id and s.session_id == "whole")
            assert whole > 0
            assert (issue.occurrences, issue.sessions_affected) == (2 * whole, 2), issue.title
        assert sorted(_signal_view(rig, "split")) == sorted(_signal_view(rig, "whole"))


def _signal_view(rig: Rig, session: str) -> list[tuple[Any, ...]]:
    return [
        (s.kind.value, s.selector, s.text, s.replay_timestamp_ms, s.detail, s.issue_id)
        for s in rig.signals()
        if s.session_id == session
    ]


def test_resent_batches_and_duplicate_notifications_count_once(rig: Rig) -> None:
    events = load_events("shop")
    parts = split(events, [10, 30, 50])
    keys = [rig.upload("s1", n, p) for n, p in enumerate(parts)]
    rig.deliver(keys + keys)
    # The SDK sends batch 1 again: same sequence, same key, a new notification.
    rig.deliver([rig.upload("s1", 1, parts[1])])
    assert by_kind(rig) == expected_shop()
    assert len(rig.signals()) == 4


def test_a_dead_click_window_straddling_two_batches_and_arriving_reversed(rig: Rig) -> None:
    start = [meta(0), page(element(10, "button", "Buy", id="buy"))]
    second = rig.upload("s2", 1, [move(9000)])  # closes the window of the click in batch 0
    with pytest.raises(SequenceGap):
        rig.service.handle_object(second)
    assert rig.issues() == {}
    rig.deliver([rig.upload("s2", 0, [*start, click(1000, 10)])])
    assert by_kind(rig) == {"dead_click": (1, 1, 1)}
    rig.deliver([second])  # the retried notification: a duplicate now
    assert by_kind(rig) == {"dead_click": (1, 1, 1)}


def test_a_rage_burst_straddling_batches_is_one_signal(rig: Rig) -> None:
    start = [meta(0), page(element(20, "div", "Photo"))]
    keys = [
        rig.upload("s3", 0, [*start, click(1000, 20)]),
        rig.upload("s3", 1, [click(1500, 20)]),
        rig.upload("s3", 2, [click(2000, 20), click(2400, 20)]),
    ]
    rig.deliver(list(reversed(keys)))
    assert by_kind(rig) == {"rage_click": (1, 1, 1)}


def test_users_are_counted_once_and_anonymous_sessions_each_count(rig: Rig) -> None:
    start = [meta(0), page(element(10, "button", "Buy", id="buy"))]
    dead = [*start, click(1000, 10), move(9000)]
    rig.deliver([rig.upload("u1", 0, dead, metadata={"user_id": "alice@example.com"})])
    rig.deliver([rig.upload("u2", 0, dead, metadata={"user_id": "alice@example.com"})])
    rig.deliver([rig.upload("u3", 0, dead, metadata={"user_id": 42})])
    rig.deliver([rig.upload("u4", 0, dead)])
    rig.deliver([rig.upload("u5", 0, dead, metadata={"user_id": ""})])
    assert by_kind(rig) == {"dead_click": (5, 5, 4)}
    assert "alice" not in table_text(rig.dynamodb)  # users are kept as salted hashes


def test_severity_rises_with_sessions_affected(rig: Rig) -> None:
    start = [meta(0), page(element(10, "button", "Buy", id="buy"))]
    for n in range(10):
        rig.deliver([rig.upload(f"sev{n}", 0, [*start, click(1000 + n, 10), move(9000)])])
        expected = "low" if n < 9 else "medium"
        issue = next(iter(rig.issues().values()))
        assert issue.severity.value == expected, n


def _resolve(rig: Rig, issue_id: str, status: IssueStatus, at: datetime) -> None:
    DataStore(rig.dynamodb, TABLE).update_issue_status(ORG, issue_id, status, "cred_person", at)


def test_regression_reopens_a_resolved_issue_and_ignored_ones_keep_counting(rig: Rig) -> None:
    start = [
        meta(0),
        page(element(10, "button", "Buy", id="buy"), element(11, "a", "Help", id="help")),
    ]
    rig.deliver([rig.upload("r1", 0, [*start, click(1000, 10), click(5000, 11), move(9000)])])
    issues = rig.issues()
    buy, help_ = issues[("dead_click", "button#buy")], issues[("dead_click", "a#help")]
    # Resolved an hour after the first session; ignored likewise.
    an_hour_later = datetime.fromtimestamp(T0 / 1000 + 3600, UTC)
    _resolve(rig, buy.id, IssueStatus.RESOLVED, an_hour_later)
    _resolve(rig, help_.id, IssueStatus.IGNORED, an_hour_later)

    # An occurrence from before the resolution (a late batch of an old session): no regression.
    late = [meta(0), page(element(10, "button", "Buy", id="buy"))]
    rig.deliver([rig.upload("r2", 0, [*late, click(2000, 10), move(9000)])])
    assert rig.issues()[("dead_click", "button#buy")].status is IssueStatus.RESOLVED

    # Two hours later: reopened by the system actor.
    base = 2 * 3600 * 1000
    again = [
        {**meta(0), "timestamp": T0 + base},
        {
            **page(element(10, "button", "Buy", id="buy"), element(11, "a", "Help", id="help")),
            "timestamp": T0 + base,
        },
        {**click(0, 10), "timestamp": T0 + base + 1000},
        {**click(0, 11), "timestamp": T0 + base + 5000},
        {**move(0), "timestamp": T0 + base + 9000},
    ]
    rig.deliver([rig.upload("r3", 0, again)])
    issues = rig.issues()
    buy, help_ = issues[("dead_click", "button#buy")], issues[("dead_click", "a#help")]
    assert buy.status is IssueStatus.OPEN
    assert buy.status_updated_by == "system:detection"
    assert buy.regressed_at == datetime.fromtimestamp((T0 + base + 1000) // 1000, UTC)
    assert buy.status_updated_at == buy.regressed_at
    assert (buy.occurrences, buy.sessions_affected) == (3, 3)
    assert help_.status is IssueStatus.IGNORED
    assert help_.status_updated_by == "cred_person"
    assert (help_.occurrences, help_.sessions_affected) == (2, 2)
    # The open list (gsi1) has it again.
    open_ids = {
        i.id
        for i in rig.data.list_issues(rig.reader, IssueListParams(status=IssueStatus.OPEN)).items
    }
    assert buy.id in open_ids


def test_a_status_change_between_read_and_write_is_not_overwritten(rig: Rig) -> None:
    """The detector reads a resolved issue, a person ignores it, the detector's write must fail
    its condition and the retry must see 'ignored' (no regression from it)."""
    start = [meta(0), page(element(10, "button", "Buy", id="buy"))]
    rig.deliver([rig.upload("c1", 0, [*start, click(1000, 10), move(9000)])])
    issue = next(iter(rig.issues().values()))
    _resolve(rig, issue.id, IssueStatus.RESOLVED, datetime.fromtimestamp(T0 / 1000 + 10, UTC))
    real_read = rig.store.read_issues
    calls = {"n": 0}

    def read_then_person_ignores(org_id: str, ids: Any) -> Any:
        snapshot = real_read(org_id, ids)
        calls["n"] += 1
        if calls["n"] == 1:
            _resolve(
                rig, issue.id, IssueStatus.IGNORED, datetime.fromtimestamp(T0 / 1000 + 20, UTC)
            )
        return snapshot

    rig.store.read_issues = read_then_person_ignores  # type: ignore[method-assign]
    later = [
        {**e, "timestamp": e["timestamp"] + 3_600_000}
        for e in [*start, click(1000, 10), move(9000)]
    ]
    rig.deliver([rig.upload("c2", 0, later)])
    issue = next(iter(rig.issues().values()))
    assert calls["n"] == 2  # the first write failed its condition, the retry read again
    assert issue.status is IssueStatus.IGNORED
    assert issue.status_updated_by == "cred_person"
    assert (issue.occurrences, issue.sessions_affected) == (2, 2)


def _interleave(rig: Rig, method: str, other: Any) -> dict[str, int]:
    """Run ``other`` once, in the middle of the next call of the store's ``method`` (after its
    real work): another invocation acting between this one's reads and its commit. The store
    itself is the real one; only the moment is chosen, which threads on moto cannot do
    reliably (moto's in-process backend is not thread-safe: docs/detection.md)."""
    real = getattr(rig.store, method)
    calls = {"n": 0}

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            other()
        return result

    setattr(rig.store, method, wrapped)
    return calls


def test_two_invocations_of_the_same_batch_commit_once(rig: Rig) -> None:
    events = load_events("shop")
    key = rig.upload("same", 0, events)
    twin = Rig(rig.dynamodb, rig.s3)
    calls = _interleave(rig, "put_items", lambda: twin.deliver([key]))
    rig.deliver([key])
    assert calls["n"] == 1  # after the conflict, the watermark said: done already
    assert by_kind(rig) == expected_shop()
    assert len(rig.signals()) == 4


def test_two_sessions_creating_the_same_issue_at_once_count_both(rig: Rig) -> None:
    start = [meta(0), page(element(10, "button", "Buy", id="buy"))]
    dead = [*start, click(1000, 10), move(9000)]
    first = rig.upload("race1", 0, dead, metadata={"user_id": "u1"})
    second = rig.upload(
        "race2",
        0,
        [{**e, "timestamp": e["timestamp"] - 5000} for e in dead],
        metadata={"user_id": "u1"},
    )
    twin = Rig(rig.dynamodb, rig.s3)
    # race1 reads "no such issue", then race2 creates it (earlier first_seen, same user).
    calls = _interleave(rig, "read_issues", lambda: twin.deliver([second]))
    rig.deliver([first])
    assert calls["n"] == 2  # the create failed its condition; the retry added to race2's issue
    issue = next(iter(rig.issues().values()))
    assert (issue.occurrences, issue.sessions_affected, issue.users_affected) == (2, 2, 1)
    assert issue.first_seen == datetime.fromtimestamp((T0 - 4000) // 1000, UTC)
    assert issue.last_seen == datetime.fromtimestamp((T0 + 1000) // 1000, UTC)


def test_two_sessions_of_one_user_racing_count_the_user_once(rig: Rig) -> None:
    start = [meta(0), page(element(10, "button", "Buy", id="buy"))]
    dead = [*start, click(1000, 10), move(9000)]
    rig.deliver([rig.upload("seed", 0, dead, metadata={"user_id": "other"})])
    first = rig.upload("m1", 0, dead, metadata={"user_id": "u7"})
    second = rig.upload("m2", 0, dead, metadata={"user_id": "u7"})
    twin = Rig(rig.dynamodb, rig.s3)
    calls = _interleave(rig, "existing_user_markers", lambda: twin.deliver([second]))
    rig.deliver([first])
    assert calls["n"] == 2
    assert by_kind(rig) == {"dead_click": (3, 3, 2)}


def test_a_gap_that_never_fills_is_given_up_after_repeated_deliveries(rig: Rig) -> None:
    start = [meta(0), page(element(10, "button", "Buy", id="buy"))]
    rig.deliver([rig.upload("g1", 0, start)])
    key = rig.upload("g1", 2, [click(1000, 10), move(9000)])
    for receive in (1, 2, 3):
        with pytest.raises(SequenceGap):
            rig.service.handle_object(key, receive_count=receive)
    outcome = rig.service.handle_object(key, receive_count=4)
    assert outcome is not None
    assert (outcome.skipped, outcome.processed) == ([1], [2])
    assert by_kind(rig) == {"dead_click": (1, 1, 1)}


def test_keys_that_are_not_replays_are_ignored(rig: Rig) -> None:
    assert rig.service.handle_object("other/x.json") is None
    assert rig.service.handle_object("replays/org/../0000000000.json.gz") is None
    assert rig.service.handle_object(replay_key(ORG, "nothing-here", 0)) is not None
    assert rig.issues() == {}


def test_stored_objects_decode_with_a_cap() -> None:
    body = json.dumps({"events": [1]}).encode()
    assert decode_batch_object(gzip.compress(body)) == {"events": [1]}
    assert decode_batch_object(gzip.compress(body[:5]) + gzip.compress(body[5:])) == {"events": [1]}
    assert decode_batch_object(b"not gzip") is None
    assert decode_batch_object(gzip.compress(b"[1]")) is None


def test_session_id_rule_is_ingests() -> None:
    assert detection_service.SESSION_ID.pattern == ingest_batch.SESSION_ID.pattern


# --- bounds (issue 17: findings 2 and 3) ---------------------------------------------------------


class RunAway(Exception):
    pass


class Calls:
    """Counts the AWS operations a client makes (botocore's own event hook, not our code); past
    ``limit`` calls of one operation it raises, so a loop that would run ~10^10 times ends."""

    def __init__(self, *clients: Any, limit: int = 500) -> None:
        self.counts: dict[str, int] = {}
        self.params: list[tuple[str, dict[str, Any]]] = []
        self.limit = limit
        for client in clients:
            client.meta.events.register("before-parameter-build.*.*", self._seen)

    def _seen(self, model: Any, params: Any, **_: Any) -> None:
        self.counts[model.name] = self.counts.get(model.name, 0) + 1
        self.params.append((model.name, params))
        if self.counts[model.name] > self.limit:
            raise RunAway(f"more than {self.limit} {model.name} calls")

    def reset(self) -> None:
        self.counts.clear()
        self.params.clear()

    def writes(self) -> int:
        names = ("UpdateItem", "TransactWriteItems", "PutItem", "BatchWriteItem")
        return sum(self.counts.get(n, 0) for n in names)


def watermark(rig: Rig, session: str) -> int:
    item = rig.dynamodb.get_item(
        TableName=TABLE, Key=datatable.key(ORG, datatable.session_sk(session))
    )["Item"]
    return int(item["next_seq"]["N"])


def test_a_far_future_sequence_is_a_poison_batch_not_a_watermark_move(rig: Rig) -> None:
    start = [meta(0), page(element(10, "button", "Buy", id="buy"))]
    rig.deliver([rig.upload("victim", 0, start)])
    far = rig.upload("victim", 9_999_999_999, [click(1000, 10), move(9000)])
    calls = Calls(rig.s3, rig.dynamodb)
    outcome = rig.service.handle_object(
        far, receive_count=detection_service.GAP_SKIP_AFTER_RECEIVES
    )
    assert outcome is not None
    assert (outcome.poisoned, outcome.skipped, outcome.processed) == ("too_far_ahead", [], [])
    assert calls.counts.get("GetObject", 0) == 0
    assert calls.writes() == 0
    assert watermark(rig, "victim") == 1
    # The browser's next batch is still detected.
    rig.deliver([rig.upload("victim", 1, [click(1000, 10), move(9000)])])
    assert watermark(rig, "victim") == 2
    assert by_kind(rig) == {"dead_click": (1, 1, 1)}


def test_a_gap_is_given_up_in_one_step(rig: Rig) -> None:
    start = [meta(0), page(element(10, "button", "Buy", id="buy"))]
    rig.deliver([rig.upload("g2", 0, start)])
    ahead = detection_service.MAX_SEQUENCE_GAP
    key = rig.upload("g2", ahead, [click(1000, 10), move(9000)])
    calls = Calls(rig.s3, rig.dynamodb)
    outcome = rig.service.handle_object(
        key, receive_count=detection_service.GAP_SKIP_AFTER_RECEIVES
    )
    assert outcome is not None
    assert (outcome.skipped, outcome.processed) == (list(range(1, ahead)), [ahead])
    # one listing finds what exists; the missing batches are given up by one commit
    assert calls.counts.get("ListObjectsV2") == 1
    assert calls.counts["GetObject"] == 3  # the first missing one, the batch, the one after it
    writes = ("UpdateItem", "PutItem", "BatchWriteItem", "TransactWriteItems")
    # the skip; then the batch: its issue's fingerprint, signal and timeline, commit
    assert {n: calls.counts.get(n, 0) for n in writes} == dict.fromkeys(writes, 1)
    assert watermark(rig, "g2") == ahead + 1
    assert by_kind(rig) == {"dead_click": (1, 1, 1)}


def _item_sizes(dynamodb: Any) -> list[int]:
    """Each item's size as DynamoDB counts it, near enough: names plus value bytes."""

    def size(value: Any) -> int:
        kind, inner = next(iter(value.items()))
        if kind == "M":
            return sum(len(k) + size(v) for k, v in inner.items())
        if kind == "L":
            return sum(size(v) for v in inner)
        return len(inner) if isinstance(inner, bytes) else len(str(inner).encode())

    items = dynamodb.scan(TableName=TABLE)["Items"]
    return [sum(len(k) + size(v) for k, v in item.items()) for item in items]


def test_a_batch_whose_timeline_outgrows_an_item_is_stored_in_parts(rig: Rig) -> None:
    label = "L" * 80
    start = [meta(0), page(element(10, "div", label))]
    clicks = [click(1000 + 10_000 * n, 10) for n in range(4990)]  # no bursts: 10 s apart
    key = rig.upload("big", 0, [*start, *clicks])
    rig.service.handle_object(key)
    assert watermark(rig, "big") == 1
    assert max(_item_sizes(rig.dynamodb)) < 400 * 1024
    entries = _walk_timeline(rig, "big")
    assert len(entries) == 1 + 4990
    assert [e.text for e in entries if e.kind.value == "click"] == [label] * 4990


def _walk_timeline(rig: Rig, session: str, limit: int = 100, **window: Any) -> list[Any]:
    out: list[Any] = []
    cursor = None
    while True:
        params = TimelineParams(limit=limit, cursor=cursor, **window)
        page = rig.data.session_timeline(rig.reader, session, params)
        out += page.items
        cursor = page.next_cursor
        if cursor is None:
            return out


def test_a_batch_the_detector_raises_on_is_recorded_skipped_and_passed(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = [meta(0), page(element(10, "button", "Buy", id="buy"))]
    rig.deliver([rig.upload("p1", 0, start)])
    # Page content no longer makes the detector raise (tests/unit/test_detection_bounds.py): a
    # detector that raises on this batch, every time, stands for the next such defect.
    bad = rig.upload("p1", 1, [click(1000, 10), move(1001)])
    real_feed = detection_service.SessionDetector.feed

    def feed(self: Any, events: list[Any]) -> Any:
        if events and events[-1]["timestamp"] == T0 + 1001:
            raise ValueError("year 10000 is out of range")
        return real_feed(self, events)

    monkeypatch.setattr(detection_service.SessionDetector, "feed", feed)
    outcome = rig.service.handle_object(bad)
    assert outcome is not None
    assert (outcome.poisoned, outcome.skipped, outcome.processed) == ("ValueError", [1], [])
    assert watermark(rig, "p1") == 2
    rig.deliver([rig.upload("p1", 2, [click(1000, 10), move(9000)])])
    assert by_kind(rig) == {"dead_click": (1, 1, 1)}
    state = rig.dynamodb.get_item(
        TableName=TABLE, Key=datatable.key(ORG, datatable.session_sk("p1"))
    )["Item"]
    assert (state["poison_batches"], state["last_poison_seq"]) == ({"N": "1"}, {"N": "1"})


def test_a_write_dynamodb_refuses_is_a_poison_batch(rig: Rig) -> None:
    start = [meta(0), page(element(10, "button", "Buy", id="buy"))]
    rig.deliver([rig.upload("p2", 0, start)])

    def refuse(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ValidationException", "Message": "Item size has exceeded"}},
            "BatchWriteItem",
        )

    rig.dynamodb.meta.events.register("before-call.dynamodb.BatchWriteItem", refuse)
    outcome = rig.service.handle_object(rig.upload("p2", 1, [click(1000, 10), move(9000)]))
    rig.dynamodb.meta.events.unregister("before-call.dynamodb.BatchWriteItem", refuse)
    assert outcome is not None
    assert (outcome.poisoned, outcome.skipped) == ("ValidationException", [1])
    assert watermark(rig, "p2") == 2
    assert by_kind(rig) == {}


def test_a_state_over_an_item_drops_the_mirror_then_refuses(rig: Rig) -> None:
    import os

    noise = os.urandom(300 * 1024).hex()  # incompressible
    record = SessionRecord(next_seq=1, detector={"mirror": [noise], "clicks": 1})
    rig.store.commit(ORG, "st1", 0, fit_state(record), [], now="2026-12-07T00:00:00Z")
    loaded = rig.store.load_session(ORG, "st1")
    assert loaded is not None
    assert (loaded.next_seq, loaded.detector) == (1, {"mirror": [], "clicks": 1})
    huge = SessionRecord(next_seq=2, detector={"pending": [noise]})
    with pytest.raises(PoisonBatch):
        fit_state(huge)
    assert max(_item_sizes(rig.dynamodb)) < 400 * 1024


def test_an_issue_update_stays_within_dynamodb_expression_limits(rig: Rig) -> None:
    hour = 3_600_000
    first = [meta(0), *[console_error(n * hour, "boom") for n in range(300)]]
    rig.deliver([rig.upload("h1", 0, first)])
    later = [console_error(300 * hour + n * hour, "boom") for n in range(300)]
    calls = Calls(rig.dynamodb)
    rig.deliver([rig.upload("h1", 1, later)])
    (_, transaction) = next(p for p in calls.params if p[0] == "TransactWriteItems")
    assert len(transaction["TransactItems"]) == 2  # the state, the issue
    for action in transaction["TransactItems"]:
        for part in action.values():
            for name in ("UpdateExpression", "ConditionExpression"):
                assert len(part.get(name, "")) <= 4096, name
    item = rig.dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={
            ":pk": {"S": datatable.org_pk(ORG)},
            ":p": {"S": datatable.ISSUE_PREFIX},
        },
    )["Items"][0]
    assert int(item["occurrences"]["N"]) == 600
    assert len(item["occ_hours"]["M"]) <= detection_service.MAX_HOURS_KEPT
