"""The local API over real HTTP: every API, CORS, base64, limits, unknown routes, dev.json, S3.

One ``LocalApi`` (embedded moto server, demo data, functions from template.yaml) serves the whole
module on a free port; requests go through ``http.client`` like any client's.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import io
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from lucent.http import Reply as GatewayReply
from lucent_dev import demo, identity
from lucent_dev import template as tpl
from lucent_dev.gateway import MAX_REQUEST_BYTES, HttpRequest, reply_from_proxy
from lucent_dev.local_api import LocalApi, LocalApiError
from lucent_dev.target import local_target
from tests.integration.live_api import LocalApis

INGEST = "/api/sdk/replay"
ISSUES = "/api/v1/issues"
ROLES = demo.roles()
PK = ROLES["public_key"]
INGEST_CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After"}
INGEST_GATEWAY_HEADERS = {"Content-Type": "application/json", **INGEST_CORS}


@pytest.fixture(scope="module")
def state_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lucent") / "dev.json"


@pytest.fixture(scope="module")
def log() -> io.StringIO:
    return io.StringIO()


@pytest.fixture(scope="module")
def api(state_path: Path, log: io.StringIO, local_apis: LocalApis) -> Iterator[LocalApi]:
    with local_apis.exclusive(state_path=state_path, log=log) as running:
        yield running


class Reply:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    def json(self) -> Any:
        return json.loads(self.body)

    def header_dict(self, *names: str) -> dict[str, str | None]:
        return {name: self.headers.get(name) for name in names}


def request(
    api: LocalApi,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
) -> Reply:
    connection = http.client.HTTPConnection(api.host, api.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        for name, value in pairs:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        return Reply(connection.getresponse())
    finally:
        connection.close()


def batch(session_id: str, sequence: int = 0, events: int = 1) -> bytes:
    items = [{"type": 3, "timestamp": 1700000000000 + i, "data": {"i": i}} for i in range(events)]
    return json.dumps({"session_id": session_id, "sequence": sequence, "events": items}).encode()


def s3_client(api: LocalApi) -> Any:
    assert api.aws is not None
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("s3", endpoint_url=api.aws.endpoint_url)


def stored_object(api: LocalApi, org_id: str, session_id: str) -> bytes:
    s3 = s3_client(api)
    bucket = api.state()["bucket"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"replays/{org_id}/{session_id}/")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    assert len(keys) == 1, keys
    body: bytes = s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()
    return body


# --- dev.json --------------------------------------------------------------------------------


def test_dev_json_holds_urls_credentials_and_aws(api: LocalApi, state_path: Path) -> None:
    state = json.loads(state_path.read_text())
    tables = {lid: kw["TableName"] for lid, kw in tpl.table_definitions().items()}
    required = {
        "ingest_url": api.url,
        "data_url": api.url,
        "org_id": "org_demo",
        "public_key": PK,
        "api_key": ROLES["api_key"],
        "api_key_write": ROLES["api_key_write"],
        "oauth_token": ROLES["oauth_token"],
        "legacy_key": ROLES["legacy_key"],
        "aws_endpoint_url": api.aws.endpoint_url if api.aws else None,
        "region": "us-east-1",
        "bucket": tpl.physical_name("ReplayBucket"),
        "tables": tables,
        "oauth": identity.dev_state(api.url),  # the consent page's demo login (docs/oauth.md)
    }
    assert {k: state[k] for k in required} == required
    # The other roles too, so that `lucent replay` runs every event against the local API.
    assert {k: v for k, v in state.items() if k not in required} == {
        k: v for k, v in ROLES.items() if k not in required
    }
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", state["aws_endpoint_url"])
    assert state["legacy_key"].startswith("luc_mcp_")
    # `lucent ... --local` finds the embedded AWS through it.
    target = local_target(state_path)
    assert target.settings.credentials_table == tables["CredentialsTable"]
    assert target.settings.endpoint_url == state["aws_endpoint_url"]
    names = target.client("dynamodb").list_tables()["TableNames"]
    assert sorted(names) == sorted(tables.values())


def test_tables_have_the_template_ttl(api: LocalApi) -> None:
    assert api.aws is not None
    dynamodb = api.aws.client("dynamodb")
    ttl = dynamodb.describe_time_to_live(TableName=api.names["RateLimitTable"])
    assert ttl["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires_at",
    }


# --- ingest ----------------------------------------------------------------------------------


def test_ingest_json_is_stored_and_readable_through_moto(api: LocalApi) -> None:
    body = batch("local-json-1", 0, 3)
    reply = request(
        api, "POST", INGEST, body, {"Content-Type": "application/json", "X-Lucent-Api-Key": PK}
    )
    assert reply.status == 200
    assert reply.body == b'{"session_id": "local-json-1", "sequence": 0, "events_stored": 3}'
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    stored = json.loads(gzip.decompress(stored_object(api, "org_demo", "local-json-1")))
    assert stored["events"] == json.loads(body)["events"]


def test_ingest_gzip_bytes_survive_base64_untouched(api: LocalApi) -> None:
    compressed = gzip.compress(batch("local-gzip-1", 2, 4), mtime=0)
    reply = request(
        api,
        "POST",
        INGEST,
        compressed,
        {"Content-Type": "application/json", "Content-Encoding": "gzip", "X-Lucent-Api-Key": PK},
    )
    assert (reply.status, reply.json()) == (
        200,
        {"session_id": "local-gzip-1", "sequence": 2, "events_stored": 4},
    )
    assert stored_object(api, "org_demo", "local-gzip-1") == compressed


def test_beacon_text_plain_gzip_with_query_key(api: LocalApi, log: io.StringIO) -> None:
    compressed = gzip.compress(batch("local-beacon-1", 0, 2), mtime=0)
    reply = request(
        api,
        "POST",
        f"{INGEST}?api_key={PK}",
        compressed,
        {"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert (reply.status, reply.json()["events_stored"]) == (200, 2)
    assert stored_object(api, "org_demo", "local-beacon-1") == compressed
    # The log line names the request without the key.
    lines = log.getvalue().splitlines()
    assert re.fullmatch(
        r"POST /api/sdk/replay\?api_key=\[REDACTED\] 200 \d+\.\d ms",
        next(line for line in reversed(lines) if line.startswith("POST /api/sdk/replay?")),
    )
    assert PK not in log.getvalue()


def test_a_client_that_leaves_before_the_answer_is_still_stored_and_logged(
    api: LocalApi, log: io.StringIO
) -> None:
    """A browser may drop a beacon's connection on unload, before the answer is read."""
    body = gzip.compress(batch("local-beacon-gone", 0, 1), mtime=0)
    before = log.getvalue().count("POST /api/sdk/replay?api_key=[REDACTED] 200")
    parts = urlsplit(api.url)
    with socket.create_connection((parts.hostname, parts.port)) as raw:
        raw.sendall(
            f"POST {INGEST}?api_key={PK} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        # Close with a reset instead of reading: the server's write meets a dead socket.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    deadline = time.monotonic() + 10
    while log.getvalue().count("POST /api/sdk/replay?api_key=[REDACTED] 200") == before:
        assert time.monotonic() < deadline, "no log line for the abandoned request"
        time.sleep(0.05)
    assert stored_object(api, "org_demo", "local-beacon-gone") == body
    assert request(api, "GET", "/api/v1/nothing").status == 404  # the server still serves


def test_second_organization_key_stores_under_its_own_prefix(api: LocalApi) -> None:
    reply = request(
        api,
        "POST",
        INGEST,
        batch("local-other-1"),
        {"Content-Type": "application/json", "X-Lucent-Api-Key": ROLES["other_public_key"]},
    )
    assert reply.status == 200
    assert stored_object(api, "org_other", "local-other-1")


def test_cors_preflight_needs_no_key(api: LocalApi) -> None:
    reply = request(
        api,
        "OPTIONS",
        INGEST,
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,content-encoding,x-lucent-api-key",
        },
    )
    assert reply.status == 204
    assert reply.body == b""
    assert reply.header_dict("Access-Control-Allow-Origin", "Access-Control-Allow-Headers") == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Headers": "Content-Type, Content-Encoding, X-Lucent-Api-Key",
    }


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        ({}, 401, b'{"error": "Missing API key"}'),
        (
            {"X-Lucent-Api-Key": ROLES["revoked_public_key"]},
            401,
            b'{"error": "Invalid or revoked API key"}',
        ),
        ({"X-Lucent-Api-Key": ROLES["api_key"]}, 401, b'{"error": "Invalid or revoked API key"}'),
    ],
)
def test_ingest_gateway_errors_are_exact(
    api: LocalApi, headers: dict[str, str], status: int, body: bytes
) -> None:
    reply = request(api, "POST", INGEST, b"{}", {"Content-Type": "application/json", **headers})
    assert (reply.status, reply.body) == (status, body)
    assert reply.header_dict(*INGEST_GATEWAY_HEADERS) == INGEST_GATEWAY_HEADERS


