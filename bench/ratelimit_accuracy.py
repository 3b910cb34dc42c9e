"""(5) Rate limiter accuracy and cost: the production limiter against an exact sliding log.

What runs is production's: ``lucent.ratelimit.limiter.RateLimiter`` over
``lucent.ratelimit.store.RateLimitStore`` -- the same condition and update expressions, the same
per-container knowledge of each key, the same local refusals -- with several containers per key
(each request goes to one of them at random, as Lambda routes it). Only the table is in memory
(``bench.ratelimit_table``: it evaluates the store's expressions from the very ``update_item``
arguments); every run first replays >= 20,000 requests through moto (in-process ``mock_aws``) and
through the memory table and fails unless both give the same decisions, one by one, and the same
items.

The reference is an exact sliding log of what the limiter itself admitted: a decision is right iff
"fewer than ``limit`` admissions in the 60 s before it" gives the same answer. Wrongly admitted and
wrongly refused are reported per traffic class, in percent of that class's requests:

* **steady**: Poisson at 1-25% of the limit (never near it);
* **bursty**: quiet, then bursts of 0.5-3x the limit within 1-20 s every 1-7 minutes;
* **at the limit**: Poisson at 0.9-1.3x the limit, all the time.

Also measured: Retry-After against the limiter's own next admission (a fresh container asked at
``t + Retry-After`` must admit, at ``t + Retry-After - 1`` must refuse), DynamoDB writes and write
units per admitted and per refused request, the error clock skew between containers adds, and the
write cost and error of each tier (exact stamps, bounded buckets) from 100 to 10,000 per minute.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any

from bench.common import NothingMeasured
from bench.ratelimit_table import MemoryDynamoDB
from lucent.ratelimit.limiter import RateLimiter
from lucent.ratelimit.store import RateLimitStore
from lucent.ratelimit.window import BUCKET_US, EXACT_MAX_LIMIT, MINUTE_US, WINDOW_US

SECOND = 1_000_000
EPOCH_US = 1_767_225_600 * SECOND  # 2026-01-01T00:00:00Z
TABLE = "rate-limit-bench"
CONTAINERS = 4  # per key: each request goes to one of them at random
# Refusals checked: a sample (each check is two more decisions on a copy of the item), about
# as many per key whatever the limit.
RETRY_AFTER_SAMPLE_PER_LIMIT = 20
SKEW_US = 50_000  # +-50 ms between containers' clocks

Generator = Callable[[random.Random, int, int], list[int]]


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Tier:
    """Where the exact tier ends and the bounded tier's bucket width: production's by default."""

    exact_max_limit: int = EXACT_MAX_LIMIT
    bucket_us: int = BUCKET_US

    def limiter(self, store: RateLimitStore, clock: Clock, salt: int = 0) -> RateLimiter:
        return RateLimiter(
            store,
            clock=clock,
            exact_max_limit=self.exact_max_limit,
            bucket_us=self.bucket_us,
            salt=salt,  # fixed, so that moto and the memory table see the same requests
        )


# --- traffic (times in µs from the start of the trace) -------------------------------------------


def _poisson(rng: random.Random, per_minute: float, start: int, end: int) -> Iterator[int]:
    rate = per_minute / 60 / SECOND
    t = start + rng.expovariate(rate)
    while t < end:
        yield int(t)
        t += rng.expovariate(rate)


def steady(rng: random.Random, limit: int, duration: int) -> list[int]:
    return list(_poisson(rng, rng.uniform(0.01, 0.25) * limit, 0, duration))


def bursty(rng: random.Random, limit: int, duration: int) -> list[int]:
    times = list(_poisson(rng, rng.uniform(0.02, 0.1) * limit, 0, duration))
    t = rng.uniform(0, 90) * SECOND
    while t < duration:
        length = rng.uniform(1.0, 20.0) * SECOND
        count = int(limit * rng.uniform(0.5, 3.0))
        times.extend(int(rng.uniform(t, min(t + length, duration))) for _ in range(count))
        t += length + rng.uniform(60.0, 400.0) * SECOND
    times.sort()
    return times


def at_the_limit(rng: random.Random, limit: int, duration: int) -> list[int]:
    return list(_poisson(rng, rng.uniform(0.9, 1.3) * limit, 0, duration))


GENERATORS: dict[str, Generator] = {
    "steady": steady,
    "bursty": bursty,
    "at-the-limit": at_the_limit,
}
# limit -> keys per class, over six minutes: each limit >= 1.5 M requests.
ACCURACY: dict[int, dict[str, int]] = {
    100: {"steady": 7_500, "bursty": 1_500, "at-the-limit": 1_000},
    1_000: {"steady": 750, "bursty": 150, "at-the-limit": 100},
}
ACCURACY_MINUTES = 6
SKEW_KEYS = {"steady": 750, "bursty": 300, "at-the-limit": 300}  # at limit 100
TIER_MINUTES = 3
# The bounded tier as production runs it (the exact tier is the accuracy run above).
_BOUNDED_1S = Tier(exact_max_limit=0, bucket_us=SECOND)
TIERS: dict[tuple[str, int], tuple[Tier, dict[str, int]]] = {
    ("bounded 1 s", 2_000): (Tier(), {"steady": 4, "bursty": 8, "at-the-limit": 8}),
    ("bounded 1 s", 10_000): (Tier(), {"steady": 2, "bursty": 4, "at-the-limit": 4}),
}
# `python -m bench.ratelimit_accuracy designs`: the comparison the tier boundary and the bucket
# width were chosen from (docs/rate-limiting.md, "Tiers"); minutes of CPU, so not in every run.
# The exact design's item grows with the limit (its cost is the point: a few keys show it); the
# bounded designs' error needs more keys.
_FEW = {"steady": 2, "bursty": 2, "at-the-limit": 2}
_MANY = {"steady": 10, "bursty": 20, "at-the-limit": 20}
_SOME = {"steady": 2, "bursty": 6, "at-the-limit": 6}
_EXACT = Tier(exact_max_limit=10**9)
DESIGNS: dict[tuple[str, int], tuple[Tier, dict[str, int]]] = {
    **{("exact", limit): (_EXACT, _FEW) for limit in (100, 1_000, 2_000, 5_000, 10_000)},
    **{("bounded 1 s", limit): (_BOUNDED_1S, _MANY) for limit in (100, 1_000, 2_000, 10_000)},
    ("bounded 250 ms", 10_000): (Tier(exact_max_limit=0, bucket_us=SECOND // 4), _SOME),
    ("bounded 100 ms", 10_000): (Tier(exact_max_limit=0, bucket_us=SECOND // 10), _SOME),
}
CHUNKS = 4  # per (limit, class): two processes share the work evenly
# `make bench-quick` (every `make test`): every part of the section on a sample small enough for
# seconds, so that a broken limiter, table or replay fails the build; its figures are not kept.
QUICK_KEYS_DIVISOR = 100
QUICK_MINUTES = 2
# Keys of the moto replay in a quick run: every class, an old-shape item and the bounded tier.
QUICK_EQUIVALENCE_KEYS = ("at-limit-1", "bursty-0", "steady-0", "legacy-1", "bounded-1500")
MOTO_REPLAY_MIN_REQUESTS = 20_000  # the floor for the replay of a full run


# --- the simulation ------------------------------------------------------------------------------


@dataclass
class ClassStats:
    keys: int = 0
    requests: int = 0
    admitted: int = 0
    wrongly_admitted: int = 0
    wrongly_refused: int = 0
    exact_admitted: int = 0  # by an independent exact limiter on the same trace
    refused_locally: int = 0
    writes_admitted: int = 0
    writes_refused: int = 0
    wcu_admitted: int = 0
    wcu_refused: int = 0
    retry_after_checked: int = 0
    retry_after_too_early: int = 0
    retry_after_too_late: int = 0
    max_item_bytes: int = 0
    limits: set[int] = field(default_factory=set)

    def merge(self, other: ClassStats) -> None:
        for f in fields(self):
            if f.name == "limits":
                self.limits |= other.limits
            elif f.name == "max_item_bytes":
                self.max_item_bytes = max(self.max_item_bytes, other.max_item_bytes)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def report(self) -> dict[str, Any]:
        n = max(self.requests, 1)
        refused = self.requests - self.admitted
        return {
            "keys": self.keys,
            "requests": self.requests,
            "refused_pct": 100 * refused / n,
            "wrongly_admitted": self.wrongly_admitted,
            "wrongly_refused": self.wrongly_refused,
            "wrongly_admitted_pct": 100 * self.wrongly_admitted / n,
            "wrongly_refused_pct": 100 * self.wrongly_refused / n,
            "wrong_pct": 100 * (self.wrongly_admitted + self.wrongly_refused) / n,
            "total_admitted_diff_pct": 100 * (self.admitted - self.exact_admitted) / n,
            "refused_locally_pct_of_refusals": 100 * self.refused_locally / max(refused, 1),
            "writes_per_admitted": self.writes_admitted / max(self.admitted, 1),
            "writes_per_refused": self.writes_refused / max(refused, 1),
            "wcu_per_admitted": self.wcu_admitted / max(self.admitted, 1),
            "wcu_per_refused": self.wcu_refused / max(refused, 1),
            "wcu_per_refusal_write": self.wcu_refused / max(self.writes_refused, 1),
            "max_item_bytes": self.max_item_bytes,
            "retry_after_checked": self.retry_after_checked,
            "retry_after_too_early_pct_of_checked": 100
            * self.retry_after_too_early
            / max(self.retry_after_checked, 1),
            "retry_after_too_late_pct_of_checked": 100
            * self.retry_after_too_late
            / max(self.retry_after_checked, 1),
            "limits": sorted(self.limits),
        }


def _next_admission_agrees(
    table: MemoryDynamoDB, key: str, limit: int, *, tier: Tier, at_us: int, wait: int
) -> tuple[bool, bool]:
    """(too early, too late) for a Retry-After of ``wait`` seconds given at ``at_us``: asks a new
    container, over a copy of the key's item, at ``at_us + wait`` (must admit) and a second
    before (must refuse), as if no other request came in between."""
    copy = MemoryDynamoDB()
    table.copy_item(key, copy)
    clock = Clock()
    probe = tier.limiter(RateLimitStore(copy, TABLE), clock)  # type: ignore[arg-type]
    too_late = False
    if wait > 1:
        clock.now = (at_us + (wait - 1) * SECOND) / SECOND
        too_late = probe.acquire(key, limit).admitted
    clock.now = (at_us + wait * SECOND) / SECOND
    too_early = not probe.acquire(key, limit).admitted
    return too_early, too_late


def simulate_key(
    key: str,
    times: list[int],
    limit: int,
    stats: ClassStats,
    *,
    rng: random.Random,
    skews: tuple[int, ...] = (0,) * CONTAINERS,
    tier: Tier | None = None,
    table: Any = None,
    check_retry_after: bool = True,
) -> list[tuple[bool, int, int, int]]:
    """Every request of one key through ``len(skews)`` containers (clock offsets in µs), each
    judged against the exact log of what was admitted. Returns the decisions."""
    tier = tier or Tier()
    memory = table if table is not None else MemoryDynamoDB()
    ledger = memory.ledger if isinstance(memory, MemoryDynamoDB) else None
    clocks = [Clock() for _ in skews]
    store = RateLimitStore(memory, TABLE)  # type: ignore[arg-type]
    containers = [tier.limiter(store, clock, salt) for salt, clock in enumerate(clocks)]
    log: deque[int] = deque()  # what the limiter admitted, for judging its decisions
    exact: deque[int] = deque()  # an independent exact limiter
    decisions = []
    refusals = 0
    every = max(5, limit // RETRY_AFTER_SAMPLE_PER_LIMIT)
    for t in times:
        index = rng.randrange(len(containers))
        clocks[index].now = (t + skews[index]) / SECOND
        writes, units = (ledger.writes, ledger.write_units) if ledger else (0, 0)
        decision = containers[index].acquire(key, limit)
        decisions.append(
            (decision.admitted, decision.retry_after_seconds, decision.attempts, decision.count)
        )
        horizon = t - WINDOW_US
        while log and log[0] <= horizon:
            log.popleft()
        should = len(log) < limit
        if ledger is not None:
            writes, units = ledger.writes - writes, ledger.write_units - units
        if decision.admitted:
            stats.admitted += 1
            log.append(t)
            stats.wrongly_admitted += not should
            stats.writes_admitted += writes
            stats.wcu_admitted += units
        else:
            stats.wrongly_refused += should
            stats.writes_refused += writes
            stats.wcu_refused += units
            stats.refused_locally += decision.attempts == 0
            refusals += 1
            if check_retry_after and refusals % every == 0 and ledger:
                early, late = _next_admission_agrees(
                    memory,
                    key,
                    limit,
                    tier=tier,
                    at_us=t,
                    wait=decision.retry_after_seconds,
                )
                stats.retry_after_checked += 1
                stats.retry_after_too_early += early
                stats.retry_after_too_late += late
        while exact and exact[0] <= horizon:
            exact.popleft()
        if len(exact) < limit:
            exact.append(t)
            stats.exact_admitted += 1
    if isinstance(memory, MemoryDynamoDB):
        stats.max_item_bytes = max(stats.max_item_bytes, memory.item_bytes(key))
    stats.keys += 1
    stats.requests += len(times)
    stats.limits.add(limit)
    return decisions


@dataclass(frozen=True)
class Task:
    label: str
    limit: int
    traffic: str
    keys: int
    chunk: int
    minutes: int
    seed: int
    skew_us: int = 0
    tier: Tier = field(default_factory=Tier)


def _simulate_chunk(task: Task) -> tuple[str, ClassStats]:
    rng = random.Random(f"{task.seed}:{task.label}:{task.limit}:{task.traffic}:{task.chunk}")
    stats = ClassStats()
    generator = GENERATORS[task.traffic]
    for index in range(task.keys // CHUNKS + (task.chunk < task.keys % CHUNKS)):
        offset = int(rng.uniform(0, 60) * SECOND)  # each key at its own phase of the minute
        times = [
            EPOCH_US + offset + t for t in generator(rng, task.limit, task.minutes * MINUTE_US)
        ]
        skews = tuple(rng.randint(-task.skew_us, task.skew_us) for _ in range(CONTAINERS))
        simulate_key(
            f"cred_{task.chunk}_{index}",
            times,
            task.limit,
            stats,
            rng=rng,
            skews=skews,
            tier=task.tier,
        )
    return f"{task.label}|{task.limit}|{task.traffic}", stats


def _run_tasks(pool: ProcessPoolExecutor, tasks: list[Task]) -> dict[str, Any]:
    merged: dict[str, ClassStats] = {}
    # The longest first, so that the two processes finish together.
    ordered = sorted(tasks, key=lambda t: -t.limit * t.keys * t.minutes)
    for label, stats in pool.map(_simulate_chunk, ordered):
        merged.setdefault(label, ClassStats()).merge(stats)
    return {label: stats.report() for label, stats in merged.items()}


def _tasks(
    label: str, limit: int, keys: dict[str, int], minutes: int, seed: int, **kw: Any
) -> list[Task]:
    return [
        Task(label, limit, name, count, chunk, minutes, seed, **kw)
        for name, count in keys.items()
        for chunk in range(CHUNKS)
    ]


# --- equivalence with moto -----------------------------------------------------------------------


def _legacy_item(key: str, start_us: int, counts: tuple[int, int]) -> dict[str, Any]:
    """An item of the old per-minute-counter shape, as the previous release left it."""
    minute = start_us // MINUTE_US
    return {
        "pk": {"S": key},
        f"m{minute - 1}": {"N": str(counts[0])},
        f"m{minute}": {"N": str(counts[1])},
        "expires_at": {"N": str((minute + 2) * 60)},
    }


EquivalenceKey = tuple[str, int, list[int], tuple[int, ...], dict[str, Any] | None]


def _equivalence_trace(seed: int) -> list[EquivalenceKey]:
    """Keys covering every expression form the store emits: both tiers, a tier change, old-shape
    items, skewed clocks, concurrent containers; >= 20,000 requests in all."""
    rng = random.Random(f"{seed}:equivalence")
    keys: list[EquivalenceKey] = []

    def add(name: str, limit: int, times: list[int], legacy: tuple[int, int] | None = None) -> None:
        offset = EPOCH_US + int(rng.uniform(0, 60) * SECOND)
        absolute = [offset + t for t in times]
        skews = tuple(rng.randint(-SKEW_US, SKEW_US) for _ in range(3))
        item = _legacy_item(name, absolute[0], legacy) if legacy else None
        keys.append((name, limit, absolute, skews, item))

    for index in range(16):
        add(f"at-limit-{index}", 100, at_the_limit(rng, 100, 4 * MINUTE_US))
    for index in range(24):
        add(f"bursty-{index}", 100, bursty(rng, 100, 6 * MINUTE_US))
    for index in range(10):
        add(f"steady-{index}", 100, steady(rng, 100, 6 * MINUTE_US))
    add("exact-1000", 1_000, at_the_limit(rng, 1_000, 50 * SECOND))
    add("bounded-1500", 1_500, at_the_limit(rng, 1_500, 40 * SECOND))
    for index, counts in enumerate(((100, 40), (30, 99), (0, 100))):
        add(f"legacy-{index}", 100, at_the_limit(rng, 100, 2 * MINUTE_US), counts)
    # A tier change within the window: the same key, limit 100 then 2,000 then 100 again.
    _, _, first, skews, _ = keys[0]
    later = [t + 3 * MINUTE_US for t in at_the_limit(rng, 2_000, 40 * SECOND)]
    last = [later[-1] + t for t in at_the_limit(rng, 100, MINUTE_US)]
    keys.append(("at-limit-0", 2_000, [first[-1] + t for t in later], skews, None))
    keys.append(("at-limit-0", 100, [first[-1] + t for t in last], skews, None))
    return keys


def _run_equivalence_keys(client: Any, trace: list[EquivalenceKey]) -> list[Any]:
    out: list[Any] = []
    for name, limit, times, skews, item in trace:
        if item is not None:
            client.put_item(TableName=TABLE, Item=item)
        rng = random.Random(name)
        stats = ClassStats()
        out.append(
            simulate_key(
                name,
                times,
                limit,
                stats,
                rng=rng,
                skews=skews,
                table=client,
                check_retry_after=False,
            )
        )
        stored = client.get_item(TableName=TABLE, Key={"pk": {"S": name}}).get("Item", {})
        out.append(_normalised(stored))
    return out


def _normalised(item: dict[str, Any]) -> dict[str, Any]:
    return {
        k: {"NS": sorted(v["NS"], key=int)} if "NS" in v else v for k, v in sorted(item.items())
    }


EQUIVALENCE_PARTS = 2  # the keys are independent: the replay is shared by both processes


def check_equivalence(
    seed: int, part: int = 0, parts: int = 1, only: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The same decisions, one by one, and the same items, through moto and the memory table,
    for the keys of the trace in ``part`` (of ``parts``: whole keys, in turn), or only the keys
    named in ``only``."""
    import boto3
    from moto import mock_aws

    trace = _equivalence_trace(seed)
    names = list(dict.fromkeys(name for name, *_ in trace))
    mine = set(only) if only else set(names[part::parts])
    trace = [entry for entry in trace if entry[0] in mine]
    started = time.process_time()  # CPU: the other process may share the core
    memory = _run_equivalence_keys(MemoryDynamoDB(), trace)
    memory_seconds = time.process_time() - started
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        started = time.process_time()
        moto = _run_equivalence_keys(client, trace)
        moto_seconds = time.process_time() - started
    for (name, *_), ours, theirs in zip(trace, memory[::2], moto[::2], strict=True):
        for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            if a != b:
                raise AssertionError(f"{name}: request {index}: memory {a} != moto {b}")
    for (name, *_), ours, theirs in zip(trace, memory[1::2], moto[1::2], strict=True):
        if ours != theirs:
            raise AssertionError(f"{name}: items differ: memory {ours} != moto {theirs}")
    return {
        "requests": sum(len(times) for _, _, times, _, _ in trace),
        "decisions_compared": sum(len(decisions) for decisions in memory[::2]),
        "keys": len(mine),
        "moto": "in-process mock_aws",
        "moto_seconds": moto_seconds,
        "memory_seconds": memory_seconds,
    }


