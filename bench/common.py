"""What every benchmark shares: the functions' environment, moto storage, timing, handlers, and
the checks that make a section fail when it measured nothing."""

from __future__ import annotations

import contextlib
import gc
import math
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lucent_dev import template as tpl

REGION = "us-east-1"


class NothingMeasured(RuntimeError):
    """A section measured nothing (no calls, an empty sample, a zero or NaN figure, a child
    process that failed). Raised instead of reporting a figure computed from nothing."""


def positive(value: float, what: str) -> float:
    """``value`` if it is a finite number above zero; else NothingMeasured naming ``what``."""
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise NothingMeasured(f"{what} is {value!r}: nothing was measured")
    return value


@dataclass(frozen=True)
class Spread:
    """Min, median and max of a sample of positive figures (rounds of one measurement)."""

    min: float
    median: float
    max: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float], what: str) -> Spread:
        if not values:
            raise NothingMeasured(f"{what}: empty sample")
        for value in values:
            positive(value, what)
        return cls(min(values), statistics.median(values), max(values), len(values))

    def as_dict(self) -> dict[str, float]:
        return {"min": self.min, "median": self.median, "max": self.max, "n": self.n}


def child_process(args: list[str], *, what: str, timeout: float, **kwargs: Any) -> str:
    """Run a child process to completion and return its stdout; NothingMeasured (with the end of
    its stderr) when it fails, so a crashed child never becomes a figure."""
    try:
        result = subprocess.run(
            args, capture_output=True, text=True, check=True, timeout=timeout, **kwargs
        )
    except subprocess.CalledProcessError as exc:
        tail = "\n".join((exc.stderr or "").strip().splitlines()[-15:])
        raise NothingMeasured(f"{what}: the child exited with {exc.returncode}:\n{tail}") from exc
    except subprocess.TimeoutExpired as exc:
        raise NothingMeasured(f"{what}: the child ran over {timeout} s") from exc
    if not result.stdout.strip():
        raise NothingMeasured(f"{what}: the child printed nothing")
    stdout: str = result.stdout
    return stdout


def function_env() -> dict[str, str]:
    """The environment every function sees locally: fake credentials and resource names."""
    names = {lid: kw["TableName"] for lid, kw in tpl.table_definitions().items()}
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "Lucent",
        "POWERTOOLS_SERVICE_NAME": "bench",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "CREDENTIALS_TABLE": names["CredentialsTable"],
        "RATE_LIMIT_TABLE": names["RateLimitTable"],
        "DATA_TABLE": names["DataTable"],
        "REPLAY_BUCKET": tpl.physical_name("ReplayBucket"),
    }


def apply_env() -> None:
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(key, None)
    os.environ.update(function_env())


@contextlib.contextmanager
def moto_storage() -> Iterator[dict[str, str]]:
    """In-process moto with every table and bucket of template.yaml (logical id -> name)."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        names = tpl.create_storage(
            boto3.client("dynamodb", region_name=REGION), boto3.client("s3", region_name=REGION)
        )
        yield names


# One sink for the whole run, never closed: a thread that swapped sys.stdout meanwhile (the local
# API's detection pipeline, in the throughput section) may restore this very object later.
_DEVNULL = open(os.devnull, "w")  # noqa: SIM115


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Functions log JSON lines to stdout, as in Lambda; the bench sends them to /dev/null."""
    with contextlib.redirect_stdout(_DEVNULL):
        yield


def handler(logical_id: str) -> tpl.Handler:
    """A fresh module, as a new container loads it."""
    return tpl.load_handler(tpl.functions()[logical_id], fresh=True)


