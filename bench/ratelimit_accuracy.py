"""(5) Rate limiter accuracy: the production decision against an exact sliding log.

The limiter under test is ``lucent.ratelimit.sliding_window_decision`` -- the exact function the
ingest handler calls -- fed the two fixed-window counters the way the handler keeps them. The
reference is an exact sliding log: a request is admitted iff fewer than ``limit`` requests were
admitted in the trailing 60 seconds.

Two comparisons, per traffic class:

* **decisions** (Cloudflare's measure): every decision of the counter is judged against the exact
  log *of what the counter actually admitted*, so one early mistake is counted once and does not
  cascade. Wrongly admitted = the counter admitted, the log would have refused; wrongly refused =
  the reverse. Both in percent of all requests of the class.
* **totals**: an independent exact limiter runs on the same trace; the difference in the number
  of requests admitted, in percent of requests.

The trace is seeded: >= 10,000 keys, >= 1,000,000 requests, three classes -- steady (Poisson,
well under the limit), bursty (quiet, then bursts several times the limit) and at-the-limit
(Poisson at 0.9x-1.3x the limit, where a sliding-window counter is most exposed). Keys are
independent, so each key's requests are simulated in turn; everything is plain Python.
"""

from __future__ import annotations

import bisect
import json
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench.common import NothingMeasured
from lucent.ratelimit.window import sliding_window_decision

WINDOW = 60.0
Decision = Callable[[int, int, int, float], tuple[bool, int]]


@dataclass
class ClassStats:
    keys: int = 0
    requests: int = 0
    admitted: int = 0
    wrongly_admitted: int = 0
    wrongly_refused: int = 0
    exact_admitted: int = 0  # by an independent exact limiter
    # Refused with Retry-After r: with no request in between, would the limiter itself admit at
    # t + r (else: too short), and refuse at t + r - 1 (else: longer than needed)?
    retry_after_checked: int = 0
    retry_after_too_short: int = 0
    retry_after_too_long: int = 0
    # ... and would the exact log admit at t + r (what a client may expect of "retry after")?
    retry_after_log_refuses: int = 0
    refusals: int = 0
    decisions: int = 0  # requests decided by calling the function (the rest: see simulate_key)
    limits: set[int] = field(default_factory=set)

    def report(self) -> dict[str, Any]:
        n = max(self.requests, 1)
        return {
            "keys": self.keys,
            "requests": self.requests,
            "refused_pct": 100 * (self.requests - self.admitted) / n,
            "wrongly_admitted_pct": 100 * self.wrongly_admitted / n,
            "wrongly_refused_pct": 100 * self.wrongly_refused / n,
            "wrong_pct": 100 * (self.wrongly_admitted + self.wrongly_refused) / n,
            "total_admitted_diff_pct": 100 * (self.admitted - self.exact_admitted) / n,
            "retry_after_checked": self.retry_after_checked,
            "retry_after_too_short_pct_of_checked": 100
            * self.retry_after_too_short
            / max(self.retry_after_checked, 1),
            "retry_after_too_long_pct_of_checked": 100
            * self.retry_after_too_long
            / max(self.retry_after_checked, 1),
            "retry_after_exact_log_refuses_pct_of_refusals": 100
            * self.retry_after_log_refuses
            / max(self.refusals, 1),
            "function_calls_for_decisions": self.decisions,
            "limits": sorted(self.limits),
        }


# --- traffic -------------------------------------------------------------------------------------


def _poisson(rng: random.Random, per_minute: float, start: float, end: float) -> Iterator[float]:
    rate = per_minute / WINDOW
    t = start + rng.expovariate(rate)
    while t < end:
        yield t
        t += rng.expovariate(rate)


def steady(rng: random.Random, limit: int, duration: float) -> list[float]:
    return list(_poisson(rng, rng.uniform(0.01, 0.25) * limit, 0.0, duration))


def bursty(rng: random.Random, limit: int, duration: float) -> list[float]:
    times = list(_poisson(rng, rng.uniform(0.02, 0.1) * limit, 0.0, duration))
    t = rng.uniform(0, 90)
    while t < duration:
        length = rng.uniform(1.0, 20.0)
        count = int(limit * rng.uniform(0.5, 3.0))
        times.extend(rng.uniform(t, min(t + length, duration)) for _ in range(count))
        t += length + rng.uniform(60.0, 400.0)
    times.sort()
    return times


def at_the_limit(rng: random.Random, limit: int, duration: float) -> list[float]:
    return list(_poisson(rng, rng.uniform(0.9, 1.3) * limit, 0.0, duration))


CLASSES: dict[str, tuple[Callable[[random.Random, int, float], list[float]], int]] = {
    # class: (generator, keys)
    "steady": (steady, 7_500),
    "bursty": (bursty, 1_500),
    "at-the-limit": (at_the_limit, 1_000),
}
LIMITS = (100, 100, 100, 100, 30)
SHORTCUT_CHECK_EVERY = 16
RETRY_AFTER_CHECK_EVERY = 5  # the documented default, and a smaller tier


# --- the simulation ------------------------------------------------------------------------------