def test_body_over_10_mb_is_413_from_the_gateway(api: LocalApi) -> None:
    reply = request(
        api,
        "POST",
        INGEST,
        b"x" * (MAX_REQUEST_BYTES + 1),
        {"Content-Type": "application/json", "X-Lucent-Api-Key": PK},
    )
    assert (reply.status, reply.body) == (413, b'{"error": "Request body too large"}')
    assert reply.header_dict(*INGEST_GATEWAY_HEADERS) == INGEST_GATEWAY_HEADERS
    assert reply.headers["Connection"] == "close"


def test_body_over_the_lambda_event_limit_is_413_too(api: LocalApi) -> None:
    # 5 MB of binary media becomes about 6.7 MB of base64: more than a synchronous invoke takes.
    reply = request(
        api,
        "POST",
        INGEST,
        b"x" * (5 * 1024 * 1024),
        {"Content-Type": "application/json", "X-Lucent-Api-Key": PK},
    )
    assert (reply.status, reply.body) == (413, b'{"error": "Request body too large"}')


# --- data API --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["api_key", "api_key_write", "oauth_token", "legacy_key"])
def test_every_bearer_kind_lists_the_demo_issues(api: LocalApi, role: str) -> None:
    reply = request(
        api, "GET", f"{ISSUES}?limit=100", headers={"Authorization": f"Bearer {ROLES[role]}"}
    )
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    ids = [item["id"] for item in reply.json()["items"]]
    assert demo.DEMO_ISSUE_ID in ids


