"""Detection end to end in a real Chromium: rrweb 2.2.2 and the console plugin record a page with a
dead button, a product image clicked three times, a button that throws and an input a secret is
typed into; the batches go through the real ingest API of the local API (make dev), S3, SQS and
the detection function; the Data API must then serve exactly the expected issues, signals and
timeline, and the secret must be nowhere. Needs ``npm ci --prefix tests/browser``."""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from lucent.auth.credentials import CredentialKind, issue_credential
from lucent.auth.store import CredentialStore
from lucent_dev.local_api import LocalApi
from tests.browser.test_browser import CHROMIUM, CHROMIUM_ARGS, HERE, _StaticFiles

pytestmark = pytest.mark.browser

ORG = "org_browser_detect"
SECRET = "hunter2-SECRET-7781"
USER = "shopper-1"
PLUGIN = HERE / "node_modules" / "@rrweb" / "rrweb-plugin-console-record" / "dist"
DEAD = "main#shop > form > button.btn.primary:nth-of-type(1)"
IMAGE = "main#shop > div.products > div.card:nth-of-type(2) > img.product-image"
ERROR_TITLE = "TypeError: Cannot read properties of undefined (reading 'items')"


class _Tee(io.StringIO):
    """Everything the functions print (their JSON logs), from every thread."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            return super().write(text)


@pytest.fixture(scope="module")
def logs() -> _Tee:
    return _Tee()


@pytest.fixture(scope="module")
def api(logs: _Tee) -> Iterator[LocalApi]:
    # function_logs: the functions' INFO logs are printed (into ``logs``) so they can be checked.
    with LocalApi(port=0, log=logs, function_logs=True) as local:
        yield local


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    assert (PLUGIN / "rrweb-plugin-console-record.umd.cjs").is_file(), "run npm ci"
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_StaticFiles, directory=str(HERE))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Client:
    """The Data API and the ingest API over HTTP, keeping every answer's bytes."""

    def __init__(self, api: LocalApi) -> None:
        import urllib.request

        self._request = urllib.request
        self.url = api.url
        assert api.aws is not None
        store = CredentialStore(api.aws.client("dynamodb"), api.names["CredentialsTable"])
        public = issue_credential(CredentialKind.PUBLIC, ORG, label="detection browser test")
        reader = issue_credential(CredentialKind.API, ORG)
        store.put(public)
        store.put(reader)
        self.public_key = public.secret
        self._token = reader.secret
        self.answers: list[bytes] = []

    def get(self, path: str) -> Any:
        request = self._request.Request(
            self.url + path, headers={"Authorization": f"Bearer {self._token}"}
        )
        with self._request.urlopen(request, timeout=30) as response:
            body = response.read()
        self.answers.append(body)
        return json.loads(body)

    def post_batch(self, body: str) -> None:
        request = self._request.Request(
            self.url + "/api/sdk/replay",
            data=body.encode(),
            method="POST",
            headers={"Content-Type": "application/json", "X-Lucent-Api-Key": self.public_key},
        )
        with self._request.urlopen(request, timeout=30) as response:
            self.answers.append(response.read())
            assert response.status == 200

    def issues(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get("/api/v1/issues?limit=100")["items"]
        return items

    def wait_for(self, check: Any, seconds: float = 10) -> Any:
        deadline = time.monotonic() + seconds
        while True:
            issues = self.issues()
            if check(issues) or time.monotonic() > deadline:
                return issues
            time.sleep(0.1)


def summary(issues: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, int, int]]:
    return {
        (i["kind"], i["selector"] or i["title"]): (
            i["occurrences"],
            i["sessions_affected"],
            i["users_affected"],
        )
        for i in issues
    }


def expected(sessions: int) -> dict[tuple[str, str], tuple[int, int, int]]:
    return {
        ("dead_click", DEAD): (sessions, sessions, 1),
        ("rage_click", IMAGE): (sessions, sessions, 1),
        ("error_click", "button#checkout"): (sessions, sessions, 1),
        ("js_error", ERROR_TITLE): (sessions, sessions, 1),
    }


def play(page: Any) -> list[Any]:
    """The shop scenario (as tests/fixtures/sessions/record_sessions.py), flushing four batches
    through the real ingest API; returns the page's answers."""
    answers = []
    page.click("#add")
    page.wait_for_timeout(400)
    page.click("text=Save draft")
    page.wait_for_timeout(3000)
    page.mouse.move(20, 20)
    page.wait_for_timeout(700)
    answers.append(page.evaluate("lucentDetection.flush()"))
    page.click(".card:nth-of-type(2) img", click_count=3)
    page.wait_for_timeout(600)
    answers.append(page.evaluate("lucentDetection.flush()"))
    page.click("#card")
    page.keyboard.type(SECRET)
    page.wait_for_timeout(1500)
    page.click("#checkout")
    page.wait_for_timeout(300)
    answers.append(page.evaluate("lucentDetection.flush()"))
    page.wait_for_timeout(2900)
    page.mouse.move(30, 30)
    page.wait_for_timeout(700)
    answers.append(page.evaluate("lucentDetection.flush()"))
    return answers