def _admits_after(
    decide: Decision, prev: int, cur: int, limit: int, *, window: int, t: float, wait: float
) -> bool:
    """Would the limiter admit at ``t + wait`` if nothing were admitted in between?"""
    later = t + wait
    w = int(later // WINDOW)
    if w == window:
        counts = (prev, cur)
    elif w == window + 1:
        counts = (cur, 0)
    else:
        counts = (0, 0)
    return decide(counts[0], counts[1], limit, later - w * WINDOW)[0]


def simulate_key(  # noqa: PLR0915 - the hot loop stays flat, for speed
    times: list[float], limit: int, decide: Decision, stats: ClassStats
) -> None:
    window = -1
    prev = cur = 0
    log: deque[float] = deque()  # what the counter admitted, for judging its decisions
    exact: deque[float] = deque()  # an independent exact limiter
    admitted_times: list[float] = []
    refusals: list[tuple[float, float]] = []  # (time, retry_after)
    admitted = wrong_admit = wrong_refuse = exact_admitted = too_short = too_long = 0
    shortcuts = checked = 0
    for t in times:
        w = int(t // WINDOW)
        if w != window:
            prev = cur if w == window + 1 else 0
            cur = 0
            window = w
        if prev + cur < limit:
            # Under the limit even at full weight: the rule admits whatever the elapsed time
            # (estimate <= prev + cur <= limit - 1). Skipping the call keeps the trace fast; a
            # sample of these requests is still checked against the function itself.
            admit, retry_after = True, 0
            shortcuts += 1
            if shortcuts % SHORTCUT_CHECK_EVERY == 0:
                assert decide(prev, cur, limit, t - w * WINDOW) == (True, 0)
        else:
            admit, retry_after = decide(prev, cur, limit, t - w * WINDOW)
        horizon = t - WINDOW
        while log and log[0] <= horizon:
            log.popleft()
        should = len(log) < limit
        if admit:
            cur += 1
            admitted += 1
            log.append(t)
            admitted_times.append(t)
            if not should:
                wrong_admit += 1
        else:
            refusals.append((t, retry_after))
            if should:
                wrong_refuse += 1
            if len(refusals) % RETRY_AFTER_CHECK_EVERY == 0:  # a sample: each check is 2 calls
                checked += 1
                if not _admits_after(decide, prev, cur, limit, window=w, t=t, wait=retry_after):
                    too_short += 1
                if retry_after > 1 and _admits_after(
                    decide, prev, cur, limit, window=w, t=t, wait=retry_after - 1
                ):
                    too_long += 1
        while exact and exact[0] <= horizon:
            exact.popleft()
        if len(exact) < limit:
            exact.append(t)
            exact_admitted += 1
    # Would the exact log of what was admitted up to t admit again at t + retry_after (fewer
    # than `limit` admissions in the 60 s before that moment)?
    log_refuses = 0
    for refused_at, wait in refusals:
        upto = bisect.bisect_right(admitted_times, refused_at)
        since = bisect.bisect_right(admitted_times, refused_at + wait - WINDOW, 0, upto)
        if upto - since >= limit:
            log_refuses += 1
    stats.keys += 1
    stats.requests += len(times)
    stats.admitted += admitted
    stats.wrongly_admitted += wrong_admit
    stats.wrongly_refused += wrong_refuse
    stats.exact_admitted += exact_admitted
    stats.refusals += len(refusals)
    stats.retry_after_checked += checked
    stats.retry_after_too_short += too_short
    stats.retry_after_too_long += too_long
    stats.retry_after_log_refuses += log_refuses
    stats.limits.add(limit)
    stats.decisions += len(times) - shortcuts


CHUNKS = 4  # per class, so that two processes share the work evenly


def _simulate_chunk(name: str, chunk: int, seed: int, duration: float) -> ClassStats:
    generator, keys = CLASSES[name]
    rng = random.Random(f"{seed}:{name}:{chunk}")
    stats = ClassStats()
    for _ in range(keys // CHUNKS + (chunk < keys % CHUNKS)):
        limit = rng.choice(LIMITS)
        # Each key starts at its own phase of the fixed windows.
        offset = rng.uniform(0, WINDOW)
        times = [t + offset for t in generator(rng, limit, duration)]
        simulate_key(times, limit, sliding_window_decision, stats)
    return stats


def _merge(into: ClassStats, other: ClassStats) -> None:
    for name in (
        "keys",
        "requests",
        "admitted",
        "wrongly_admitted",
        "wrongly_refused",
        "exact_admitted",
        "refusals",
        "retry_after_checked",
        "retry_after_too_short",
        "retry_after_too_long",
        "retry_after_log_refuses",
        "decisions",
    ):
        setattr(into, name, getattr(into, name) + getattr(other, name))
    into.limits |= other.limits


def run(*, seed: int = 20_260_101, duration: float = 6 * WINDOW) -> dict[str, Any]:
    """The classes are independent: they run in parallel processes (the machine has 2 cores)."""
    started = time.perf_counter()
    tasks = [(name, chunk) for name in CLASSES for chunk in range(CHUNKS)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(_simulate_chunk, n, c, seed, duration) for n, c in tasks]
        per_class = {name: ClassStats() for name in CLASSES}
        for (name, _), future in zip(tasks, futures, strict=True):
            _merge(per_class[name], future.result())
    total = ClassStats()
    for stats in per_class.values():
        _merge(total, stats)
    if not all(s.requests for s in per_class.values()) or not total.retry_after_checked:
        raise NothingMeasured(f"empty sample: {per_class}")
    return {
        "seed": seed,
        "window_seconds": WINDOW,
        "duration_seconds": duration,
        "classes": {name: stats.report() for name, stats in per_class.items()},
        "all": total.report(),
        "cloudflare_reported_wrong_pct": 0.003,
        "simulation_seconds": time.perf_counter() - started,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
