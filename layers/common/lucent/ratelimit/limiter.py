"""The per-key limiter every ingest request passes (docs/rate-limiting.md).

It asks the counter store (``lucent.ratelimit.store``) the sliding-window question in one
conditional write, with what this container knows: each key's finished previous minute (a
finished minute never changes, so it is cached) and, after a 429 computed from exact counts, the
instant before which nothing of that key can be admitted (it then refuses locally, with no call).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from lucent.ratelimit.store import COUNTER_ATTRIBUTE, RateLimitStore
from lucent.ratelimit.window import (
    SECONDS_PER_MINUTE,
    RateDecision,
    admission_cap,
    earliest_admission,
    sliding_window_decision,
)


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


class RateLimiter:
    """Sliding-window decisions for every key, over one counter item per key.

    One instance per container: it caches each key's finished minute and the counter attributes
    its item holds (so stale ones are removed). Thread-safe.
    """

    def __init__(
        self,
        store: RateLimitStore,
        *,
        clock: Callable[[], float] = time.time,
        max_cached_keys: int = 10_000,
    ) -> None:
        self._store = store
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
            cap = admission_cap(prev_assumed, limit, elapsed)
            admitted, item = self._store.count_if_below(
                key,
                minute=minute,
                cap=cap,
                prev_assumed=prev_assumed,
                stale_counters=self._stale_counters(key, minute),
            )
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
        counters = frozenset(name for name in item if COUNTER_ATTRIBUTE.fullmatch(name))
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
            if (match := COUNTER_ATTRIBUTE.fullmatch(name)) and int(match.group(1)) < minute - 2
        )


def _counts(item: Mapping[str, Any], minute: int) -> tuple[int, int]:
    prev = item.get(f"m{minute - 1}", 0)
    cur = item.get(f"m{minute}", 0)
    return (prev if isinstance(prev, int) else 0), (cur if isinstance(cur, int) else 0)
