"""A real browser against the local API: Debian's chromium, driven by Playwright.

The page (tests/browser/page/) records itself with rrweb from npm and sends its batches the three
ways the SDK does: fetch with a JSON body, fetch with a body gzipped by ``CompressionStream``
(both with ``X-Lucent-Api-Key``, so both preflighted), and ``navigator.sendBeacon`` on pagehide
(``text/plain``, ``?api_key=``, no preflight). The page is served from another origin than the
API, so every rule of CORS applies. Needs ``npm ci --prefix tests/browser`` (``make test`` runs it).
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lucent.auth.credentials import CredentialKind, issue_credential
from lucent.auth.store import CredentialStore
from lucent_dev.local_api import LocalApi

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
RRWEB = HERE / "node_modules" / "rrweb" / "dist" / "rrweb.umd.cjs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ORG = "org_browser"


class _LockedLog(io.StringIO):
    """The local API's request log (one line per request), written from its server threads."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            return super().write(text)

    def lines(self) -> list[str]:
        with self._lock:
            return self.getvalue().splitlines()


class _StaticFiles(SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 - the base class's own attribute
        **SimpleHTTPRequestHandler.extensions_map,
        ".cjs": "text/javascript",
        ".js": "text/javascript",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def request_log() -> _LockedLog:
    return _LockedLog()


@pytest.fixture(scope="module")
def api(request_log: _LockedLog) -> Iterator[LocalApi]:
    with LocalApi(port=0, log=request_log) as local:
        yield local


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The test page and node_modules, on their own origin (another port than the API)."""
    assert RRWEB.is_file(), f"{RRWEB} is missing: run npm ci --prefix tests/browser"
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_StaticFiles, directory=str(HERE))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _public_key(api: LocalApi, **options: Any) -> str:
    assert api.aws is not None
    issued = issue_credential(CredentialKind.PUBLIC, ORG, label="browser test", **options)
    CredentialStore(api.aws.client("dynamodb"), api.names["CredentialsTable"]).put(issued)
    return issued.secret


def _objects(api: LocalApi, prefix: str) -> dict[str, bytes]:
    assert api.aws is not None
    s3 = api.aws.client("s3")
    bucket = api.names["ReplayBucket"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def _wait_for_objects(api: LocalApi, prefix: str, count: int) -> dict[str, bytes]:
    """The beacon is sent after the page is gone: poll until it has landed (or give up)."""
    deadline = time.monotonic() + 20
    while True:
        found = _objects(api, prefix)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _interact(page: Any, round_: int) -> None:
    page.fill("#email", f"shopper{round_}@example.com")
    page.click("#add")
    page.mouse.move(40 + round_ * 10, 60)
    page.mouse.move(200, 120 + round_ * 10)
    page.fill("#note", f"note {round_}")
    # rrweb emits mutation and input events asynchronously: let them arrive before a flush.
    page.wait_for_function(f"document.querySelectorAll('#list li').length === {round_ + 1}")
    page.wait_for_timeout(100)


def test_rrweb_batches_from_fetch_gzip_and_beacon_land_in_s3_exactly(
    api: LocalApi, site: str, browser: Any, request_log: _LockedLog
) -> None:
    key = _public_key(api)
    page = browser.new_page()
    page.goto(f"{site}/page/index.html?api={api.url}&key={key}")
    page.wait_for_function("window.lucent && window.lucent.recorded.length >= 2")
    session_id = page.evaluate("lucent.sessionId")

    _interact(page, 0)
    first = page.evaluate("lucent.flushJson()")
    _interact(page, 1)
    second = page.evaluate("lucent.flushGzip()")
    _interact(page, 2)
    page.goto(f"{site}/page/after.html")  # pagehide: the page sends its last batch as a beacon
    record = json.loads(page.evaluate("localStorage.getItem('lucent-test')"))
    page.close()

    sent = record["sent"]
    assert [b["transport"] for b in sent] == ["fetch-json", "fetch-gzip", "beacon"]
    assert record["queued"] is True
    for answer, batch in ((first, sent[0]), (second, sent[1])):
        assert answer["status"] == 200, answer
        assert answer["json"] == {
            "session_id": session_id,
            "sequence": batch["sequence"],
            "events_stored": batch["count"],
        }
    assert all(b["count"] > 0 for b in sent)

    prefix = f"replays/{ORG}/{session_id}/"
    stored = _wait_for_objects(api, prefix, 3)
    assert sorted(stored) == [f"{prefix}{seq:010d}.json.gz" for seq in range(3)]
    replayed: list[Any] = []
    for batch in sent:
        raw = gzip.decompress(stored[f"{prefix}{batch['sequence']:010d}.json.gz"])
        # Byte for byte what the page sent, whichever way it was sent.
        assert raw == batch["body"].encode("utf-8"), batch["transport"]
        replayed.extend(json.loads(raw)["events"])
    # Every event rrweb recorded, in order, nothing else.
    assert replayed == record["recorded"]
    assert {e["type"] for e in replayed} >= {2, 3, 4}  # full snapshot, incremental, meta

    # The fetches (custom header, JSON content type, Content-Encoding) were preflighted by the
    # browser itself: its OPTIONS reached the API and got a 204, or the fetches would have failed.
    preflights = [line for line in request_log.lines() if line.startswith("OPTIONS /api/sdk/")]
    assert preflights, request_log.lines()
    assert all(" 204 " in line for line in preflights)
    # The beacon's ?api_key= never reaches the log in clear (the local API redacts it). (Its own
    # log line may be missing: the browser can drop a beacon's connection before the answer.)
    assert all(key not in line for line in request_log.lines())


def test_page_reads_error_bodies_and_retry_after_across_origins(
    api: LocalApi, site: str, browser: Any
) -> None:
    limited = _public_key(api, rate_limit=1)
    page = browser.new_page()
    page.goto(f"{site}/page/index.html?api={api.url}&key={limited}")
    page.wait_for_function("window.lucent !== undefined")
    body = json.dumps(
        {
            "session_id": "browser-errors",
            "sequence": 0,
            "events": [{"type": 4, "timestamp": 1, "data": {}}],
        }
    )

    missing = page.evaluate("body => lucent.send({body: body})", body)
    assert missing["status"] == 401, missing
    assert missing["json"] == {"error": "Missing API key"}

    unknown = page.evaluate(
        "body => lucent.send({body: body, key: 'luc_pk_0000000000000000000000000000000000000000'})",
        body,
    )
    assert unknown["status"] == 401, unknown
    assert unknown["json"] == {"error": "Invalid or revoked API key"}

    admitted = page.evaluate(
        "([body, key]) => lucent.send({body: body, key: key})", [body, limited]
    )
    assert admitted["status"] == 200, admitted
    refused = page.evaluate("([body, key]) => lucent.send({body: body, key: key})", [body, limited])
    assert refused["status"] == 429, refused
    assert refused["json"] == {"error": "Rate limit exceeded"}
    assert refused["retryAfter"] is not None, "Retry-After is not exposed to the page"
    assert 1 <= int(refused["retryAfter"]) <= 120
    page.close()


def test_preflight_allows_the_documented_headers(api: LocalApi) -> None:
    request = urllib.request.Request(
        f"{api.url}/api/sdk/replay",
        method="OPTIONS",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,content-encoding,x-lucent-api-key",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204
        allowed = {
            h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
        }
        assert allowed == {"content-type", "content-encoding", "x-lucent-api-key"}
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