def test_second_organization_sees_none_of_the_demo_issues(api: LocalApi) -> None:
    headers = {"Authorization": f"Bearer {ROLES['other_api_key']}"}
    assert request(api, "GET", ISSUES, headers=headers).json()["items"] == []
    reply = request(api, "GET", f"{ISSUES}/{demo.DEMO_ISSUE_ID}", headers=headers)
    assert reply.status == 404


def test_read_only_token_cannot_patch(api: LocalApi) -> None:
    reply = request(
        api,
        "PATCH",
        f"{ISSUES}/{demo.DEMO_ISSUE_ID}",
        b'{"status": "resolved"}',
        {"Authorization": f"Bearer {ROLES['api_key']}", "Content-Type": "application/json"},
    )
    assert (reply.status, reply.body) == (403, b'{"error": "Missing required scope: write:issues"}')
    assert reply.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="write:issues"'
    )


def test_write_token_patches_and_the_change_is_read_back(api: LocalApi) -> None:
    path = f"{ISSUES}/{demo.DEMO_ISSUE_ID}"
    write = {
        "Authorization": f"Bearer {ROLES['api_key_write']}",
        "Content-Type": "application/json",
    }
    reply = request(api, "PATCH", path, b'{"status": "ignored"}', write)
    assert (reply.status, reply.json()["status"]) == (200, "ignored")
    read = request(api, "GET", path, headers={"Authorization": f"Bearer {ROLES['api_key']}"})
    assert read.json()["status"] == "ignored"
    assert request(api, "PATCH", path, b'{"status": "open"}', write).json()["status"] == "open"


@pytest.mark.parametrize(
    ("method", "headers", "challenge"),
    [
        ("GET", {}, 'Bearer scope="read:lucent"'),
        (
            "GET",
            {"Authorization": f"Bearer {ROLES['revoked_api_key']}"},
            'Bearer scope="read:lucent"',
        ),
        ("PATCH", {}, 'Bearer scope="write:issues"'),
        ("PATCH", {"Authorization": f"Bearer {PK}"}, 'Bearer scope="write:issues"'),
    ],
)
def test_data_gateway_errors_are_exact(
    api: LocalApi, method: str, headers: dict[str, str], challenge: str
) -> None:
    body = b'{"status": "resolved"}' if method == "PATCH" else None
    reply = request(api, method, f"{ISSUES}/{demo.DEMO_ISSUE_ID}", body, headers)
    assert (reply.status, reply.body) == (401, b'{"error": "Missing or invalid bearer token"}')
    assert reply.header_dict("Content-Type", "WWW-Authenticate", "Access-Control-Allow-Origin") == {
        "Content-Type": "application/json",
        "WWW-Authenticate": challenge,
        "Access-Control-Allow-Origin": None,
    }


def test_head_answers_without_a_body(api: LocalApi) -> None:
    reply = request(api, "HEAD", "/api/v1/nothing")
    assert (reply.status, reply.body) == (404, b"")
    assert reply.headers["Content-Length"] == str(len(b'{"error": "Not found"}'))


@pytest.mark.parametrize(
    ("path", "cors"), [("/api/sdk/nothing", "*"), ("/api/v1/nothing", None), ("/", None)]
)
def test_unknown_routes_are_the_template_404(api: LocalApi, path: str, cors: str | None) -> None:
    reply = request(api, "GET", path)
    assert (reply.status, reply.body) == (404, b'{"error": "Not found"}')
    # Each API's own gateway response: the ingest API's carries CORS headers. A path under
    # neither API (only possible locally, where both share a port) gets the closest API's.
    if path != "/":
        assert reply.headers["Access-Control-Allow-Origin"] == cors


# --- the HTTP layer --------------------------------------------------------------------------


