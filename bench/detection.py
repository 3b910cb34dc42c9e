"""Detection's figures (docs/detection.md, docs/performance.md): ``run() -> dict``.

1. CPU per batch, typical and largest, against the floor of decoding and parsing that batch
   (gunzip + ``json.loads`` of the stored object). The subject is all of detection's own work on
   it: decode and parse, load the session's state (gunzip + JSON + mirror rebuild), the detector's
   pass, and the new state saved (JSON + gzip). AWS calls are counted in (2), not timed here.
2. DynamoDB writes per batch: API calls and items written by the service, over a session of
   typical batches against moto (state, signals, timeline chunk, issues: batched where possible).
3. Peak memory (tracemalloc) of detecting one 5,000-event batch, from its stored bytes.
Its cold start is in section 3 (bench/coldstart.py), measured like every other function's.
"""

from __future__ import annotations

import gzip
import json
import sys
import tracemalloc
from typing import Any

from bench import common, payloads
from lucent.detection.detector import SessionDetector
from lucent.detection.store import STATE_GZIP_LEVEL, decode_batch_object

ORG = "org_bench"
# The largest batch ingest accepts (lucent.ingest.batch.MAX_EVENTS), with a big page.
LARGEST_EVENTS = 5_000
LARGEST_SNAPSHOT_NODES = 3_000


def _state_blob(state: dict[str, Any]) -> bytes:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return gzip.compress(raw, compresslevel=STATE_GZIP_LEVEL, mtime=0)


def _batches() -> dict[str, tuple[bytes, bytes | None]]:
    """name -> (stored object, the session's state before it, as stored; None: first batch)."""
    first = payloads.rrweb_events(200)  # meta, a 400-node snapshot, incrementals
    later = payloads.rrweb_events(222)[22:]  # a later flush of the same page: incrementals only
    detector = SessionDetector()
    detector.feed(first)
    largest = payloads.rrweb_events(LARGEST_EVENTS, snapshot_nodes=LARGEST_SNAPSHOT_NODES)
    return {
        "typical, first batch (200 events)": (
            payloads.gzipped(payloads.batch_bytes(first)),
            None,
        ),
        "typical, later batch (200 events)": (
            payloads.gzipped(payloads.batch_bytes(later, sequence=1)),
            _state_blob(detector.state()),
        ),
        f"largest ({LARGEST_EVENTS} events)": (
            payloads.gzipped(payloads.batch_bytes(largest)),
            None,
        ),
    }


def _detect(stored: bytes, state_blob: bytes | None) -> bytes:
    batch = decode_batch_object(stored)
    assert batch is not None
    state = json.loads(gzip.decompress(state_blob)) if state_blob is not None else None
    detector = SessionDetector(state)
    detector.feed(batch["events"])
    return _state_blob(detector.state())


def cpu(quick: bool = False) -> dict[str, Any]:
    out = {}
    for name, (stored, state_blob) in _batches().items():
        big = name.startswith("largest")

        def floor(_: int, stored: bytes = stored) -> Any:
            return json.loads(gzip.decompress(stored))

        def subject(_: int, stored: bytes = stored, state_blob: bytes | None = state_blob) -> Any:
            return _detect(stored, state_blob)

        measured = common.paired(
            floor,
            subject,
            min_seconds=0.02 if quick else (0.4 if big else 0.15),
            rounds=2 if quick else (5 if big else 7),
            what=f"detection of {name}",
        )
        new_state = _detect(stored, state_blob)
        out[name] = {
            "stored_bytes": len(stored),
            "json_bytes": len(gzip.decompress(stored)),
            "state_bytes_after": len(new_state),
            **measured.as_dict(),
        }
    return out


def writes() -> dict[str, Any]:
    """Calls and items per batch over one session of 6 batches with signals, against moto."""
    import boto3

    from lucent.detection.service import DetectionService, replay_key
    from lucent.detection.store import DetectionStore

    common.apply_env()
    events = payloads.rrweb_events(1_200)
    parts = [
        [*events[i : i + 200], *_errors(events[i + 199]["timestamp"])] for i in range(0, 1_200, 200)
    ]
    with common.moto_storage() as names:
        dynamodb = boto3.client("dynamodb", region_name=common.REGION)
        s3 = boto3.client("s3", region_name=common.REGION)
        calls: dict[str, int] = {}

        def count(event_name: str, **_: Any) -> None:
            operation = event_name.rsplit(".", 1)[-1]
            calls[operation] = calls.get(operation, 0) + 1

        dynamodb.meta.events.register("before-call.dynamodb.*", count)
        store = DetectionStore(dynamodb, names["DataTable"], s3, names["ReplayBucket"])
        service = DetectionService(store)
        rows: list[dict[str, Any]] = []
        for sequence, part in enumerate(parts):
            key = replay_key(ORG, "bench-session", sequence)
            body = payloads.batch_bytes(part, session_id="bench-session", sequence=sequence)
            s3.put_object(Bucket=names["ReplayBucket"], Key=key, Body=gzip.compress(body))
            calls.clear()
            before = store.writes
            outcome = service.handle_object(key)
            assert outcome is not None
            assert outcome.processed == [sequence]
            rows.append(
                {
                    "sequence": sequence,
                    "signals": outcome.signals,
                    "items_written": store.writes - before,
                    "calls": dict(sorted(calls.items())),
                }
            )
    total_items = sum(int(r["items_written"]) for r in rows)
    write_calls = sum(n for r in rows for op, n in r["calls"].items() if op in _WRITE_CALLS)
    return {
        "batches": rows,
        "items_written_per_batch": total_items / len(rows),
        "write_calls_per_batch": write_calls / len(rows),
    }


_WRITE_CALLS = ("PutItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems")


def _errors(ts: int) -> list[dict[str, Any]]:
    """Two issues in every batch: the same uncaught error and the same failing request."""
    console = {
        "plugin": "rrweb/console@1",
        "payload": {
            "level": "error",
            "trace": ["render (https://shop.example/app.js:10:5)"],
            "payload": ['"Uncaught TypeError: cart is undefined"'],
        },
    }
    network = {
        "plugin": "rrweb/network@1",
        "payload": {"requests": [{"name": "https://api.example/orders/12", "responseStatus": 502}]},
    }
    return [
        {"type": 6, "timestamp": ts + 1, "data": console},
        {"type": 6, "timestamp": ts + 2, "data": network},
    ]


def memory() -> dict[str, Any]:
    stored, _ = _batches()[f"largest ({LARGEST_EVENTS} events)"]
    tracemalloc.start()
    _detect(stored, None)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "events": LARGEST_EVENTS,
        "stored_bytes": len(stored),
        "json_bytes": len(gzip.decompress(stored)),
        "peak_bytes": peak,
    }


def run(quick: bool = False) -> dict[str, Any]:
    result = {"cpu": cpu(quick), "writes": writes(), "memory": memory()}
    if result["writes"]["write_calls_per_batch"] <= 0:
        raise common.NothingMeasured("detection: no DynamoDB write counted")
    common.positive(result["memory"]["peak_bytes"], "detection: peak memory")
    return result


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
