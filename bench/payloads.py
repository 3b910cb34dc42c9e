"""Replay batches shaped like the rrweb SDK's: a meta event, a full DOM snapshot, then incremental
snapshots (mouse moves, clicks, scrolls, inputs, DOM mutations), seeded so every run is the same.

The mix follows what rrweb records on an ordinary page (tests/browser records a real one): most
events are small incremental snapshots; the full snapshot carries most of the bytes.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from typing import Any

META, FULL_SNAPSHOT, INCREMENTAL = 4, 2, 3
MUTATION, MOUSE_MOVE, MOUSE_INTERACTION, SCROLL, INPUT = 0, 1, 2, 3, 5
_WORDS = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "checkout",
    "cart",
    "button",
    "submit",
    "search",
    "results",
    "account",
]


class _Ids:
    def __init__(self) -> None:
        self.next = 1

    def __call__(self) -> int:
        value = self.next
        self.next += 1
        return value


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def _element(rng: random.Random, ids: _Ids, depth: int) -> dict[str, Any]:
    tag = rng.choice(("div", "section", "span", "p", "a", "li", "button", "input"))
    node: dict[str, Any] = {
        "type": 2,
        "tagName": tag,
        "attributes": {"class": f"c-{rng.randrange(1000)} {rng.choice(_WORDS)}"},
        "childNodes": [],
        "id": ids(),
    }
    if tag == "a":
        node["attributes"]["href"] = f"/{rng.choice(_WORDS)}/{rng.randrange(10_000)}"
    if depth > 0:
        for _ in range(rng.randrange(1, 5)):
            node["childNodes"].append(_element(rng, ids, depth - 1))
    else:
        node["childNodes"].append({"type": 3, "textContent": _text(rng, 6), "id": ids()})
    return node


def _full_snapshot(rng: random.Random, ids: _Ids, ts: int, nodes: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": 2,
        "tagName": "body",
        "attributes": {},
        "childNodes": [],
        "id": ids(),
    }
    while ids.next < nodes:
        body["childNodes"].append(_element(rng, ids, 3))
    html = {
        "type": 2,
        "tagName": "html",
        "attributes": {"lang": "en"},
        "childNodes": [
            {"type": 2, "tagName": "head", "attributes": {}, "childNodes": [], "id": ids()},
            body,
        ],
        "id": ids(),
    }
    return {
        "type": FULL_SNAPSHOT,
        "timestamp": ts,
        "data": {
            "node": {"type": 0, "childNodes": [html], "id": ids()},
            "initialOffset": {"left": 0, "top": 0},
        },
    }


def _incremental(rng: random.Random, ts: int, max_id: int) -> dict[str, Any]:
    roll = rng.random()
    data: dict[str, Any]
    if roll < 0.55:
        data = {
            "source": MOUSE_MOVE,
            "positions": [
                {
                    "x": rng.randrange(1280),
                    "y": rng.randrange(800),
                    "id": rng.randrange(1, max_id),
                    "timeOffset": -50 * k,
                }
                for k in range(rng.randrange(1, 8))
            ],
        }
    elif roll < 0.70:
        data = {
            "source": MOUSE_INTERACTION,
            "type": rng.randrange(7),
            "id": rng.randrange(1, max_id),
            "x": rng.randrange(1280),
            "y": rng.randrange(800),
        }
    elif roll < 0.85:
        data = {"source": SCROLL, "id": 1, "x": 0, "y": rng.randrange(5000)}
    elif roll < 0.93:
        data = {
            "source": INPUT,
            "text": _text(rng, rng.randrange(1, 4)),
            "isChecked": False,
            "id": rng.randrange(1, max_id),
        }
    else:
        data = {
            "source": MUTATION,
            "texts": [{"id": rng.randrange(1, max_id), "value": _text(rng, 5)}],
            "attributes": [
                {"id": rng.randrange(1, max_id), "attributes": {"class": rng.choice(_WORDS)}}
            ],
            "removes": [],
            "adds": [
                {
                    "parentId": rng.randrange(1, max_id),
                    "nextId": None,
                    "node": {
                        "type": 2,
                        "tagName": "li",
                        "attributes": {},
                        "childNodes": [],
                        "id": max_id + rng.randrange(10_000),
                    },
                }
            ],
        }
    return {"type": INCREMENTAL, "timestamp": ts, "data": data}


def rrweb_events(count: int, *, seed: int = 7, snapshot_nodes: int = 400) -> list[dict[str, Any]]:
    """``count`` events: meta + full snapshot (``snapshot_nodes`` DOM nodes) + incrementals."""
    rng = random.Random(seed)
    ids = _Ids()
    ts = 1_767_225_600_000
    events: list[dict[str, Any]] = [
        {
            "type": META,
            "timestamp": ts,
            "data": {"href": "https://shop.example/checkout", "width": 1280, "height": 800},
        }
    ]
    if count > 1:
        events.append(_full_snapshot(rng, ids, ts + 5, snapshot_nodes))
    max_id = ids.next
    while len(events) < count:
        ts += rng.randrange(5, 120)
        events.append(_incremental(rng, ts, max_id))
    return events[:count]


def batch_bytes(
    events: list[dict[str, Any]], *, session_id: str | None = None, sequence: int = 0
) -> bytes:
    """The JSON body the SDK sends (compact separators, as JSON.stringify writes)."""
    body = {
        "session_id": session_id or str(uuid.UUID(int=random.Random(len(events)).getrandbits(128))),
        "sequence": sequence,
        "events": events,
    }
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def gzipped(raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=6, mtime=0)
