"""The per-key limiter every ingest request passes (docs/rate-limiting.md).

It asks the counter store (``lucent.ratelimit.store``) to record one admission in one
conditional write, bounded by what this container knows of the key's item (the last copy
DynamoDB returned to it): admissions it knows are counted exactly; any it cannot know about are
assumed to be in the window, so the condition never admits more than the exact sliding log,
whatever the other containers did. When the condition fails, DynamoDB returns the item as it is,
and the decision is made again from it, exactly.

After a 429 the container knows the instant before which nothing of that key can be admitted
(other admissions only push it later) and refuses locally until then, with no call.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lucent.ratelimit.store import (
    BOUNDED_COUNT,
    EXACT,
    LEGACY,
    Admission,
    Guard,
    ItemState,
    RateLimitStore,
    attribute,
    attribute_minute,
)
from lucent.ratelimit.window import (
    BUCKET_US,
    EXACT_MAX_LIMIT,
    MICROS_PER_SECOND,
    MINUTE_US,
    RateDecision,
    Window,
    merge,
    retry_after_seconds,
    split_budget,
    to_micros,
)

# A minute's attributes are removed once the window cannot reach them (two minutes on), but only
# this far into the minute, so that a container whose clock runs behind (by less than this) still
# finds the admissions it would count.
REMOVE_AFTER_US = 2 * MICROS_PER_SECOND
# A write fails only when the window is full, when this container's knowledge was stale, or on a
# clash of stamps; each failure returns the item, so the next try is exact. Four tries cover a
# stale guess, a clash and a straggler from a skewed clock at once; past that, refuse (Retry-After
# 1) rather than loop.
MAX_ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class _Refusal:
    until_us: int  # from this instant the key can be admitted again
    limit: int
    count: int


@dataclass(frozen=True, slots=True)
class _Ask:
    """The question: one admission of a key with ``limit``, this ``minute``, in this tier."""

    exact: bool
    bucket_us: int
    minute: int
    limit: int


@dataclass(frozen=True, slots=True)
class _View:
    """What a copy of the item says about the window of a minute, besides the current minute's
    own attribute: each bounded attribute's size (None: absent) and their admissions."""

    ask: _Ask
    sizes: tuple[tuple[str, int | None], ...]
    window: Window


class _Known:
    """The last copy of a key's item this container was given, and when."""

    __slots__ = ("_view", "item", "last_at_us", "swept", "taken_us")

    def __init__(
        self,
        item: ItemState,
        taken_us: int,
        last_at_us: int,
        swept: tuple[int, int],
        view: _View | None = None,
    ) -> None:
        self.item = item
        self.taken_us = taken_us  # this container's clock when DynamoDB returned the item
        self.last_at_us = last_at_us  # the stamp of this container's last admission of the key
        self.swept = swept  # (minute, margin) of its last write that removed every stale name
        self._view = view

    def view(self, ask: _Ask) -> _View:
        view = self._view
        if view is None or view.ask != ask:
            view = self._view = _view_of(self.item, ask)
        return view


@dataclass(frozen=True, slots=True)
class _Refuse:
    """The admissions this container knows of already fill the window: no write can succeed."""

    window: Window


@dataclass(frozen=True, slots=True)
class _Plan:
    admission: Admission
    view: _View
    reserve: int
    sweep: tuple[int, int]  # (minute, margin): once written, no stale name is left for it


_NEVER = (-1, -1)


