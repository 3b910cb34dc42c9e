"""What every benchmark shares: the functions' environment, moto storage, timing, handlers."""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from lucent_dev import template as tpl

REGION = "us-east-1"


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


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Functions log JSON lines to stdout, as in Lambda; the bench sends them to /dev/null."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def handler(logical_id: str) -> tpl.Handler:
    """A fresh module, as a new container loads it."""
    return tpl.load_handler(tpl.functions()[logical_id], fresh=True)


def _loop_length(call: Callable[[int], Any], seconds: float) -> int:
    n = 1
    while True:
        start = time.process_time()
        for i in range(n):
            call(i)
        spent = time.process_time() - start
        if spent >= seconds / 4 or n >= 1 << 20:
            return max(1, int(n * (seconds / max(spent, 1e-9))))
        n *= 2


def _sample(call: Callable[[int], Any], n: int, offset: int) -> float:
    start = time.process_time()
    for i in range(offset, offset + n):
        call(i)
    return (time.process_time() - start) / n


def paired(
    floor: Callable[[int], Any],
    subject: Callable[[int], Any],
    *,
    min_seconds: float = 0.2,
    rounds: int = 7,
) -> tuple[float, float, float]:
    """(floor s/call, subject s/call, ratio): medians over rounds that alternate the two.

    Alternating puts both under the same noise (another process, a frequency change); the ratio
    is the median of each round's own ratio.
    """
    n_floor = _loop_length(floor, min_seconds)
    n_subject = _loop_length(subject, min_seconds)
    floors, subjects, ratios = [], [], []
    for r in range(rounds):
        f = _sample(floor, n_floor, r * n_floor)
        s = _sample(subject, n_subject, r * n_subject)
        floors.append(f)
        subjects.append(s)
        ratios.append(s / f)
    return statistics.median(floors), statistics.median(subjects), statistics.median(ratios)


def median(values: list[float]) -> float:
    return statistics.median(values)
