"""Load: concurrent clients with several keys against a LocalApi, whose functions talk to moto's
HTTP server (the rate limiter's conditional UpdateItem races for real across server threads).

Every key sends twice its limit at once, from several clients. Within one minute window each key
must be admitted exactly ``limit`` times -- no more (the limiter is the only guard) and no fewer
(nothing refused while there was room) -- every admitted batch must be in S3 as sent, and no
refused batch may be.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from lucent_dev.local_api import LocalApi
from tests.integration.live_api import Reply, batch, ingest, public_key, stored_objects

ORG = "org_load"
LIMITS = (3, 7, 12, 25)
CLIENTS = 8


@pytest.fixture(scope="module")
def api(shared_api: LocalApi) -> LocalApi:
    return shared_api  # conftest.py: one LocalApi for the modules that need nothing special


def _burst(
    api: LocalApi, attempt: int
) -> tuple[dict[str, int], list[tuple[str, int, Reply]], bool]:
    keys = {public_key(api, ORG, rate_limit=limit): limit for limit in LIMITS}
    # Interleave keys so that every key is hit by several clients at the same time.
    work = [
        (key, f"load-{attempt}-{limit}", seq)
        for seq in range(2 * max(LIMITS))
        for key, limit in keys.items()
        if seq < 2 * limit
    ]

    def one(item: tuple[str, str, int]) -> tuple[str, int, Reply]:
        key, session, seq = item
        return session, seq, ingest(api, key, batch(session, seq), compress=seq % 2 == 1)

    minute = int(time.time() // 60)
    with ThreadPoolExecutor(CLIENTS) as pool:
        replies = list(pool.map(one, work))
    same_window = int(time.time() // 60) == minute
    return {f"load-{attempt}-{limit}": limit for limit in keys.values()}, replies, same_window


def test_each_key_is_admitted_exactly_up_to_its_limit_and_every_admitted_batch_is_stored(
    api: LocalApi,
) -> None:
    # The exact count holds within one minute window; a burst that straddles two windows (it
    # takes a few seconds) is run again with new keys.
    for attempt in range(3):
        limits, replies, same_window = _burst(api, attempt)
        if same_window:
            break
    else:  # pragma: no cover - three straddles in a row cannot happen in three minutes
        pytest.fail("every burst straddled a minute boundary")

    admitted: Counter[str] = Counter()
    expected: dict[str, bytes] = {}
    for session, seq, reply in replies:
        if reply.status == 200:
            assert reply.json() == {"session_id": session, "sequence": seq, "events_stored": 3}
            admitted[session] += 1
            key = f"replays/{ORG}/{session}/{seq:010d}.json.gz"
            expected[key] = json.dumps(batch(session, seq)).encode()
        else:
            assert reply.status == 429, (reply.status, reply.body)
            assert reply.json() == {"error": "Rate limit exceeded"}
            retry_after = reply.header("Retry-After")
            assert retry_after is not None
            assert 1 <= int(retry_after) <= 120
            assert reply.header("Access-Control-Expose-Headers") == "Retry-After"
    assert dict(admitted) == limits

    stored: dict[str, Any] = {
        key: gzip.decompress(data)
        for key, data in stored_objects(api, f"replays/{ORG}/load-{attempt}-").items()
    }
    # Exactly the admitted batches, byte for byte as sent (gzip or not).
    assert stored == expected