class _Recorder:
    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []

    def serve(self, request: HttpRequest) -> tuple[GatewayReply, str]:
        self.requests.append(request)
        binary = {"statusCode": 207, "multiValueHeaders": {"X-Multi": ["a", "b"]}}
        proxy = {**binary, "body": base64.b64encode(b"\x00\xff").decode(), "isBase64Encoded": True}
        return reply_from_proxy(proxy), "function"


def test_http_requests_reach_the_gateway_unchanged(api: LocalApi) -> None:
    recorder = _Recorder()
    real = api.gateway
    api.gateway = recorder  # type: ignore[assignment]
    try:
        raw = bytes(range(256))
        reply = request(
            api,
            "POST",
            "/api/sdk/replay?a=1&a=2&api_key=k",
            raw,
            [("X-Twice", "one"), ("X-Twice", "two"), ("Content-Type", "text/plain")],
        )
    finally:
        api.gateway = real
    assert (reply.status, reply.body, reply.headers["X-Multi"]) == (207, b"\x00\xff", "a, b")
    [seen] = recorder.requests
    assert (seen.method, seen.path, seen.query, seen.body) == (
        "POST",
        "/api/sdk/replay",
        "a=1&a=2&api_key=k",
        raw,
    )
    assert [v for k, v in seen.headers if k == "X-Twice"] == ["one", "two"]
    assert seen.source_ip == "127.0.0.1"


def test_chunked_request_bodies_are_read(api: LocalApi) -> None:
    body = batch("local-chunked-1", 0, 2)
    connection = http.client.HTTPConnection(api.host, api.port, timeout=30)
    try:
        connection.request(
            "POST",
            INGEST,
            body=iter([body[:10], body[10:]]),
            headers={"Content-Type": "application/json", "X-Lucent-Api-Key": PK},
            encode_chunked=True,
        )
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())["events_stored"]) == (200, 2)
    finally:
        connection.close()


def test_a_client_reusing_its_connection_is_served_every_time(api: LocalApi) -> None:
    """werkzeug's server closes after each answer and says so; a client opens the next one."""
    connection = http.client.HTTPConnection(api.host, api.port, timeout=30)
    try:
        for _ in range(3):
            connection.request("GET", "/api/v1/nothing")
            response = connection.getresponse()
            assert (response.status, response.read()) == (404, b'{"error": "Not found"}')
            assert response.headers["Connection"] == "close"
    finally:
        connection.close()


def test_concurrent_clients_are_all_served(api: LocalApi) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        for i in range(5):
            reply = request(
                api,
                "POST",
                INGEST,
                batch(f"local-concurrent-{n}", i),
                {"Content-Type": "application/json", "X-Lucent-Api-Key": PK},
            )
            with lock:
                results.append(reply.status)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 40


def test_invoke_uses_the_running_local_api(
    api: LocalApi,
    state_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lucent_dev.cli import main
    from lucent_dev.commands import invoke

    monkeypatch.setattr(invoke, "DEV_STATE_PATH", state_path)
    event = tpl.PROJECT_ROOT / "events" / "ingest-post-json.json"
    assert main(["invoke", "IngestFunction", str(event)]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["statusCode"] == 200
    assert f"backed by the local API's embedded AWS ({api.state()['aws_endpoint_url']})" in out.err
    assert "ingest-post-json.json: as documented" in out.err
    assert stored_object(api, "org_demo", "evt-json-0001")


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LocalApiError, match=rf"cannot listen on 127\.0\.0\.1:{port} .*PORT="):
            LocalApi(port=port).start()


def test_lucent_dev_starts_serves_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    state = tmp_path / "dev.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "lucent_dev.cli", "dev", "--port", "0", "--state-file", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        # As a shell starts a background job: SIGINT ignored. Ctrl-C must still stop it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509
    )
    try:
        deadline = time.monotonic() + 60
        while not state.exists():
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "lucent dev did not start within 60 s"
            time.sleep(0.05)
        url = urlsplit(json.loads(state.read_text())["data_url"])
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        connection.request("GET", ISSUES, headers={"Authorization": f"Bearer {ROLES['api_key']}"})
        assert connection.getresponse().status == 200
        connection.close()
        # A refused batch: the ingest function prints a metric line, which the log leaves out.
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        connection.request(
            "POST",
            INGEST,
            body=b"{",
            headers={"Content-Type": "application/json", "X-Lucent-Api-Key": PK},
        )
        assert connection.getresponse().status == 400
        connection.close()
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert not state.exists()
    assert "Lucent local API ready on http://127.0.0.1:" in output
    assert ROLES["api_key_write"] in output
    assert re.search(r"^GET /api/v1/issues 200 \d+\.\d ms$", output, re.MULTILINE), output
    assert re.search(r"^POST /api/sdk/replay 400 \d+\.\d ms$", output, re.MULTILINE), output
    assert '"_aws"' not in output
    assert output.rstrip().endswith("Local API stopped.")
