"""(1) Ingest warm CPU per batch against the floor of decoding the same bytes.

The floor is what any ingest must do with a batch: base64-decode the event body, gunzip it (when
gzip) and parse the JSON. The function does that plus validation, the rate-limit UpdateItem, the
PutObject (botocore serialising, signing, checksumming, parsing: all counted; the network is not),
logging and metrics.

Floor and subject alternate over rounds, each sample starting from a full collection with the
garbage collector off (``common.paired``), so the figures are repeatable; every figure is
reported with its spread (min, median, max over rounds).
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
from collections.abc import Callable
from typing import Any

from bench import common
from bench.common import NothingMeasured
from bench.ingest_rig import Batch, IngestRig, batches

STORED = {"dynamodb.UpdateItem": 1, "s3.PutObject": 1}


def floor_of(event: dict[str, Any], gzipped: bool) -> Callable[[int], Any]:
    """Decode, gunzip and parse the event's body."""
    body_b64 = event["body"]

    def floor(_: int) -> Any:
        raw = base64.b64decode(body_b64)
        return json.loads(gzip.decompress(raw) if gzipped else raw)

    return floor


def _sampling(batch: Batch, quick: bool) -> dict[str, Any]:
    big = batch.name == "largest"
    if quick:
        return {"min_seconds": 0.02, "rounds": 2 if big else 3}
    return {"min_seconds": 0.4 if big else 0.15, "rounds": 7 if big else 9}


def run(quick: bool = False) -> dict[str, Any]:
    rig = IngestRig()
    results: dict[str, Any] = {}
    with rig.warm() as handler:
        replayer = rig.replayer
        assert replayer is not None
        for batch in batches(largest=not quick):
            event = rig.event(batch.body)
            answer = handler(event, rig.context)
            assert answer["statusCode"] == 200, answer
            assert json.loads(answer["body"])["events_stored"] == batch.events
            floor = floor_of(event, batch.gzip)

            def ingest(_: int, event: dict[str, Any] = event) -> Any:
                return handler(event, rig.context)

            # The function must make its two calls through the Replayer: anything else means
            # it measures a different amount of AWS work (or none, or the network).
            served, _ = replayer.calls_of(functools.partial(ingest, 0))
            if served != STORED:
                raise NothingMeasured(f"{batch.name}: the function made {served}, not {STORED}")
            before = replayer.served["s3.PutObject"]
            measured = common.paired(
                floor, ingest, what=f"ingest, {batch.name} batch", **_sampling(batch, quick)
            )
            stored = replayer.served["s3.PutObject"] - before
            if stored != measured.subject_calls:
                raise NothingMeasured(
                    f"{batch.name}: {stored} PutObject answered for {measured.subject_calls} "
                    "batches measured"
                )
            results[batch.name] = {
                "events": batch.events,
                "body_bytes": len(batch.body),
                "json_bytes": batch.json_bytes,
                "gzip": batch.gzip,
                **measured.as_dict(),
            }
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
