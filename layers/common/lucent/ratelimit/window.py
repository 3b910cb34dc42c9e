"""The sliding-window rule, as exact arithmetic: pure, no AWS (docs/rate-limiting.md).

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
from dataclasses import dataclass
from fractions import Fraction

SECONDS_PER_MINUTE = 60
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