class RateLimiter:
    """Exact sliding-window decisions for every key, over one item per key.

    One instance per container: it keeps the last copy of each key's item it was given (at most
    ``max_cached_keys``) and the local refusals. Thread-safe.
    """

    def __init__(
        self,
        store: RateLimitStore,
        *,
        clock: Callable[[], float] = time.time,
        max_cached_keys: int = 10_000,
        exact_max_limit: int = EXACT_MAX_LIMIT,
        bucket_us: int = BUCKET_US,
        salt: int | None = None,
    ) -> None:
        self._store = store
        # Spreads this container's stamps away from another's after two met on the same
        # microsecond (see _free_stamp); random unless a test or the bench fixes it.
        self._salt = secrets.randbits(16) if salt is None else salt
        # The tier boundary and the bounded tier's bucket width: constants of the release (the
        # bench measures others).
        self._exact_max_limit = exact_max_limit
        self._bucket_us = bucket_us
        self._clock = clock
        self._max_cached_keys = max_cached_keys
        self._states: dict[str, _Known] = {}
        self._refusals: dict[str, _Refusal] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, limit: int) -> RateDecision:
        """Record one request of ``key`` if the window admits it. Raises RateLimiterUnavailable."""
        now_us = to_micros(self._clock())
        local = self._local_refusal(key, limit, now_us)
        if local is not None:
            return local
        if limit < 1:
            return RateDecision(False, 60, limit, 0, attempts=0)
        exact = limit <= self._exact_max_limit
        minute = now_us // MINUTE_US
        at_us = now_us
        known = self._known(key)
        last_at_us = known.last_at_us if known is not None else 0
        if exact and at_us <= last_at_us:
            at_us = last_at_us + 1  # the same microsecond again (a clock that did not move)
        attempts = 0
        while True:
            plan = _plan(
                known,
                _Ask(exact, self._bucket_us, minute, limit),
                now_us=now_us,
                at_us=at_us,
            )
            if isinstance(plan, _Refuse):
                return self._refuse(key, limit, now_us, plan.window, known=known, attempts=attempts)
            if attempts >= MAX_ATTEMPTS:
                return RateDecision(False, 1, limit, 0, attempts)
            attempts += 1
            recorded, item = self._store.admit(key, plan.admission)
            # A write that succeeded on exact knowledge changed nothing this container counted
            # (sets and counters only grow, and the guards let none of them grow): keep the view.
            carried = plan.view if recorded and not plan.reserve else None
            swept = plan.sweep if recorded else (known.swept if known is not None else _NEVER)
            known = _Known(item, now_us, at_us if recorded else last_at_us, swept, carried)
            self._remember(key, known)
            if recorded:
                count = item.size(plan.admission.current) or 0
                return RateDecision(True, 0, limit, count, attempts)
            if exact:
                at_us = _free_stamp(item, minute, at_us, self._salt + attempts)

    def _refuse(
        self,
        key: str,
        limit: int,
        now_us: int,
        window: Window,
        *,
        known: _Known | None,
        attempts: int,
    ) -> RateDecision:
        until = window.next_admission(now_us, limit)
        count = 0
        if known is not None:
            own = EXACT if limit <= self._exact_max_limit else BOUNDED_COUNT
            count = known.item.size(attribute(own, now_us // MINUTE_US)) or 0
        if until is None:
            return RateDecision(False, 60, limit, count, attempts)
        with self._lock:
            if len(self._refusals) >= self._max_cached_keys:
                self._refusals.pop(next(iter(self._refusals)))
            self._refusals[key] = _Refusal(until, limit, count)
        return RateDecision(False, retry_after_seconds(until, now_us), limit, count, attempts)

    def _local_refusal(self, key: str, limit: int, now_us: int) -> RateDecision | None:
        with self._lock:
            refusal = self._refusals.get(key)
            if refusal is None:
                return None
            if refusal.limit != limit or now_us >= refusal.until_us:
                del self._refusals[key]
                return None
        return RateDecision(
            False, retry_after_seconds(refusal.until_us, now_us), limit, refusal.count, 0
        )

    def _known(self, key: str) -> _Known | None:
        with self._lock:
            return self._states.get(key)

    def _remember(self, key: str, known: _Known) -> None:
        with self._lock:
            self._states.pop(key, None)
            if len(self._states) >= self._max_cached_keys:
                self._states.pop(next(iter(self._states)))  # the least recently seen key
            self._states[key] = known


def _admissions(item: ItemState, name: str, bucket_us: int) -> list[tuple[int, int]]:
    """What one attribute records, as (time, count): exact stamps at their instant, anything
    coarser at the last instant it may stand for (conservative)."""
    minute = attribute_minute(name, bucket_us)
    if minute is None:
        return []
    family = name[0]
    if family == EXACT:
        return [(stamp, 1) for stamp in item.stamps(minute)]
    count = item.size(name) or 0
    if not count:
        return []
    end = (minute + 1) * MINUTE_US - 1
    if family == LEGACY:
        return [(end, count)]
    buckets = [(start + bucket_us - 1, n) for start, n in item.buckets(minute, bucket_us)]
    surplus = count - sum(n for _, n in buckets)  # a bucket removed, or written by a bug
    return [*buckets, (end, surplus)] if surplus > 0 else buckets


def _bounded_names(ask: _Ask) -> tuple[str, ...]:
    """Every attribute besides the current minute's own that can hold admissions in a window
    ending in this minute; the first is the previous minute's own."""
    own, other = (EXACT, BOUNDED_COUNT) if ask.exact else (BOUNDED_COUNT, EXACT)
    minute = ask.minute
    return (
        attribute(own, minute - 1),
        attribute(own, minute + 1),  # written by a container whose clock runs ahead
        attribute(other, minute - 1),  # the key changed tier within the window
        attribute(other, minute),
        attribute(LEGACY, minute - 1),  # the counters of the per-minute shape (before 2026-01)
        attribute(LEGACY, minute),
    )


def _view_of(item: ItemState, ask: _Ask) -> _View:
    names = _bounded_names(ask)
    sizes = tuple((name, item.size(name)) for name in names)
    window = Window(merge(_admissions(item, name, ask.bucket_us) for name in names))
    return _View(ask, sizes, window)


_EMPTY = ItemState({})


def _plan(known: _Known | None, ask: _Ask, *, now_us: int, at_us: int) -> _Plan | _Refuse:
    """The write that admits one request iff the window has room, given what is known.

    Every attribute that can hold admissions in the window is bounded: the current minute's own
    one by ``cap``, the others by what is known of them (absent stays absent, a count may not
    grow), except the previous minute's own one while this container has not seen it finished:
    it may hold up to ``reserve`` admissions more than seen, all assumed in the window.
    """
    view = known.view(ask) if known is not None else _view_of(_EMPTY, ask)
    item = known.item if known is not None else _EMPTY
    own = EXACT if ask.exact else BOUNDED_COUNT
    current = attribute(own, ask.minute)
    budget = ask.limit - 1 - view.window.live(now_us)
    # The current minute's admissions are all in the window; those known are a lower bound.
    current_known = item.size(current) or 0
    if current_known > budget:
        names = [name for name, _ in view.sizes] + [current]
        return _Refuse(Window(merge(_admissions(item, name, ask.bucket_us) for name in names)))
    start = ask.minute * MINUTE_US
    reserve = 0
    if known is None or known.taken_us < start:  # the previous minute may have grown since
        seen_until = max(known.taken_us if known is not None else 0, start - MINUTE_US)
        reserve = split_budget(budget - current_known, start - seen_until, now_us - start)
    guards = [Guard(name, size) for name, size in view.sizes]
    if reserve:
        previous, seen = view.sizes[0]
        guards[0] = Guard(previous, (seen or 0) + reserve)
    margin = 2 if now_us - start >= REMOVE_AFTER_US else 3
    stale = {attribute(own, ask.minute - margin)}
    # What else the item holds that no window can reach: looked for until one of this
    # container's writes has removed it, once a minute (and once more past REMOVE_AFTER_US), not
    # on every write (a bounded item holds a hundred names).
    sweep = (ask.minute, margin)
    if known is None or known.swept != sweep:
        for name in item.names:
            if (attribute_minute(name, ask.bucket_us) or 0) <= ask.minute - margin:
                stale.add(name)
    admission = Admission(
        minute=ask.minute,
        exact=ask.exact,
        at_us=at_us,
        bucket_us=ask.bucket_us,
        cap=budget - reserve,
        guards=tuple(guards),
        remove=tuple(sorted(stale)),
    )
    return _Plan(admission, view, reserve, sweep)


def _free_stamp(item: ItemState, minute: int, at_us: int, salt: int) -> int:
    """``at_us``, unless another admission of this minute holds that microsecond already (a
    number set keeps one of equal stamps: two admissions must not share one); then a free one a
    little later, by an amount that differs between containers, so that several which met on one
    microsecond do not meet again. Later is the safe side: the admission stays in the window a
    few microseconds longer than it needs to."""
    base = minute * MINUTE_US
    taken = item.offsets(minute)
    if at_us - base not in taken:
        return at_us
    at_us += 1 + salt % 997
    while at_us - base in taken:
        at_us += 1
    return at_us