def dynamodb_text(api: LocalApi) -> str:
    assert api.aws is not None
    dynamodb = api.aws.client("dynamodb")

    def inflate(value: Any) -> Any:
        return gzip.decompress(value).decode() if isinstance(value, bytes) else str(value)

    everything = []
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            everything += page["Items"]
    return json.dumps(everything, default=inflate)


def test_a_real_session_becomes_exactly_its_issues_and_the_secret_goes_nowhere(
    api: LocalApi, site: str, logs: _Tee
) -> None:
    # The functions write their JSON logs to whatever sys.stdout is when they log; pytest swaps
    # it between phases, so it is redirected here, for the test's whole run.
    with contextlib.redirect_stdout(logs):
        _check_session(api, site, logs)


def _check_session(api: LocalApi, site: str, logs: _Tee) -> None:
    from playwright.sync_api import sync_playwright

    client = Client(api)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{site}/page/detection.html?api={api.url}&key={client.public_key}&user={USER}")
        page.wait_for_function("window.lucentDetection && lucentDetection.recorded.length >= 2")
        session = page.evaluate("lucentDetection.sessionId")
        answers = play(page)
        bodies: list[str] = page.evaluate("lucentDetection.bodies")
        recorded = json.dumps(page.evaluate("lucentDetection.recorded"))
        browser.close()
    assert [a["status"] for a in answers] == [200, 200, 200, 200], answers
    assert SECRET[:8] in recorded  # rrweb did record the typing: there is something to leak

    issues = client.wait_for(lambda found: summary(found) == expected(1))
    assert summary(issues) == expected(1)
    assert all(i["status"] == "open" for i in issues)

    signals = client.get("/api/v1/signals?limit=100")["items"]
    assert {s["session_id"] for s in signals} == {session}
    by_issue = {i["id"]: i for i in issues}
    assert sorted((s["kind"], by_issue[s["issue_id"]]["kind"]) for s in signals) == [
        ("dead_click", "dead_click"),
        ("error_click", "error_click"),
        ("js_error", "js_error"),
        ("rage_click", "rage_click"),
    ]
    texts = {s["kind"]: s["text"] for s in signals}
    assert texts == {
        "dead_click": "Save draft",
        "rage_click": "Blue mug",
        "error_click": "Checkout",
        "js_error": None,
    }

    timeline = client.get(f"/api/v1/sessions/{session}/timeline?limit=100")["items"]
    clicks = [(e["selector"], e["text"]) for e in timeline if e["kind"] == "click"]
    assert clicks == [
        ("button#add", "Add to cart"),
        (DEAD, "Save draft"),
        (IMAGE, "Blue mug"),
        (IMAGE, "Blue mug"),
        (IMAGE, "Blue mug"),
        ("input#card", None),
        ("button#checkout", "Checkout"),
    ]
    assert [e["selector"] for e in timeline if e["kind"] == "input"] == ["input#card"]

    # The SDK re-sends every batch: nothing changes.
    for body in bodies:
        client.post_batch(body)
    time.sleep(2)
    assert summary(client.issues()) == expected(1)

    # The same batches, out of order, as a second session of the same user.
    second = f"{session}-again"
    for index in (2, 0, 3, 1):
        document = json.loads(bodies[index])
        document["session_id"] = second
        client.post_batch(json.dumps(document))
    issues = client.wait_for(lambda found: summary(found) == expected(2))
    assert summary(issues) == expected(2)
    second_timeline = client.get(f"/api/v1/sessions/{second}/timeline?limit=100")["items"]
    assert [e for e in second_timeline if e["kind"] == "click"] == [
        e for e in timeline if e["kind"] == "click"
    ]

    # The secret is nowhere: not in DynamoDB, not in any log line, not in any answer.
    assert SECRET not in dynamodb_text(api)
    assert "hunter2" not in dynamodb_text(api)
    log_text = logs.getvalue()
    assert '"message":"detection"' in log_text  # the function's logs were captured
    assert "hunter2" not in log_text
    for answer in client.answers:
        assert b"hunter2" not in answer
    sys.stderr.write(f"detection browser test: {len(client.answers)} answers checked\n")
