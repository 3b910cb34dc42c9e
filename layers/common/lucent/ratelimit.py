"""Per-key sliding-window rate limit over DynamoDB (docs/rate-limiting.md).

The estimate of a key's rate at ``elapsed`` seconds into the current minute is::

    estimate = prev_minute_count * (1 - elapsed / 60) + cur_minute_count

and a request is admitted iff ``estimate + 1 <= limit``: admitting it keeps the estimate within
the limit. ``sliding_window_decision`` is that rule as a pure function; the DynamoDB path asks the
table the same question in one conditional ``UpdateItem``.

Storage: one item per credential (``pk`` = credential id) whose attributes ``m<minute>`` count the
requests of the current and the previous minute, so a single condition can see both minutes, and
``expires_at`` lets TTL remove an idle key's item. One request is one ``UpdateItem``::

    ADD #cur :one SET expires_at = :ttl REMOVE #older
    IF (attribute_not_exists(#cur) OR #cur <= :cap)
       AND (attribute_not_exists(#prev) OR #prev <= :prev)

with ``:cap = floor(limit - 1 - :prev * w)``. ``:prev`` is the previous minute's count as this
container knows it (a finished minute never changes, so it is cached), or ``limit`` when unknown:
a larger ``:prev`` only lowers the cap, so the condition never admits more than the exact rule,
whatever the concurrency. When the condition fails, DynamoDB returns the item
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``); the exact decision is computed from it and, if
it says "admit", the update is tried once more with the exact previous count.

After a 429 computed from exact counts the container remembers ``earliest_admission``: no request
of that key can be admitted before it (admissions elsewhere only push it later), so until then it
refuses locally, with the exact Retry-After and no DynamoDB call.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

SECONDS_PER_MINUTE = 60
_COUNTER = re.compile(r"m(\d+)")
_CONDITION_FAILED = "ConditionalCheckFailedException"
_FAST_PATH_MAX_COUNT = 1_000_000  # overlap below 1e6: float error under 1e-8
_FAST_PATH_MARGIN = 1e-6


def _clamped(elapsed_seconds: float | Fraction) -> Fraction:
    return min(max(Fraction(elapsed_seconds), Fraction(0)), Fraction(SECONDS_PER_MINUTE))


def admission_cap(prev_count: int, limit: int, elapsed_seconds: float | Fraction) -> int:
    """The largest current-minute count (before this request) at which a request is admitted.

    ``cur <= limit - 1 - prev * w`` holds for an integer ``cur`` iff ``cur <= floor(...)``, so the
    cap DynamoDB compares against is an integer. It is computed exactly (a float is a rational),
    so no rounding can make Python, the table and a test oracle disagree at a boundary.
    """
    if prev_count == 0:
        return limit - 1
    if isinstance(elapsed_seconds, float) and 0 < prev_count < _FAST_PATH_MAX_COUNT:
        # Fast path: float rounding moves ``overlap`` by far less than the margin, so unless it
        # lies within the margin of an integer, its ceiling is the exact one.
        seconds = min(max(elapsed_seconds, 0.0), float(SECONDS_PER_MINUTE))
        overlap_f = prev_count * (SECONDS_PER_MINUTE - seconds) / SECONDS_PER_MINUTE
        ceiling = math.ceil(overlap_f)
        if (
            ceiling - overlap_f > _FAST_PATH_MARGIN
            and overlap_f - (ceiling - 1) > _FAST_PATH_MARGIN
        ):
            return limit - 1 - ceiling
    overlap = prev_count * (SECONDS_PER_MINUTE - _clamped(elapsed_seconds)) / SECONDS_PER_MINUTE
    return limit - 1 - math.ceil(overlap)


def _admitted_at(prev_count: int, cur_count: int, limit: int, at: Fraction) -> bool:
    """Would a request at ``at`` seconds after the current minute began be admitted (no traffic
    in between)? The minute after next starts with an empty window."""
    if at < SECONDS_PER_MINUTE:
        return cur_count <= admission_cap(prev_count, limit, at)
    if at < 2 * SECONDS_PER_MINUTE:
        return admission_cap(cur_count, limit, at - SECONDS_PER_MINUTE) >= 0
    return limit >= 1


def sliding_window_decision(
    prev_count: int, cur_count: int, limit: int, elapsed_seconds: float
) -> tuple[bool, int]:
    """(admit, retry_after_seconds) for a request at ``elapsed_seconds`` into the current minute.

    ``prev_count``/``cur_count`` are the previous and current minute's counts before this request.
    ``retry_after_seconds`` is 0 when admitted, else the smallest whole number of seconds, at least
    1, after which a request would be admitted if no other request came in between.
    """
    if cur_count <= admission_cap(prev_count, limit, float(elapsed_seconds)):
        return True, 0
    elapsed = _clamped(elapsed_seconds)
    if limit < 1:
        return False, SECONDS_PER_MINUTE
    # Where the (continuous, decreasing) estimate comes down to limit - 1: in this minute when
    # the current count alone leaves room, otherwise in the next one (whose previous minute is
    # this one's count and whose current count is 0). Exact arithmetic throughout.
    if cur_count <= limit - 1 and prev_count > 0:
        at = SECONDS_PER_MINUTE * (1 - Fraction(limit - 1 - cur_count, prev_count))
    else:
        at = SECONDS_PER_MINUTE * (2 - Fraction(limit - 1, max(cur_count, 1)))
    retry = max(1, math.ceil(at - elapsed))
    # Belt and braces: the answer is the smallest whole second the rule itself admits.
    while not _admitted_at(prev_count, cur_count, limit, elapsed + retry):
        retry += 1
    while retry > 1 and _admitted_at(prev_count, cur_count, limit, elapsed + retry - 1):
        retry -= 1
    return False, retry


def earliest_admission(
    prev_count: int, cur_count: int, limit: int, elapsed_seconds: float | Fraction
) -> Fraction | None:
    """The exact instant, in seconds after the current minute began, from which a request is
    admitted if nothing else is admitted meanwhile; ``elapsed`` itself when admitted now.

    Admission is monotone in time (the estimate never rises without new admissions, and is
    continuous across the minute boundary), so every instant before this one is refused. None
    where no such instant exists (a limit below 1).
    """
    if limit < 1:
        return None
    elapsed = _clamped(elapsed_seconds)
    if cur_count <= admission_cap(prev_count, limit, elapsed):
        return elapsed
    if cur_count <= limit - 1 and prev_count > 0:
        at = SECONDS_PER_MINUTE * (1 - Fraction(limit - 1 - cur_count, prev_count))
    else:
        at = SECONDS_PER_MINUTE * (2 - Fraction(limit - 1, max(cur_count, 1)))
    return at if at > elapsed and _admitted_at(prev_count, cur_count, limit, at) else None


@dataclass(frozen=True, slots=True)
class RateDecision:
    admitted: bool
    retry_after_seconds: int
    limit: int
    # The current minute's count: after this request when admitted, as DynamoDB saw it if not.
    count: int
    # DynamoDB calls made: 1 in the steady state, 2 when a guess about the previous minute was
    # wrong, 0 when the container refused locally after an earlier 429.
    attempts: int = 1


class RateLimiterUnavailable(Exception):
    """The counter table could not answer (throttling, outage, misconfiguration)."""


@dataclass(frozen=True, slots=True)
class _Refusal:
    until: Fraction  # epoch seconds from which the key can be admitted again
    limit: int
    count: int


@dataclass(slots=True)
class _KeyState:
    final_minute: int  # the finished minute whose count is known
    final_count: int
    counters: frozenset[str]  # m<minute> attributes the item had when last seen


class RateLimitStore:
    """Sliding-window counters of every key in the RateLimitTable, one item per key.

    One instance per container: it caches each key's finished minute and the counter attributes
    its item holds (so stale ones are removed). Thread-safe.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        clock: Callable[[], float] = time.time,
        max_cached_keys: int = 10_000,
    ) -> None:
        self._client = client
        self._table = table
        self._clock = clock
        self._max_cached_keys = max_cached_keys
        self._states: dict[str, _KeyState] = {}
        # After a 429 computed from exact counts, nothing of that key can be admitted before
        # ``earliest_admission`` (other admissions only push it later), so until then the
        # container refuses locally: a client hammering past its limit costs no writes.
        self._refusals: dict[str, _Refusal] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, limit: int) -> RateDecision:
        """Count one request of ``key`` if the window admits it. Raises RateLimiterUnavailable."""
        now = self._clock()
        local = self._local_refusal(key, limit, now)
        if local is not None:
            return local
        minute = math.floor(now / SECONDS_PER_MINUTE)
        elapsed = now - minute * SECONDS_PER_MINUTE
        prev_assumed = self._known_previous(key, minute)
        if prev_assumed is None:
            prev_assumed = max(limit, 0)  # unknown: assume the worst a finished minute can be
        attempts = 0
        while True:
            attempts += 1
            admitted, item = self._update(key, limit, minute, elapsed, prev_assumed)
            self._remember(key, minute, item)
            prev, cur = _counts(item, minute)
            if admitted:
                return RateDecision(True, 0, limit, cur, attempts)
            exact_admit, retry_after = sliding_window_decision(prev, cur, limit, elapsed)
            if not exact_admit:
                self._remember_refusal(
                    key, limit, minute=minute, prev=prev, cur=cur, elapsed=elapsed
                )
                return RateDecision(False, retry_after, limit, cur, attempts)
            if attempts >= 2:
                # The previous minute changed twice under us (a straggler of the last minute):
                # stay on the safe side rather than loop.
                return RateDecision(False, 1, limit, cur, attempts)
            prev_assumed = prev

    def _local_refusal(self, key: str, limit: int, now: float) -> RateDecision | None:
        with self._lock:
            refusal = self._refusals.get(key)
            if refusal is None:
                return None
            if refusal.limit != limit or Fraction(now) >= refusal.until:
                del self._refusals[key]
                return None
        retry_after = max(1, math.ceil(refusal.until - Fraction(now)))
        return RateDecision(False, retry_after, limit, refusal.count, attempts=0)

    def _remember_refusal(
        self, key: str, limit: int, *, minute: int, prev: int, cur: int, elapsed: float
    ) -> None:
        at = earliest_admission(prev, cur, limit, elapsed)
        if at is None:
            return
        with self._lock:
            if len(self._refusals) >= self._max_cached_keys:
                self._refusals.pop(next(iter(self._refusals)))
            self._refusals[key] = _Refusal(minute * SECONDS_PER_MINUTE + at, limit, cur)

    def _known_previous(self, key: str, minute: int) -> int | None:
        with self._lock:
            state = self._states.get(key)
        if state is not None and state.final_minute == minute - 1:
            return state.final_count
        return None

    def _remember(self, key: str, minute: int, item: Mapping[str, Any]) -> None:
        prev, _ = _counts(item, minute)
        counters = frozenset(name for name in item if _COUNTER.fullmatch(name))
        with self._lock:
            self._states.pop(key, None)
            if len(self._states) >= self._max_cached_keys:
                self._states.pop(next(iter(self._states)))  # the least recently seen key
            self._states[key] = _KeyState(minute - 1, prev, counters)

    def _stale_counters(self, key: str, minute: int) -> list[str]:
        with self._lock:
            state = self._states.get(key)
        if state is None:
            return []
        # Older than the one REMOVE always names; never a later minute (another container's
        # clock may run a little ahead of this one's).
        return sorted(
            name
            for name in state.counters
            if (match := _COUNTER.fullmatch(name)) and int(match.group(1)) < minute - 2
        )

    def _update(
        self, key: str, limit: int, minute: int, elapsed: float, prev_assumed: int
    ) -> tuple[bool, dict[str, Any]]:
        cap = admission_cap(prev_assumed, limit, elapsed)
        names = {"#cur": f"m{minute}", "#prev": f"m{minute - 1}", "#older": f"m{minute - 2}"}
        removed = ["#older"]
        for index, name in enumerate(self._stale_counters(key, minute)):
            names[f"#s{index}"] = name
            removed.append(f"#s{index}")
        # With a negative cap nothing is admitted, not even into an empty minute: the condition
        # then fails on purpose and DynamoDB returns the counts the Retry-After needs.
        cur_ok = "(attribute_not_exists(#cur) OR #cur <= :cap)" if cap >= 0 else "#cur <= :cap"
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression=(
                    f"ADD #cur :one SET expires_at = :ttl REMOVE {', '.join(removed)}"
                ),
                ConditionExpression=(
                    f"{cur_ok} AND (attribute_not_exists(#prev) OR #prev <= :prev)"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":ttl": {"N": str((minute + 2) * SECONDS_PER_MINUTE)},
                    ":cap": {"N": str(cap)},
                    ":prev": {"N": str(prev_assumed)},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                old: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
                return False, _plain(old)
            raise RateLimiterUnavailable(str(exc)) from exc
        except BotoCoreError as exc:
            raise RateLimiterUnavailable(str(exc)) from exc
        return True, _plain(dict(response.get("Attributes") or {}))


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """Counter attributes of a low-level DynamoDB item as ints (other attributes kept raw)."""
    out: dict[str, Any] = {}
    for name, value in item.items():
        if _COUNTER.fullmatch(name) and isinstance(value, Mapping) and "N" in value:
            out[name] = int(value["N"])
        else:
            out[name] = value
    return out


def _counts(item: Mapping[str, Any], minute: int) -> tuple[int, int]:
    prev = item.get(f"m{minute - 1}", 0)
    cur = item.get(f"m{minute}", 0)
    return (prev if isinstance(prev, int) else 0), (cur if isinstance(cur, int) else 0)
