"""The sliding-window rule (pure) and RateLimiter over RateLimitStore against moto's DynamoDB, time controlled."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lucent.errors import RateLimiterUnavailable
from lucent.ratelimit.limiter import RateLimiter
from lucent.ratelimit.store import RateLimitStore
from lucent.ratelimit.window import admission_cap, earliest_admission, sliding_window_decision
from tests.conftest import REGION

MINUTE_START = 1_767_225_600.0  # a minute boundary
MINUTE = int(MINUTE_START // 60)
KEY = "cred_0123456789abcdef"


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


# --- the rule -----------------------------------------------------------------------------------


def oracle_admits(prev: int, cur: int, limit: int, at: Fraction) -> bool:
    """estimate + 1 <= limit, in exact arithmetic, ``at`` seconds after this minute began."""
    if at < 60:
        estimate = prev * (1 - at / 60) + cur
    elif at < 120:
        estimate = cur * (1 - (at - 60) / 60)
    else:
        estimate = Fraction(0)
    return estimate + 1 <= limit


@pytest.mark.parametrize(
    ("prev", "cur", "limit", "elapsed", "expected"),
    [
        (0, 0, 100, 0.0, (True, 0)),
        (0, 99, 100, 59.9, (True, 0)),
        (0, 100, 100, 0.0, (False, 61)),  # next minute: 100 * (1 - t/60) <= 99 at t = 0.6 s
        (0, 2, 2, 10.0, (False, 80)),
        (0, 2, 2, 10.5, (False, 80)),
        (10, 5, 10, 30.0, (False, 6)),  # 10 * (1 - t/60) <= 4 at t = 36 s
        (10, 5, 10, 35.5, (False, 1)),  # half a second away: still at least 1
        (10, 5, 10, 36.0, (True, 0)),
        (10, 4, 10, 30.0, (True, 0)),  # 5 + 4 + 1 = 10
        (100, 0, 100, 0.0, (False, 1)),  # 100 * (1 - t/60) <= 99 at t = 0.6 s
        (100, 0, 100, 0.61, (True, 0)),  # (0.6 as a float is a hair under 0.6)
        (1, 1, 1, 0.0, (False, 120)),  # only an empty window admits a limit of 1
        (3, 0, 3, 20.0, (True, 0)),  # 3 * 2/3 = 2 exactly: 2 + 0 + 1 = 3
        (3, 1, 3, 20.0, (False, 20)),  # 3 * (1 - t/60) <= 1 at t = 40 s
        (0, 0, 0, 0.0, (False, 60)),  # a limit below 1 admits nothing
    ],
)
def test_decision_table(
    prev: int, cur: int, limit: int, elapsed: float, expected: tuple[bool, int]
) -> None:
    assert sliding_window_decision(prev, cur, limit, elapsed) == expected


@settings(max_examples=400, deadline=None)
@given(
    prev=st.integers(0, 500),
    cur=st.integers(0, 500),
    limit=st.integers(1, 400),
    elapsed=st.one_of(
        st.integers(0, 59).map(float), st.floats(0, 60, exclude_max=True, allow_nan=False)
    ),
)
@example(prev=0, cur=1, limit=1, elapsed=1.999999999999993)  # 118 s in floats, 119 exactly
def test_decision_matches_the_estimate_and_retry_after_is_the_first_admitted_second(
    prev: int, cur: int, limit: int, elapsed: float
) -> None:
    admit, retry_after = sliding_window_decision(prev, cur, limit, elapsed)
    at = Fraction(elapsed)
    assert admit == oracle_admits(prev, cur, limit, at)
    if admit:
        assert retry_after == 0
        assert cur <= admission_cap(prev, limit, elapsed)
    else:
        assert retry_after >= 1
        assert oracle_admits(prev, cur, limit, at + retry_after)
        if retry_after > 1:
            assert not oracle_admits(prev, cur, limit, at + retry_after - 1)


def test_exactly_the_limit_is_admitted_in_an_empty_window() -> None:
    cur = 0
    while sliding_window_decision(0, cur, 100, 0.0)[0]:
        cur += 1
    assert cur == 100


# --- the store ---------------------------------------------------------------------------------


@dataclass
class Store:
    store: RateLimiter
    clock: Clock
    client: Any
    table: str
    calls: list[str]

    def item(self, key: str = KEY) -> dict[str, Any]:
        raw = self.client.get_item(TableName=self.table, Key={"pk": {"S": key}}).get("Item", {})
        return {k: (v["S"] if "S" in v else int(v["N"])) for k, v in raw.items()}

    def new_container(self) -> RateLimiter:
        return RateLimiter(RateLimitStore(self.client, self.table), clock=self.clock)


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


def test_admits_exactly_the_limit_then_refuses_without_counting(limiter: Store) -> None:
    decisions = [limiter.store.acquire(KEY, 5) for _ in range(8)]
    assert [d.admitted for d in decisions] == [True] * 5 + [False] * 3
    assert [d.count for d in decisions[:5]] == [1, 2, 3, 4, 5]
    # 5 counted 10 s into the minute: 5 * (1 - t/60) <= 4 at t = 12 s of the next: 62 s.
    assert {d.retry_after_seconds for d in decisions[5:]} == {62}
    assert limiter.item() == {"pk": KEY, f"m{MINUTE}": 5, "expires_at": (MINUTE + 2) * 60}


def test_one_update_per_request_in_the_steady_state(limiter: Store) -> None:
    for _ in range(3):
        limiter.store.acquire(KEY, 100)
    limiter.clock.now += 60
    limiter.calls.clear()
    for _ in range(3):
        assert limiter.store.acquire(KEY, 100).attempts == 1
    assert limiter.calls == ["UpdateItem"] * 3


def test_the_previous_minute_weighs_by_its_overlap(limiter: Store) -> None:
    for _ in range(10):
        assert limiter.store.acquire(KEY, 10).admitted
    limiter.clock.now = MINUTE_START + 60 + 30
    decisions = [limiter.store.acquire(KEY, 10) for _ in range(6)]
    assert [d.admitted for d in decisions] == [True] * 5 + [False]
    assert decisions[-1].retry_after_seconds == 6
    assert limiter.item() == {
        "pk": KEY,
        f"m{MINUTE}": 10,
        f"m{MINUTE + 1}": 5,
        "expires_at": (MINUTE + 3) * 60,
    }


def test_a_new_container_learns_the_previous_minute_in_one_extra_call(limiter: Store) -> None:
    for _ in range(3):
        limiter.store.acquire(KEY, 10)
    limiter.clock.now = MINUTE_START + 60 + 1  # early in the next minute
    fresh = limiter.new_container()
    limiter.calls.clear()
    # Unknown previous minute assumed full (10): cap = floor(9 - 10 * 59/60) = -1, so the first
    # try fails on purpose; the returned item shows prev = 3, and the exact retry succeeds.
    first = fresh.acquire(KEY, 10)
    assert (first.admitted, first.attempts) == (True, 2)
    assert fresh.acquire(KEY, 10).attempts == 1
    assert limiter.calls == ["UpdateItem"] * 3


def test_a_new_container_refuses_in_one_call_when_the_window_is_full(limiter: Store) -> None:
    for _ in range(10):
        limiter.store.acquire(KEY, 10)
    fresh = limiter.new_container()
    limiter.calls.clear()
    decision = fresh.acquire(KEY, 10)
    assert (decision.admitted, decision.attempts, decision.retry_after_seconds) == (False, 1, 56)
    assert limiter.calls == ["UpdateItem"]
    assert limiter.item()[f"m{MINUTE}"] == 10


def test_a_straggler_in_the_cached_minute_is_seen(limiter: Store) -> None:
    """A finished minute's count is cached; if another writer still added to it, the condition
    fails, the true count comes back, and nothing over the limit is admitted."""
    for _ in range(4):
        limiter.store.acquire(KEY, 10)
    limiter.clock.now = MINUTE_START + 60 + 30
    limiter.store.acquire(KEY, 10)  # caches prev = 4
    limiter.client.update_item(
        TableName=limiter.table,
        Key={"pk": {"S": KEY}},
        UpdateExpression="ADD #m :n",
        ExpressionAttributeNames={"#m": f"m{MINUTE}"},
        ExpressionAttributeValues={":n": {"N": "6"}},
    )
    # Now prev = 10, cur = 1: 10 * 0.5 + 1 + 1 = 7 <= 10, admitted up to cur = 4.
    decisions = [limiter.store.acquire(KEY, 10) for _ in range(5)]
    assert [d.admitted for d in decisions] == [True, True, True, True, False]
    assert decisions[0].attempts == 2


def test_stale_counters_are_removed_and_later_ones_kept(limiter: Store) -> None:
    limiter.client.put_item(
        TableName=limiter.table,
        Item={
            "pk": {"S": KEY},
            f"m{MINUTE - 9}": {"N": "50"},
            f"m{MINUTE - 2}": {"N": "50"},
            f"m{MINUTE + 1}": {"N": "1"},  # another container's clock ran ahead
            "expires_at": {"N": "1"},
        },
    )
    assert limiter.store.acquire(KEY, 100).admitted  # learns the item's attributes
    assert limiter.store.acquire(KEY, 100).admitted  # removes the stale one it saw
    assert limiter.item() == {
        "pk": KEY,
        f"m{MINUTE}": 2,
        f"m{MINUTE + 1}": 1,
        "expires_at": (MINUTE + 2) * 60,
    }


def test_keys_are_independent(limiter: Store) -> None:
    assert [limiter.store.acquire("a", 1).admitted for _ in range(2)] == [True, False]
    assert limiter.store.acquire("b", 1).admitted


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


def test_the_cache_is_bounded(limiter: Store) -> None:
    store = RateLimiter(
        RateLimitStore(limiter.client, limiter.table), clock=limiter.clock, max_cached_keys=3
    )
    for index in range(10):
        store.acquire(f"k{index}", 10)
    assert len(store._states) == 3


def test_admission_cap_is_exact_at_boundaries() -> None:
    # 3 * (1 - 20/60) is 2 exactly, though 3 * (1 - 20.0/60) in floats is not.
    assert admission_cap(3, 3, 20.0) == 0
    assert admission_cap(0, 100, 0.0) == 99
    assert admission_cap(100, 100, 0.0) == -1
    assert admission_cap(7, 10, 60.0) == 9
    assert math.isclose(admission_cap(60, 100, 30.0), 69)


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


@settings(max_examples=500, deadline=None)
@given(
    prev=st.integers(0, 2_000_000),
    limit=st.integers(1, 10_000),
    elapsed=st.one_of(
        st.integers(0, 60).map(float),
        st.floats(0, 60, allow_nan=False),
        st.integers(0, 600_000).map(lambda tenths_of_ms: tenths_of_ms / 10_000),
    ),
)
def test_the_float_fast_path_equals_exact_arithmetic(prev: int, limit: int, elapsed: float) -> None:
    assert admission_cap(prev, limit, elapsed) == admission_cap(prev, limit, Fraction(elapsed))


# --- local refusals after a 429 ----------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(
    prev=st.integers(0, 300),
    cur=st.integers(0, 300),
    limit=st.integers(1, 300),
    elapsed=st.floats(0, 60, exclude_max=True, allow_nan=False),
)
def test_earliest_admission_is_the_exact_first_admitted_instant(
    prev: int, cur: int, limit: int, elapsed: float
) -> None:
    at = earliest_admission(prev, cur, limit, elapsed)
    assert at is not None
    start = Fraction(elapsed)
    assert oracle_admits(prev, cur, limit, at)
    admit, retry_after = sliding_window_decision(prev, cur, limit, elapsed)
    if admit:
        assert at == start
    else:
        assert at > start
        # Every instant before it is refused (checked just before it and half way there) ...
        assert not oracle_admits(prev, cur, limit, at - Fraction(1, 10**9))
        assert not oracle_admits(prev, cur, limit, (start + at) / 2)
        # ... and the whole-second Retry-After is the first second at or after it.
        assert retry_after == max(1, math.ceil(at - start))


def test_refusals_are_answered_locally_until_the_exact_admission_instant(limiter: Store) -> None:
    for _ in range(5):
        assert limiter.store.acquire(KEY, 5).admitted
    limiter.calls.clear()
    first = limiter.store.acquire(KEY, 5)  # 10 s in, 5 counted: admitted again at 62 s
    assert (first.admitted, first.retry_after_seconds, first.attempts) == (False, 62, 1)
    assert limiter.calls == ["UpdateItem"]
    limiter.clock.now += 0.5
    again = [limiter.store.acquire(KEY, 5) for _ in range(50)]
    assert {(d.admitted, d.retry_after_seconds, d.attempts) for d in again} == {(False, 62, 0)}
    assert limiter.calls == ["UpdateItem"]  # 50 refusals, no write
    limiter.clock.now = MINUTE_START + 60 + 11.999
    assert limiter.store.acquire(KEY, 5).retry_after_seconds == 1
    assert limiter.calls == ["UpdateItem"]
    limiter.clock.now = MINUTE_START + 60 + 12  # the instant itself: asks DynamoDB, admitted
    decision = limiter.store.acquire(KEY, 5)
    assert (decision.admitted, decision.attempts) == (True, 1)
    assert limiter.calls == ["UpdateItem", "UpdateItem"]


def test_a_changed_limit_is_not_refused_from_the_local_cache(limiter: Store) -> None:
    for _ in range(6):
        limiter.store.acquire(KEY, 5)
    limiter.calls.clear()
    decision = limiter.store.acquire(KEY, 6)  # the key moved to a higher tier
    assert (decision.admitted, decision.attempts) == (True, 1)
    assert limiter.calls == ["UpdateItem"]


def test_local_refusals_agree_with_a_container_that_never_saw_the_429(limiter: Store) -> None:
    other = limiter.new_container()
    for _ in range(10):
        limiter.store.acquire(KEY, 10)
    # 10 counted 10 s into the minute, none before: 10 * (1 - t/60) <= 9 from t = 6 s of the next.
    assert limiter.store.acquire(KEY, 10).retry_after_seconds == 56
    limiter.clock.now = MINUTE_START + 60 + 5.5
    mine, theirs = limiter.store.acquire(KEY, 10), other.acquire(KEY, 10)
    assert (mine.admitted, mine.attempts, mine.retry_after_seconds) == (False, 0, 1)
    assert (theirs.admitted, theirs.retry_after_seconds) == (False, 1)
    limiter.clock.now = MINUTE_START + 60 + 6
    assert limiter.store.acquire(KEY, 10).admitted
