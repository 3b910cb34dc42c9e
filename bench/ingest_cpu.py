"""(1) Ingest warm CPU per batch against the floor of decoding the same bytes.

The floor is what any ingest must do with a batch: base64-decode the event body, gunzip it (when
gzip) and parse the JSON. The function does that plus validation, the rate-limit UpdateItem, the
PutObject (botocore serialising, signing, checksumming, parsing: all counted; the network is not),
logging and metrics.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from bench import common
from bench.ingest_rig import IngestRig, batches


def run() -> dict[str, Any]:
    rig = IngestRig()
    results: dict[str, Any] = {}
    with rig.warm() as handler:
        for batch in batches():
            event = rig.event(batch.body)
            answer = handler(event, rig.context)
            assert answer["statusCode"] == 200, answer
            assert json.loads(answer["body"])["events_stored"] == batch.events
            body_b64 = event["body"]
            unzip = batch.gzip

            def floor(_: int, body_b64: str = body_b64, unzip: bool = unzip) -> Any:
                raw = base64.b64decode(body_b64)
                return json.loads(gzip.decompress(raw) if unzip else raw)

            big = batch.name == "largest"

            def ingest(_: int, event: dict[str, Any] = event) -> Any:
                return handler(event, rig.context)

            floor_s, ingest_s, ratio = common.paired(
                floor,
                ingest,
                min_seconds=0.4 if big else 0.15,
                rounds=5 if big else 7,
            )
            results[batch.name] = {
                "events": batch.events,
                "body_bytes": len(batch.body),
                "json_bytes": batch.json_bytes,
                "gzip": batch.gzip,
                "floor_seconds": floor_s,
                "ingest_seconds": ingest_s,
                "ratio": ratio,
            }
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