class _Calls:
    """One side of a paired measurement. Every call gets the next index, over calibration and all
    rounds, so a caller that needs a fresh input per call (an authorizer cache miss) gets one."""

    def __init__(self, call: Callable[[int], Any], max_calls: int | None, collector: bool) -> None:
        self.call = call
        self.made = 0
        self.max_calls = max_calls
        self.collector = collector

    def cpu_seconds(self, n: int) -> float:
        """Process CPU time of ``n`` calls, after a full collection; the collector stays off
        during the calls unless ``collector``.

        The collector runs when allocations cross its thresholds, so a collection caused by an
        earlier round's garbage lands in whichever later sample crosses the line: that made the
        largest batch's figure swing between runs. Starting every sample from a full collection
        makes the collector's work repeatable; turning it off leaves it out entirely.
        """
        first = self.made
        if self.max_calls is not None and first + n > self.max_calls:
            raise NothingMeasured(
                f"needs {first + n} distinct inputs, has {self.max_calls}: add inputs"
            )
        self.made += n
        call = self.call
        was_enabled = gc.isenabled()
        gc.collect()
        if not self.collector:
            gc.disable()
        try:
            start = time.process_time()
            for i in range(first, first + n):
                call(i)
            return time.process_time() - start
        finally:
            if was_enabled:
                gc.enable()

    def loop_length(self, seconds: float) -> int:
        """How many calls take about ``seconds`` of CPU (doubling until a quarter of it)."""
        n = 1
        while True:
            spent = self.cpu_seconds(n)
            if spent >= seconds / 4 or n >= 1 << 20:
                return max(1, int(n * (seconds / max(spent, 1e-9))))
            n *= 2


@dataclass(frozen=True)
class Paired:
    """Seconds per call of a floor and a subject, and the subject/floor ratio, over rounds."""

    floor: Spread
    subject: Spread
    ratio: Spread
    floor_calls: int  # in all, calibration included
    subject_calls: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "floor_seconds": self.floor.as_dict(),
            "subject_seconds": self.subject.as_dict(),
            "ratio": self.ratio.as_dict(),
            "rounds": self.ratio.n,
            "floor_calls": self.floor_calls,
            "subject_calls": self.subject_calls,
        }


def paired(
    floor: Callable[[int], Any],
    subject: Callable[[int], Any],
    *,
    min_seconds: float = 0.2,
    rounds: int = 7,
    max_calls: int | None = None,
    collector: bool = False,
    what: str,
) -> Paired:
    """Floor and subject, alternating round by round; each round's ratio is its own.

    Alternating puts both under the same noise (another process, a frequency change); the
    reported ratio is the median of the per-round ratios, with their min and max beside it.
    ``max_calls`` bounds the distinct inputs each side may be given (indices 0..max_calls-1);
    ``collector`` leaves the garbage collector on during the calls (see ``_Calls``).
    """
    sides = _Calls(floor, max_calls, collector), _Calls(subject, max_calls, collector)
    if not collector:
        # What exists now (modules, clients, the batch) stays out of every later collection, so
        # the full collection before each sample costs little. Not with the collector on: in a
        # warm container its collections do walk all of that, and that cost is being measured.
        gc.collect()
        gc.freeze()
    try:
        n_floor, n_subject = (side.loop_length(min_seconds) for side in sides)
        floors, subjects, ratios = [], [], []
        for _ in range(rounds):
            f = positive(sides[0].cpu_seconds(n_floor) / n_floor, f"{what}: floor CPU per call")
            s = positive(sides[1].cpu_seconds(n_subject) / n_subject, f"{what}: CPU per call")
            floors.append(f)
            subjects.append(s)
            ratios.append(s / f)
    finally:
        if not collector:
            gc.unfreeze()
    return Paired(
        floor=Spread.of(floors, f"{what}: floor"),
        subject=Spread.of(subjects, what),
        ratio=Spread.of(ratios, f"{what}: ratio"),
        floor_calls=sides[0].made,
        subject_calls=sides[1].made,
    )


def require_finite(result: Mapping[str, Any], where: str = "") -> None:
    """NothingMeasured if any number anywhere in a section's result is NaN or infinite."""
    for key, value in result.items():
        path = f"{where}.{key}" if where else str(key)
        if isinstance(value, Mapping):
            require_finite(value, path)
        elif isinstance(value, list):
            require_finite({str(i): v for i, v in enumerate(value)}, path)
        elif isinstance(value, float) and not math.isfinite(value):
            raise NothingMeasured(f"{path} is {value!r}")
