"""(1) Ingest warm CPU per batch against the floor of the work no ingest can avoid.

The floor is what any ingest must do with a batch: base64-decode the event body, gunzip it (when
gzip), parse the JSON, and make the same two AWS calls with bare boto3 -- the ``UpdateItem`` that
counts the request and the ``PutObject`` that stores the batch, with the very parameters the
function passed (captured from one of its calls), through the same Replayer. So the ratio shows
only what our code adds: validation, the key, gzip of a plain-JSON body, the rate-limit rule,
logging and metrics. botocore's serialising, signing, checksumming and parsing are in both; the
network in neither.

Floor and subject alternate over rounds, each sample starting from a full collection with the
garbage collector off (``common.paired``), so the figures are repeatable; every figure is
reported with its spread (min, median, max over rounds). The largest batch is measured a second
time with the collector on, as it runs in Lambda: parsing 5,000 events makes millions of objects,
and the collections they trigger are a cost of their own.
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


def floor_of(
    event: dict[str, Any],
    gzipped: bool,
    clients: tuple[Any, Any],
    update: dict[str, Any],
    put: dict[str, Any],
) -> Callable[[int], Any]:
    """Decode, gunzip, parse, then the function's UpdateItem and PutObject with bare boto3."""
    body_b64 = event["body"]
    dynamodb, s3 = clients

    def floor(_: int) -> Any:
        raw = base64.b64decode(body_b64)
        parsed = json.loads(gzip.decompress(raw) if gzipped else raw)
        dynamodb.update_item(**update)
        s3.put_object(**put)
        return parsed

    return floor


def _sampling(batch: Batch, quick: bool) -> dict[str, Any]:
    if quick:  # small and typical batches only
        return {"min_seconds": 0.02, "rounds": 3}
    big = batch.name == "largest"
    return {"min_seconds": 0.4 if big else 0.15, "rounds": 7 if big else 9}


def run(quick: bool = False) -> dict[str, Any]:
    rig = IngestRig()
    results: dict[str, Any] = {}
    with rig.warm() as handler:
        replayer = rig.replayer
        assert replayer is not None
        clients = rig.bare_clients()
        for batch in batches(largest=not quick):
            event = rig.event(batch.body)
            with replayer.capture() as params:
                answer = handler(event, rig.context)
            assert answer["statusCode"] == 200, answer
            assert json.loads(answer["body"])["events_stored"] == batch.events
            floor = floor_of(
                event, batch.gzip, clients, params["dynamodb.UpdateItem"], params["s3.PutObject"]
            )

            def ingest(_: int, event: dict[str, Any] = event) -> Any:
                return handler(event, rig.context)

            # Both sides must make exactly the two calls, through the Replayer: anything else
            # means one of them measures a different amount of AWS work (or none).
            for side, call in (("floor", floor), ("ingest", ingest)):
                served, _ = replayer.calls_of(functools.partial(call, 0))
                if served != STORED:
                    raise NothingMeasured(f"{batch.name}: the {side} made {served}, not {STORED}")
            variants = [(batch.name, False)]
            if batch.name == "largest":
                variants.append(("largest, collector on", True))
            for name, collector in variants:
                before = replayer.served["s3.PutObject"]
                measured = common.paired(
                    floor,
                    ingest,
                    collector=collector,
                    what=f"ingest, {name} batch",
                    **_sampling(batch, quick),
                )
                stored = replayer.served["s3.PutObject"] - before
                if stored != measured.floor_calls + measured.subject_calls:
                    raise NothingMeasured(
                        f"{name}: {stored} PutObject answered for "
                        f"{measured.floor_calls + measured.subject_calls} calls measured"
                    )
                results[name] = {
                    "events": batch.events,
                    "body_bytes": len(batch.body),
                    "json_bytes": batch.json_bytes,
                    "gzip": batch.gzip,
                    "collector": collector,
                    **measured.as_dict(),
                }
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
