"""The sliding-window rule over admission times: pure, no AWS (docs/rate-limiting.md).

A request at ``now`` is admitted iff fewer than ``limit`` requests of its key were admitted in
the 60 seconds ``(now - 60 s, now]``: an exact sliding log. Times are whole microseconds since
the epoch, so Python, the table's condition and any test oracle compare the same integers.

What a key's item records is turned into ``Admissions``: (time, count) pairs, ascending. An exact
stamp counts 1 at the instant it was admitted; anything recorded less precisely (a bucket of the
bounded tier, a counter of the old per-minute shape) counts at the *last* instant it may stand
for, so it stays in the window at least as long as the admissions it stands for: the rule can
then only refuse more than the exact log, never admit more.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MICROS_PER_SECOND = 1_000_000
WINDOW_US = 60 * MICROS_PER_SECOND
# Items keep admissions per clock minute (attribute names carry the minute), so the window
# (60 s) always overlaps at most the current and the previous minute.
MINUTE_US = 60 * MICROS_PER_SECOND

# Limits up to this many per minute keep every admission's time (the exact tier); above it, the
# bounded tier keeps counts per BUCKET_US (docs/rate-limiting.md, "Tiers": the boundary is where
# an exact item's write cost passes the S3 PUT it guards).
EXACT_MAX_LIMIT = 1_000
BUCKET_US = 1 * MICROS_PER_SECOND

Admissions = Sequence[tuple[int, int]]  # (time in µs, how many admissions), ascending by time


def to_micros(seconds: float) -> int:
    """Epoch seconds (a float from the clock) to whole microseconds: the limiter's one timeline."""
    return round(seconds * MICROS_PER_SECOND)


def merge(parts: Iterable[Admissions]) -> list[tuple[int, int]]:
    """One ascending list from several (each ascending or not)."""
    merged = [pair for part in parts for pair in part]
    merged.sort()
    return merged


class Window:
    """Admissions, ascending, with cumulative counts: live counts by bisection (O(log n))."""

    __slots__ = ("_cumulative", "_times", "total")

    def __init__(self, admissions: Admissions) -> None:
        self._times = [at for at, _ in admissions]
        self._cumulative: list[int] = []
        running = 0
        for _, count in admissions:
            running += count
            self._cumulative.append(running)
        self.total = running

    def live(self, now_us: int) -> int:
        """Admissions still in the window at ``now``: those later than ``now - 60 s``.

        Times after ``now`` (another container's clock running ahead) count too.
        """
        expired = bisect.bisect_right(self._times, now_us - WINDOW_US)
        return self.total - (self._cumulative[expired - 1] if expired else 0)

    def next_admission(self, now_us: int, limit: int) -> int | None:
        """The first instant from ``now`` at which a request is admitted if nothing else is:
        ``now`` itself when fewer than ``limit`` are live, else the moment enough of the oldest
        live admissions have left the window. None for a limit below 1 (never admitted)."""
        if limit < 1:
            return None
        live = self.live(now_us)
        if live < limit:
            return now_us
        # Admitted once live <= limit - 1, i.e. once the oldest `live - limit + 1` have left: an
        # admission at time a leaves the window (t - 60 s, t] at t = a + 60 s exactly.
        expired_before = self.total - live
        index = bisect.bisect_left(self._cumulative, expired_before + live - limit + 1)
        return self._times[index] + WINDOW_US


def retry_after_seconds(admission_us: int, now_us: int) -> int:
    """Whole seconds until ``admission_us``, rounded up, at least 1 (the Retry-After header)."""
    return max(1, -((now_us - admission_us) // MICROS_PER_SECOND))


def split_budget(budget: int, unseen_previous_us: int, elapsed_us: int) -> int:
    """How much of ``budget`` (admissions still allowed) to reserve for admissions of the
    previous minute this container has not seen, the rest going to the current minute.

    A container that does not know the previous minute's final contents assumes its unseen part
    is entirely in the window; the condition then bounds both minutes (previous <= seen +
    reserve, current <= budget - reserve). Split in proportion to the time each part covers (a
    steady key then fits both bounds up to ~2/3 of its limit), so a key well under its limit is
    admitted in one write whichever container serves it.
    """
    if budget <= 0:
        return 0
    span = unseen_previous_us + elapsed_us
    if span <= 0:
        return 0
    return budget * unseen_previous_us // span


@dataclass(frozen=True, slots=True)
class RateDecision:
    admitted: bool
    retry_after_seconds: int
    limit: int
    # Admissions recorded in the current minute: after this one when admitted, as last seen if not.
    count: int
    # DynamoDB calls made: 1 in the common case, 2 when this container's knowledge of the key was
    # too stale to decide in one, 0 when it refused locally after an earlier 429.
    attempts: int = 1