def _merge_equivalence(parts: list[dict[str, Any]], *, min_requests: int) -> dict[str, Any]:
    merged = {
        key: sum(part[key] for part in parts)
        for key in ("requests", "decisions_compared", "keys", "moto_seconds", "memory_seconds")
    }
    if merged["requests"] < min_requests or merged["decisions_compared"] < merged["requests"]:
        raise NothingMeasured(f"the moto replay compared too little: {merged}")
    return {**merged, "moto": parts[0]["moto"], "processes": len(parts)}


# --- the whole section ---------------------------------------------------------------------------


def _scaled(keys: dict[str, int], quick: bool) -> dict[str, int]:
    """The keys of each class, a hundredth (at least ``CHUNKS``) in a quick run."""
    if not quick:
        return keys
    return {name: max(CHUNKS, count // QUICK_KEYS_DIVISOR) for name, count in keys.items()}


def _check_measured(results: dict[str, Any]) -> None:
    for label, report in results.items():
        if not report["requests"] or not report["keys"]:
            raise NothingMeasured(f"{label}: an empty sample: {report}")
    refusals = [r for label, r in results.items() if label.endswith("|at-the-limit")]
    if not refusals or not all(r["refused_pct"] > 0 for r in refusals):
        raise NothingMeasured(f"traffic at the limit was never refused: {refusals}")
    if not any(r["retry_after_checked"] for r in results.values()):
        raise NothingMeasured("no Retry-After was checked")


def run(*, seed: int = 20_260_101, quick: bool = False) -> dict[str, Any]:
    started = time.perf_counter()
    minutes = QUICK_MINUTES if quick else ACCURACY_MINUTES
    tier_minutes = QUICK_MINUTES if quick else TIER_MINUTES
    tasks = []
    for limit, keys in ACCURACY.items():
        tasks += _tasks("accuracy", limit, _scaled(keys, quick), minutes, seed)
    tasks += _tasks("skew", 100, _scaled(SKEW_KEYS, quick), minutes, seed, skew_us=SKEW_US)
    for (design, limit), (tier, keys) in TIERS.items():
        tasks += _tasks(f"tier:{design}", limit, keys, tier_minutes, seed, tier=tier)
    # The replay through moto (the longest task: moto parses every expression anew) goes first,
    # a half in each process; the simulation fills in behind it.
    with ProcessPoolExecutor(max_workers=2) as pool:
        if quick:
            replays = [pool.submit(check_equivalence, seed, only=QUICK_EQUIVALENCE_KEYS)]
        else:
            replays = [
                pool.submit(check_equivalence, seed, part, EQUIVALENCE_PARTS)
                for part in range(EQUIVALENCE_PARTS)
            ]
        results = _run_tasks(pool, tasks)
        equivalence = _merge_equivalence(
            [replay.result() for replay in replays],
            min_requests=1 if quick else MOTO_REPLAY_MIN_REQUESTS,
        )
    _check_measured(results)
    accuracy: dict[str, dict[str, Any]] = {}
    skew: dict[str, Any] = {}
    tiers: dict[str, dict[str, Any]] = {}
    for label, report in results.items():
        kind, limit_text, name = label.split("|")
        if kind == "accuracy":
            accuracy.setdefault(limit_text, {})[name] = report
        elif kind == "skew":
            skew[name] = report
        else:
            tiers.setdefault(f"{kind.removeprefix('tier:')}|{limit_text}", {})[name] = report
    return {
        "seed": seed,
        "quick": quick,
        "minutes": minutes,
        "containers_per_key": CONTAINERS,
        "exact_max_limit": EXACT_MAX_LIMIT,
        "bucket_seconds": BUCKET_US / SECOND,
        "equivalence": equivalence,
        "accuracy": accuracy,
        "skew_ms": SKEW_US / 1000,
        "skew": skew,
        "tiers": tiers,
        "cloudflare_reported_wrong_pct": 0.003,
        "simulation_seconds": time.perf_counter() - started,
    }


def compare_designs(*, seed: int = 20_260_101) -> dict[str, Any]:
    """Write units and wrong decisions of each design at each limit: the numbers behind
    EXACT_MAX_LIMIT and BUCKET_US."""
    tasks = []
    for (design, limit), (tier, keys) in DESIGNS.items():
        tasks += _tasks(f"{design}", limit, keys, TIER_MINUTES, seed, tier=tier)
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = _run_tasks(pool, tasks)
    designs: dict[str, dict[str, Any]] = {}
    for label, report in results.items():
        design, limit_text, name = label.split("|")
        designs.setdefault(f"{design}|{limit_text}", {})[name] = report
    return designs


def _print_designs(designs: dict[str, dict[str, Any]]) -> None:
    print(
        "| limit / min | design | WCU per admission (at the limit) | WCU per refusing write "
        "| item at most | wrong admitted / refused, % (steady; bursty; at the limit) |"
    )
    print("|---|---|---|---|---|---|")
    order = sorted(designs, key=lambda k: (int(k.split("|")[1]), k))
    for design_limit in order:
        design, limit = design_limit.split("|")
        classes = designs[design_limit]
        at = classes["at-the-limit"]
        wrong = "; ".join(
            f"{classes[name]['wrongly_admitted_pct']:.3f} / {classes[name]['wrongly_refused_pct']:.3f}"
            for name in ("steady", "bursty", "at-the-limit")
        )
        print(
            f"| {int(limit):,} | {design} | {at['wcu_per_admitted']:.2f} "
            f"| {at['wcu_per_refusal_write']:.2f} | {at['max_item_bytes']:,} B | {wrong} |"
        )


if __name__ == "__main__":
    import json
    import sys

    if sys.argv[1:] == ["equivalence"]:
        merged = _merge_equivalence(
            [check_equivalence(20_260_101)], min_requests=MOTO_REPLAY_MIN_REQUESTS
        )
        print(json.dumps(merged, indent=2))
    elif sys.argv[1:] == ["designs"]:
        _print_designs(compare_designs())
    else:
        print(json.dumps(run(), indent=2, default=sorted))
