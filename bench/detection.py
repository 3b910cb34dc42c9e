"""Detection's figures (docs/detection.md, docs/performance.md): ``run() -> dict``.

1. CPU per batch, typical and largest, against the floor of decoding and parsing that batch
   (gunzip + ``json.loads`` of the stored object). The subject is all of detection's own work on
   it: decode and parse, load the session's state (gunzip + JSON + mirror rebuild), the detector's
   pass, and the new state saved (JSON + gzip). AWS calls are counted in (2), not timed here.
2. DynamoDB writes per batch: API calls and items written by the service, over a session of
   typical batches against moto (state, signals, timeline chunk, issues: batched where possible).
3. Peak memory (tracemalloc) of detecting one 5,000-event batch, from its stored bytes.
4. The worst batches ingest accepts (``WORST_SHAPES`` at their largest accepted size): the
   detector's pass (``SessionDetector.feed``) against the floor of gunzip + ``json.loads`` of the
   same stored object, and its peak memory. The bound is documented in docs/performance.md and
   must stay far below the detection handler's time reserve (``MIN_REMAINING_MS``).
Its cold start is in section 3 (bench/coldstart.py), measured like every other function's.
"""

from __future__ import annotations

import gzip
import json
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench import common, payloads
from lucent.detection.detector import SessionDetector
from lucent.detection.store import STATE_GZIP_LEVEL, decode_batch_object
from lucent.ingest.batch import MAX_BODY_BYTES, MAX_DECOMPRESSED_BYTES, MAX_EVENTS, parse_batch

ORG = "org_bench"
# The largest batch ingest accepts (lucent.ingest.batch.MAX_EVENTS), with a big page.
LARGEST_EVENTS = 5_000
LARGEST_SNAPSHOT_NODES = 3_000


# --- the worst batches ingest accepts -------------------------------------------------------------
#
# Each shape aims at one cost of the node mirror that used to grow with the product of two sizes
# (issue 17): filled up to ingest's limits (MAX_DECOMPRESSED_BYTES of JSON, MAX_EVENTS events),
# it is the worst batch of its kind any public key can send. ``ident`` makes the node ids (tests
# pass an int subclass that counts the comparisons made on them).

Ident = Callable[[int], int]
T0 = 1_767_225_600_000
LIST, LAST = 10, 11  # the container of each shape, and the node that stays last in it


def _el(
    ident: Ident, node_id: int, tag: str = "i", children: Any = (), **attrs: str
) -> dict[str, Any]:
    return {
        "type": 2,
        "tagName": tag,
        "attributes": attrs,
        "childNodes": list(children),
        "id": ident(node_id),
    }


def _page(ident: Ident, *children: dict[str, Any]) -> list[dict[str, Any]]:
    body = _el(ident, 3, "body", children)
    html = _el(ident, 2, "html", [body])
    snapshot = {"node": {"type": 0, "id": ident(1), "childNodes": [html]}}
    return [
        {"type": 4, "timestamp": T0, "data": {"href": "https://shop.example/p"}},
        {"type": 2, "timestamp": T0, "data": snapshot},
    ]


def _click(ident: Ident, ms: int, node: int) -> dict[str, Any]:
    # 2 s apart: no rage burst, and every click's dead-click window closes.
    data = {"source": 2, "type": 2, "id": ident(node), "x": 100, "y": 100}
    return {"type": 3, "timestamp": T0 + ms, "data": data}


def _mutation(ms: int, **changes: Any) -> dict[str, Any]:
    data = {"source": 0, "adds": [], "removes": [], "texts": [], "attributes": [], **changes}
    return {"type": 3, "timestamp": T0 + ms, "data": data}


def _chunks(items: list[Any], size: int = 1_000) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def button_clicks(n: int, ident: Ident = int, clicks: int = MAX_EVENTS - 2) -> list[Any]:
    """A button holding ``n`` empty <i>, clicked ``clicks`` times: its text was walked each time."""
    button = _el(ident, LIST, "button", [_el(ident, 100 + i) for i in range(n)])
    return [*_page(ident, button), *(_click(ident, 2_000 * (k + 1), LIST) for k in range(clicks))]


def next_id_adds(n: int, ident: Ident = int) -> list[Any]:
    """``n`` adds, each before the node that stays last (``nextId``): a list index, then insert."""
    adds = [
        {"parentId": ident(LIST), "nextId": ident(LAST), "node": _el(ident, 100 + i)}
        for i in range(n)
    ]
    page = _page(ident, _el(ident, LIST, "div", [_el(ident, LAST)]))
    return [*page, *(_mutation(k + 1, adds=chunk) for k, chunk in enumerate(_chunks(adds)))]


def removes(n: int, ident: Ident = int) -> list[Any]:
    """A list of ``n`` <i>, then each removed, last first: a list scan and a shift each."""
    page = _page(ident, _el(ident, LIST, "div", [_el(ident, 100 + i) for i in range(n)]))
    gone = [{"parentId": ident(LIST), "id": ident(100 + i)} for i in reversed(range(n))]
    return [*page, *(_mutation(k + 1, removes=chunk) for k, chunk in enumerate(_chunks(gone)))]


