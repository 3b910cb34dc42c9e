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


def cpu_per_call(
    call: Callable[[int], Any], *, min_seconds: float = 0.25, repeats: int = 5
) -> float:
    """Median CPU seconds per call of ``call(i)`` over ``repeats`` rounds of >= ``min_seconds``.

    Process CPU time (user + system), not wall time: other work on a noisy machine does not
    count, and everything the call does in this process (botocore, JSON, gzip) does.
    """
    n = 1
    while True:  # calibrate the loop length
        start = time.process_time()
        for i in range(n):
            call(i)
        spent = time.process_time() - start
        if spent >= min_seconds / 4 or n >= 1 << 20:
            break
        n *= 2
    n = max(1, int(n * (min_seconds / max(spent, 1e-9))))
    samples = []
    offset = n
    for _ in range(repeats):
        start = time.process_time()
        for i in range(offset, offset + n):
            call(i)
        samples.append((time.process_time() - start) / n)
        offset += n
    return statistics.median(samples)


def median(values: list[float]) -> float:
    return statistics.median(values)
