"""The sliding-window rule (pure) and RateLimiter over RateLimitStore against moto's DynamoDB,
time controlled to the microsecond."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from hypothesis import given, settings
from hypothesis import strategies as st

from lucent.errors import RateLimiterUnavailable
from lucent.ratelimit.limiter import MAX_ATTEMPTS, RateLimiter
from lucent.ratelimit.store import RateLimitStore
from lucent.ratelimit.window import (
    WINDOW_US,
    Window,
    retry_after_seconds,
    split_budget,
    to_micros,
)
from tests.conftest import REGION

MINUTE_START = 1_767_225_600.0  # a minute boundary
MINUTE = int(MINUTE_START // 60)
START_US = MINUTE * 60_000_000
KEY = "cred_0123456789abcdef"
US = 1e-6


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


# --- the rule -----------------------------------------------------------------------------------


def oracle_live(times: list[int], now: int) -> int:
    return sum(1 for t in times if t > now - WINDOW_US)


@settings(max_examples=300, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 200_000_000), max_size=40),
    now_offset=st.integers(0, 260_000_000),
    limit=st.integers(1, 40),
)
def test_window_is_the_exact_log_and_names_the_first_admitted_microsecond(
    offsets: list[int], now_offset: int, limit: int
) -> None:
    times = sorted(START_US + o for o in offsets)
    now = START_US + now_offset
    window = Window([(t, 1) for t in times])
    assert window.live(now) == oracle_live(times, now)
    first = window.next_admission(now, limit)
    assert first is not None
    assert first >= now
    assert oracle_live(times, first) < limit  # admitted at that microsecond
    if first > now:
        assert oracle_live(times, first - 1) >= limit  # and refused the one before
        assert oracle_live(times, now) >= limit


def test_window_counts_grouped_admissions_and_future_ones() -> None:
    window = Window([(START_US, 3), (START_US + 5, 2), (START_US + WINDOW_US + 10, 1)])
    assert window.total == 6
    assert window.live(START_US + WINDOW_US) == 3  # the 3 at START_US have just left
    assert window.live(START_US) == 6  # one is later than now (a clock ahead): it counts
    # limit 4 at START_US + 60 s: 3 live; limit 3: the 2 at +5 µs must leave first.
    assert window.next_admission(START_US + WINDOW_US, 4) == START_US + WINDOW_US
    assert window.next_admission(START_US + WINDOW_US, 3) == START_US + 5 + WINDOW_US
    assert window.next_admission(START_US, 0) is None


@pytest.mark.parametrize(
    ("admission", "now", "expected"),
    [
        (START_US + 60_000_000, START_US, 60),
        (START_US + 60_000_001, START_US, 61),  # a microsecond past a second: the next one
        (START_US + 500_000, START_US, 1),  # at least 1
        (START_US, START_US, 1),
    ],
)
def test_retry_after_rounds_up_to_whole_seconds(admission: int, now: int, expected: int) -> None:
    assert retry_after_seconds(admission, now) == expected


def test_to_micros_keeps_every_microsecond_of_an_epoch_float() -> None:
    for offset in (0, 1, 999_999, 59_999_999, 123_456_789):
        assert to_micros((START_US + offset) / 1e6) == START_US + offset


@pytest.mark.parametrize(
    ("budget", "unseen", "elapsed", "reserve"),
    [
        (99, 60_000_000, 0, 99),  # first instant of a minute: all of it for the previous one
        (99, 60_000_000, 30_000_000, 66),  # 60 s unseen vs 30 s of this minute: 2/3
        (99, 0, 30_000_000, 0),  # the previous minute seen to its end
        (0, 60_000_000, 1, 0),
        (-3, 60_000_000, 1, 0),
    ],
)
def test_split_budget(budget: int, unseen: int, elapsed: int, reserve: int) -> None:
    assert split_budget(budget, unseen, elapsed) == reserve


# --- the limiter over moto -----------------------------------------------------------------------


@dataclass
class Store:
    store: RateLimiter
    clock: Clock
    client: Any
    table: str
    calls: list[str]

    def item(self, key: str = KEY) -> dict[str, Any]:
        raw = self.client.get_item(TableName=self.table, Key={"pk": {"S": key}}).get("Item", {})
        out: dict[str, Any] = {}
        for name, value in raw.items():
            if "NS" in value:
                out[name] = sorted(int(v) for v in value["NS"])
            elif "N" in value:
                out[name] = int(value["N"])
            else:
                out[name] = value["S"]
        return out

    def new_container(self, **kwargs: Any) -> RateLimiter:
        return RateLimiter(RateLimitStore(self.client, self.table), clock=self.clock, **kwargs)

    def put(self, **attributes: Any) -> None:
        item = {"pk": {"S": KEY}}
        for name, value in attributes.items():
            item[name] = (
                {"NS": [str(v) for v in value]} if isinstance(value, list) else {"N": str(value)}
            )
        self.client.put_item(TableName=self.table, Item=item)


@pytest.fixture
def limiter(aws: dict[str, str]) -> Store:
    client = boto3.client("dynamodb", region_name=REGION)
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    client.meta.events.register("before-call.dynamodb.*", record)
    clock = Clock(MINUTE_START + 10)
    table = aws["RateLimitTable"]
    return Store(
        RateLimiter(RateLimitStore(client, table), clock=clock), clock, client, table, calls
    )


def admit_at(limiter: Store, seconds: list[float], limit: int, key: str = KEY) -> list[bool]:
    outcomes = []
    for at in seconds:
        limiter.clock.now = MINUTE_START + at
        outcomes.append(limiter.store.acquire(key, limit).admitted)
    return outcomes


def test_admits_exactly_the_limit_then_refuses_without_counting(limiter: Store) -> None:
    assert admit_at(limiter, [10, 11, 12, 13, 14], 5) == [True] * 5
    decisions = [limiter.store.acquire(KEY, 5) for _ in range(3)]
    assert [d.admitted for d in decisions] == [False] * 3
    # The first of the five (10 s) leaves the window at 70 s: 56 s after 14 s.
    assert {d.retry_after_seconds for d in decisions} == {56}
    assert limiter.item() == {
        "pk": KEY,
        f"t{MINUTE}": [10_000_000, 11_000_000, 12_000_000, 13_000_000, 14_000_000],
        "expires_at": (MINUTE + 2) * 60,
    }


def test_the_window_slides_to_the_microsecond(limiter: Store) -> None:
    assert admit_at(limiter, [10.25, 40, 55], 3) == [True] * 3
    refused = limiter.store.acquire(KEY, 3)
    assert (refused.admitted, refused.retry_after_seconds) == (False, 16)  # 70.25 - 55 = 15.25
    # Not one microsecond early, in this container (local refusal) or in a new one.
    limiter.clock.now = MINUTE_START + 70.25 - US
    assert not limiter.store.acquire(KEY, 3).admitted
    assert not limiter.new_container().acquire(KEY, 3).admitted
    limiter.clock.now = MINUTE_START + 70.25
    assert limiter.store.acquire(KEY, 3).admitted
    assert not limiter.store.acquire(KEY, 3).admitted  # full again: 40, 55, 70.25
    assert limiter.item()[f"t{MINUTE + 1}"] == [10_250_000]


def test_one_update_per_request_however_many_containers_serve_the_key(limiter: Store) -> None:
    """Requests of one key go to whichever container is free: a container that has not seen
    the key's last admissions still decides in one write while the key is well under its limit.
    """
    containers = [limiter.store] + [limiter.new_container() for _ in range(3)]
    limiter.calls.clear()
    for index in range(40):
        limiter.clock.now = MINUTE_START + 3 * index  # two minutes, 20 a minute, limit 100
        decision = containers[index % 4].acquire(KEY, 100)
        assert (decision.admitted, decision.attempts) == (True, 1)
    assert limiter.calls == ["UpdateItem"] * 40


def test_a_container_that_cannot_know_the_previous_minute_learns_it_in_one_extra_call(
    limiter: Store,
) -> None:
    assert admit_at(limiter, [50 + i / 10 for i in range(9)], 10) == [True] * 9
    fresh = limiter.new_container()
    limiter.calls.clear()
    limiter.clock.now = MINUTE_START + 61
    # Unknown, the previous minute may hold up to 9 * 60/61 = 8 (all assumed in the window): it
    # holds 9, the condition fails, the returned item shows them, and the exact write succeeds.
    first = fresh.acquire(KEY, 10)
    assert (first.admitted, first.attempts) == (True, 2)
    second = fresh.acquire(KEY, 10)  # now 10 in the window: refused from what it knows, no call
    assert (second.admitted, second.attempts, second.retry_after_seconds) == (False, 0, 49)
    assert limiter.calls == ["UpdateItem"] * 2


def test_a_new_container_refuses_in_one_call_when_the_window_is_full(limiter: Store) -> None:
    assert admit_at(limiter, [10] * 10, 10) == [True] * 10
    fresh = limiter.new_container()
    limiter.calls.clear()
    limiter.clock.now = MINUTE_START + 30
    decision = fresh.acquire(KEY, 10)
    assert (decision.admitted, decision.attempts, decision.retry_after_seconds) == (False, 1, 40)
    assert limiter.calls == ["UpdateItem"]
    assert len(limiter.item()[f"t{MINUTE}"]) == 10


def test_two_admissions_on_one_microsecond_keep_two_stamps(limiter: Store) -> None:
    other = limiter.new_container(salt=41)
    assert limiter.store.acquire(KEY, 10).admitted
    limiter.calls.clear()
    decision = other.acquire(KEY, 10)  # the same clock, the same microsecond
    assert (decision.admitted, decision.attempts) == (True, 2)
    assert limiter.item()[f"t{MINUTE}"] == [10_000_000, 10_000_000 + 1 + 42 % 997]


def test_a_straggler_in_the_previous_minute_is_seen(limiter: Store) -> None:
    """A container that knows the previous minute bounds its size; another container's late
    admission there (its clock behind) makes the condition fail, and it is counted."""
    assert admit_at(limiter, [50, 51, 52], 5) == [True] * 3
    assert admit_at(limiter, [61], 5) == [True]  # this container saw minute 0 finished: 3
    limiter.client.update_item(
        TableName=limiter.table,
        Key={"pk": {"S": KEY}},
        UpdateExpression="ADD #m :s",
        ExpressionAttributeNames={"#m": f"t{MINUTE}"},
        ExpressionAttributeValues={":s": {"NS": ["59999990"]}},
    )
    limiter.calls.clear()
    decision = limiter.store.acquire(KEY, 5)  # 50, 51, 52, 59.99999, 61: full
    assert (decision.admitted, decision.attempts, decision.retry_after_seconds) == (False, 1, 49)


def test_a_later_minute_from_a_clock_ahead_counts(limiter: Store) -> None:
    limiter.put(**{f"t{MINUTE + 1}": [0, 1], "expires_at": (MINUTE + 3) * 60})
    limiter.clock.now = MINUTE_START + 59.99
    assert [limiter.store.acquire(KEY, 3).admitted for _ in range(2)] == [True, False]


def test_stale_minutes_are_removed_and_later_ones_kept(limiter: Store) -> None:
    limiter.put(
        **{
            f"t{MINUTE - 9}": [5],
            f"t{MINUTE - 2}": [5],
            f"m{MINUTE - 3}": 40,
            f"t{MINUTE + 1}": [7],  # another container's clock ran ahead
            "expires_at": 1,
        }
    )
    # The first write fails (a later minute it did not know of), the second counts it and
    # removes what no window can reach any more.
    assert limiter.store.acquire(KEY, 100).admitted
    assert limiter.store.acquire(KEY, 100).admitted
    assert limiter.item() == {
        "pk": KEY,
        f"t{MINUTE}": [10_000_000, 10_000_001],
        f"t{MINUTE + 1}": [7],
        "expires_at": (MINUTE + 2) * 60,
    }


def test_the_minute_before_last_is_kept_for_the_first_two_seconds(limiter: Store) -> None:
    """A container whose clock is behind (by less than 2 s) may still count it."""
    limiter.put(**{f"t{MINUTE - 2}": [59_999_000], "expires_at": (MINUTE + 1) * 60})
    admit_at(limiter, [1, 1.5], 100)
    assert f"t{MINUTE - 2}" in limiter.item()
    admit_at(limiter, [2], 100)
    assert f"t{MINUTE - 2}" not in limiter.item()


def test_keys_are_independent(limiter: Store) -> None:
    assert [limiter.store.acquire("a", 1).admitted for _ in range(2)] == [True, False]
    assert limiter.store.acquire("b", 1).admitted


def test_the_ttl_lets_an_idle_key_expire(limiter: Store) -> None:
    admit_at(limiter, [59.5], 10)
    # The last admission leaves every window at 119.5 s; TTL may delete the item from 120 s.
    assert limiter.item()["expires_at"] == (MINUTE + 2) * 60
    assert limiter.item()["expires_at"] >= MINUTE_START + 59.5 + 60


# --- tiers ---------------------------------------------------------------------------------------


def test_the_bounded_tier_counts_per_bucket_and_never_admits_more(limiter: Store) -> None:
    bounded = limiter.new_container(exact_max_limit=5)  # so that a limit of 6 is bounded
    limiter.clock.now = MINUTE_START + 10.5
    assert [bounded.acquire(KEY, 6).admitted for _ in range(7)] == [True] * 6 + [False]
    assert limiter.item() == {
        "pk": KEY,
        f"k{MINUTE}": 6,
        f"b{int(MINUTE_START) + 10}": 6,  # the bucket of second 10
        "expires_at": (MINUTE + 2) * 60,
    }
    # Counted at the end of their bucket (10.999999 s): admitted again from 70.999999 s.
    limiter.clock.now = MINUTE_START + 70.999998
    refused = bounded.acquire(KEY, 6)
    assert (refused.admitted, refused.retry_after_seconds) == (False, 1)
    limiter.clock.now = MINUTE_START + 70.999999
    assert bounded.acquire(KEY, 6).admitted


def test_a_key_changing_tier_keeps_its_window(limiter: Store) -> None:
    exact = limiter.new_container(exact_max_limit=5)
    assert [exact.acquire(KEY, 5).admitted for _ in range(5)] == [True] * 5
    bounded = limiter.new_container(exact_max_limit=5)
    limiter.clock.now += 1
    # Moved to a limit of 8 (bounded tier): 5 admitted already, 3 more.
    assert [bounded.acquire(KEY, 8).admitted for _ in range(4)] == [True] * 3 + [False]
    # And back to 5 (exact): full, by the 8 admissions of both shapes.
    limiter.clock.now += 1
    assert not limiter.new_container(exact_max_limit=5).acquire(KEY, 5).admitted


def test_a_changed_limit_is_not_refused_from_the_local_cache(limiter: Store) -> None:
    for _ in range(6):
        limiter.store.acquire(KEY, 5)
    limiter.calls.clear()
    decision = limiter.store.acquire(KEY, 6)  # the key moved to a higher tier
    assert (decision.admitted, decision.attempts) == (True, 1)
    assert limiter.calls == ["UpdateItem"]


# --- the old per-minute counters (migration) -----------------------------------------------------


def test_old_counters_count_until_their_minute_can_leave_the_window(limiter: Store) -> None:
    """An item the previous release wrote (m<minute> counters): 30 last minute, 69 this one.
    They count as if admitted at the end of their minute, so no window is reset by the deploy."""
    limiter.put(**{f"m{MINUTE - 1}": 30, f"m{MINUTE}": 69, "expires_at": (MINUTE + 2) * 60})
    limiter.calls.clear()
    first = limiter.store.acquire(KEY, 100)
    # The guard "no old counters" fails, the item is learned, then the exact write: 99 + 1.
    assert (first.admitted, first.attempts) == (True, 2)
    refused = limiter.store.acquire(KEY, 100)
    # The 30 of the last minute are taken as admitted at its last microsecond (-1 µs): they leave
    # the window at 59.999999 s of this one.
    assert (refused.admitted, refused.retry_after_seconds) == (False, 50)
    limiter.clock.now = MINUTE_START + 59.999999 - US
    assert not limiter.new_container().acquire(KEY, 100).admitted
    limiter.clock.now = MINUTE_START + 59.999999
    outcomes = [limiter.store.acquire(KEY, 100).admitted for _ in range(31)]
    assert outcomes == [True] * 30 + [False]  # 69 + 1 still in the window: room for 30
    # ... and the 69 of this minute until its end, 60 s later: then 69 + 30 in the window.
    limiter.clock.now = MINUTE_START + 119.999999 - US
    fresh = limiter.new_container()
    assert [fresh.acquire(KEY, 100).admitted for _ in range(2)] == [True, False]
    item = limiter.item()
    assert (item[f"m{MINUTE}"], len(item[f"t{MINUTE}"])) == (69, 31)


def test_a_full_old_window_stays_full_across_the_deploy(limiter: Store) -> None:
    limiter.put(**{f"m{MINUTE}": 100, "expires_at": (MINUTE + 2) * 60})
    decisions = [limiter.new_container().acquire(KEY, 100) for _ in range(3)]
    assert {(d.admitted, d.retry_after_seconds) for d in decisions} == {(False, 110)}


# --- failures ------------------------------------------------------------------------------------


def test_missing_table_raises_unavailable(limiter: Store) -> None:
    store = RateLimiter(RateLimitStore(limiter.client, "no-such-table"), clock=limiter.clock)
    with pytest.raises(RateLimiterUnavailable, match="ResourceNotFoundException"):
        store.acquire(KEY, 10)


def test_unreachable_endpoint_raises_unavailable(aws: dict[str, str]) -> None:
    client = boto3.client(
        "dynamodb",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=0.5),
    )
    store = RateLimiter(RateLimitStore(client, aws["RateLimitTable"]), clock=Clock(MINUTE_START))
    with pytest.raises(RateLimiterUnavailable, match="Could not connect"):
        store.acquire(KEY, 10)


def test_throttling_raises_unavailable(limiter: Store) -> None:
    client = boto3.client(
        "dynamodb", region_name=REGION, config=Config(retries={"max_attempts": 1})
    )

    def throttled(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        body = json.dumps(
            {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "Rate of requests exceeds the allowed throughput.",
            }
        ).encode()
        return AWSResponse(
            request.url, 400, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body)
        )

    client.meta.events.register_first("before-send.dynamodb.UpdateItem", throttled)
    store = RateLimiter(RateLimitStore(client, limiter.table), clock=limiter.clock)
    with pytest.raises(RateLimiterUnavailable, match="ProvisionedThroughputExceededException"):
        store.acquire(KEY, 10)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body

    def read(self, *_: Any, **__: Any) -> bytes:
        return self._body


def test_the_cache_is_bounded(limiter: Store) -> None:
    store = limiter.new_container(max_cached_keys=3)
    for index in range(10):
        store.acquire(f"k{index}", 10)
    assert len(store._states) == 3


# --- local refusals after a 429 ------------------------------------------------------------------


def test_refusals_are_answered_locally_until_the_exact_admission_instant(limiter: Store) -> None:
    assert admit_at(limiter, [10, 10, 10, 10, 10], 5) == [True] * 5
    limiter.calls.clear()
    first = limiter.store.acquire(KEY, 5)  # refused from what the container knows: no call
    assert (first.admitted, first.retry_after_seconds, first.attempts) == (False, 60, 0)
    limiter.clock.now += 0.5
    again = [limiter.store.acquire(KEY, 5) for _ in range(50)]
    assert {(d.admitted, d.retry_after_seconds, d.attempts) for d in again} == {(False, 60, 0)}
    limiter.clock.now = MINUTE_START + 70 - US  # the first of the five leaves at 70 s
    assert limiter.store.acquire(KEY, 5).retry_after_seconds == 1
    assert limiter.calls == []  # 52 refusals, no write
    limiter.clock.now = MINUTE_START + 70  # the instant itself: asks DynamoDB, admitted
    decision = limiter.store.acquire(KEY, 5)
    assert (decision.admitted, decision.attempts) == (True, 1)
    assert limiter.calls == ["UpdateItem"]


def test_local_refusals_agree_with_a_container_that_never_saw_the_429(limiter: Store) -> None:
    other = limiter.new_container()
    assert admit_at(limiter, [20] * 10, 10) == [True] * 10
    assert limiter.store.acquire(KEY, 10).retry_after_seconds == 60
    limiter.clock.now = MINUTE_START + 79.5
    mine, theirs = limiter.store.acquire(KEY, 10), other.acquire(KEY, 10)
    assert (mine.admitted, mine.attempts, mine.retry_after_seconds) == (False, 0, 1)
    assert (theirs.admitted, theirs.attempts, theirs.retry_after_seconds) == (False, 1, 1)
    limiter.clock.now = MINUTE_START + 80  # the first of the ten has left
    assert limiter.store.acquire(KEY, 10).admitted


# --- the bench's in-memory table -----------------------------------------------------------------


def test_the_benchs_memory_table_decides_like_moto(aws: dict[str, str]) -> None:
    """bench/ratelimit_accuracy.py measures 1.5 M requests over an in-memory table that evaluates
    the store's expressions; it checks itself against moto on every run, and here on a small
    trace with every form the store emits (both tiers, old counters, clocks apart, 3 containers).
    """
    import random

    from bench import ratelimit_accuracy as bench
    from bench.ratelimit_table import MemoryDynamoDB

    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=bench.TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    rng = random.Random(7)
    start = bench.EPOCH_US + 17_000_000
    keys = [
        ("exact", 30, [start + t for t in bench.bursty(rng, 30, 4 * 60_000_000)], None),
        ("bounded", 40, [start + t for t in bench.at_the_limit(rng, 40, 3 * 60_000_000)], None),
        ("legacy", 30, [start + t for t in bench.at_the_limit(rng, 30, 2 * 60_000_000)], (20, 9)),
    ]
    tier = bench.Tier(exact_max_limit=30)  # so that a limit of 40 is in the bounded tier
    outcomes = []
    for table in (MemoryDynamoDB(), client):
        decisions, items = [], []
        for name, limit, times, legacy in keys:
            if legacy:
                table.put_item(
                    TableName=bench.TABLE, Item=bench._legacy_item(name, times[0], legacy)
                )
            decisions.append(
                bench.simulate_key(
                    name,
                    times,
                    limit,
                    bench.ClassStats(),
                    rng=random.Random(name),
                    skews=(-40_000, 0, 35_000),
                    tier=tier,
                    table=table,
                    check_retry_after=False,
                )
            )
            stored = table.get_item(TableName=bench.TABLE, Key={"pk": {"S": name}})["Item"]
            items.append(bench._normalised(stored))
        outcomes.append((decisions, items))
    (memory_decisions, memory_items), (moto_decisions, moto_items) = outcomes
    assert sum(len(d) for d in moto_decisions) > 250
    assert any(not admitted for d in moto_decisions for admitted, *_ in d)  # refusals happened
    assert memory_decisions == moto_decisions
    assert memory_items == moto_items


def test_a_write_that_loses_every_race_refuses_for_one_second_without_counting(
    limiter: Store,
) -> None:
    """A container whose clock is already in the next minute (50 ms of skew at a minute's end)
    admits a request of the same key just before each of this container's writes. Each write
    guards the next minute's set at the size it last saw, so each fails although the window is
    far from full: after MAX_ATTEMPTS the request is refused with Retry-After 1 (never a loop,
    never an admission that was not recorded), and the item holds no stamp of the loser's."""
    assert admit_at(limiter, [1.0], 100) == [True]
    rival_clock = Clock(MINUTE_START + 60.02)
    rival = RateLimiter(RateLimitStore(limiter.client, limiter.table), clock=rival_clock)
    rival_admissions: list[bool] = []

    def rival_writes_first(**_: Any) -> None:
        rival_clock.now += 0.001
        rival_admissions.append(rival.acquire(KEY, 100).admitted)

    client = boto3.client("dynamodb", region_name=REGION)
    client.meta.events.register("before-call.dynamodb.UpdateItem", rival_writes_first)
    losing = RateLimiter(RateLimitStore(client, limiter.table), clock=limiter.clock)
    limiter.clock.now = MINUTE_START + 59.97
    decision = losing.acquire(KEY, 100)

    assert (decision.admitted, decision.retry_after_seconds, decision.attempts) == (
        False,
        1,
        MAX_ATTEMPTS,
    )
    assert rival_admissions == [True] * MAX_ATTEMPTS
    item = limiter.item()
    assert item[f"t{MINUTE}"] == [1_000_000]  # the loser's 59.97 s is not there
    assert item[f"t{MINUTE + 1}"] == [21_000, 22_000, 23_000, 24_000]