def mutation_clicks(n: int, ident: Ident = int, pairs: int = (MAX_EVENTS - 2) // 2) -> list[Any]:
    """``n`` sibling buttons; a mutation before each click on one of them: every cached
    selector was cleared, and :nth-of-type listed all siblings each time."""
    target = 100 + min(n - 1, 5_000)
    buttons = [_el(ident, 100 + i, "button") for i in range(n)]
    events = _page(ident, _el(ident, LIST, "div", buttons))
    for k in range(pairs):
        change = [{"id": ident(LIST), "attributes": {"title": f"t{k % 2}"}}]
        events += [
            _mutation(2_000 * k + 1, attributes=change),
            _click(ident, 2_000 * k + 2, target),
        ]
    return events


def editable_toggles(n: int, ident: Ident = int, subtree: int = 5_000) -> list[Any]:
    """A <div> of ``subtree`` texts made contenteditable, then not, ``n`` times: each time the
    whole subtree was walked to blank its text."""
    texts = [{"type": 3, "textContent": "x", "id": ident(100 + i)} for i in range(subtree)]
    events = _page(ident, _el(ident, LIST, "div", texts))
    flips = [
        {"id": ident(LIST), "attributes": {"contenteditable": "true" if i % 2 == 0 else "false"}}
        for i in range(n)
    ]
    return [*events, *(_mutation(k + 1, attributes=c) for k, c in enumerate(_chunks(flips)))]


def deep_texts(n: int, ident: Ident = int, depth: int = 70) -> list[Any]:
    """A text below ``depth`` nested <div>, changed ``n`` times: each change walked up to 64
    ancestors to learn whether its text may be kept."""
    node: dict[str, Any] = {"type": 3, "textContent": "x", "id": ident(LAST)}
    for level in range(depth):
        node = _el(ident, 100 + level, "div", [node])
    events = _page(ident, _el(ident, LIST, "div", [node]))
    changes = [{"id": ident(LAST), "value": f"v{i % 10}"} for i in range(n)]
    return [*events, *(_mutation(k + 1, texts=c) for k, c in enumerate(_chunks(changes)))]


def long_class(n: int, ident: Ident = int, pairs: int = (MAX_EVENTS - 2) // 2) -> list[Any]:
    """A button whose class lists ``n`` names, clicked after a mutation each time: every
    selector split the whole attribute and tested each name."""
    classes = " ".join(f"c{i:06x}" for i in range(n))
    events = _page(ident, _el(ident, LIST, "button", **{"class": classes}))
    for k in range(pairs):
        change = [{"id": ident(LIST), "attributes": {"title": f"t{k % 2}"}}]
        events += [_mutation(2_000 * k + 1, attributes=change), _click(ident, 2_000 * k + 2, LIST)]
    return events


Shape = Callable[..., list[Any]]
# name -> (shape, the size a session reported in issue 17, when there is one)
WORST_SHAPES: dict[str, tuple[Shape, int | None]] = {
    "button of empty <i>, clicked": (button_clicks, 16_000),
    "adds before the last node (nextId)": (next_id_adds, 20_000),
    "removes, last first": (removes, 20_000),
    "mutation before each click, wide list": (mutation_clicks, None),
    "contenteditable toggled on a subtree": (editable_toggles, None),
    "text changes 70 levels deep": (deep_texts, None),
    "long class attribute, mutation before each click": (long_class, None),
}


def body_size(events: list[Any]) -> int:
    return len(payloads.batch_bytes(events))


def accepted(events: list[Any]) -> bool:
    """Whether ingest takes this batch: its JSON within MAX_DECOMPRESSED_BYTES (and its other
    limits: parse_batch), its gzip within MAX_BODY_BYTES."""
    raw = payloads.batch_bytes(events)
    if len(raw) > MAX_DECOMPRESSED_BYTES or len(payloads.gzipped(raw)) > MAX_BODY_BYTES:
        return False
    parse_batch(raw)  # raises if ingest would refuse it
    return True


def largest(shape: Shape, ident: Ident = int) -> int:
    """The largest ``n`` of ``shape`` whose batch ingest accepts."""
    small, big = 1_000, 2_000
    a, b = body_size(shape(small)), body_size(shape(big))
    n = int(small + (MAX_DECOMPRESSED_BYTES - a) * (big - small) / (b - a))
    while not accepted(shape(n, ident)):
        n -= max(1, n // 100)
    return n


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


# Sizes for a quick run (tests): the shapes as issue 17 reported them, or small.
QUICK_SIZE = 2_000


def worst(quick: bool = False) -> dict[str, Any]:
    """Each worst shape at ingest's largest accepted size: feed time vs floor, and peak memory."""
    out: dict[str, Any] = {}
    for name, (shape, _) in WORST_SHAPES.items():
        n = QUICK_SIZE if quick else largest(shape)
        stored = payloads.gzipped(payloads.batch_bytes(shape(n)))
        events = decode_batch_object(stored)
        assert events is not None

        def floor(_: int, stored: bytes = stored) -> Any:
            return json.loads(gzip.decompress(stored))

        def subject(_: int, batch: list[Any] = events["events"]) -> Any:
            return SessionDetector().feed(batch)

        measured = common.paired(
            floor,
            subject,
            min_seconds=0.02 if quick else 0.3,
            rounds=2 if quick else 3,
            what=f"detection of the worst batch: {name}",
        )
        tracemalloc.start()
        SessionDetector().feed(events["events"])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out[name] = {
            "size": n,
            "events": len(events["events"]),
            "stored_bytes": len(stored),
            "peak_bytes": common.positive(peak, f"peak memory of {name}"),
            **measured.as_dict(),
        }
    if not out:
        raise common.NothingMeasured("detection: no worst batch measured")
    return out


def run(quick: bool = False) -> dict[str, Any]:
    result = {"cpu": cpu(quick), "writes": writes(), "memory": memory(), "worst": worst(quick)}
    if result["writes"]["write_calls_per_batch"] <= 0:
        raise common.NothingMeasured("detection: no DynamoDB write counted")
    common.positive(result["memory"]["peak_bytes"], "detection: peak memory")
    return result


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
