"""(6) Local API ingest throughput with 8 concurrent clients, against a trivial HTTP server.

The clients run in their own process (``python -m bench.throughput --clients ...``), one thread
and one keep-alive connection each, every client with its own key and session, each request a
typical gzip batch. The floor is the same clients against a server that reads the body and
answers ``{}`` (``http.server``, as the local API uses), in the same process the local API runs
in. Figures are requests per second; the ratio is the local API's share of the floor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from bench import common, payloads
from lucent_dev import template as tpl

CLIENTS = 8
REQUESTS_PER_CLIENT = 60


class _Trivial(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        # One write for status, headers and body: separate small writes meet Nagle's algorithm
        # and the client's delayed ACK (about 40 ms per response on Linux loopback).
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        )

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _clients(url: str, keys: list[str], per_client: int) -> dict[str, Any]:
    """Runs in the client process: ``len(keys)`` threads, ``per_client`` requests each."""
    parts = urlsplit(url)
    events = payloads.rrweb_events(200)
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(len(keys) + 1)

    def client(index: int, key: str) -> None:
        connection = HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        session = f"throughput-{index}-{os.getpid()}"
        bodies = [
            payloads.gzipped(payloads.batch_bytes(events, session_id=session, sequence=seq))
            for seq in range(per_client)
        ]
        barrier.wait()
        for body in bodies:
            connection.request(
                "POST",
                "/api/sdk/replay",
                body=body,
                headers={"Content-Type": "application/json", "X-Lucent-Api-Key": key},
            )
            response = connection.getresponse()
            response.read()
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1
        connection.close()

    threads = [threading.Thread(target=client, args=(i, k)) for i, k in enumerate(keys)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return {"requests": sum(statuses.values()), "seconds": seconds, "statuses": statuses}


def _drive(url: str, keys: list[str], per_client: int = REQUESTS_PER_CLIENT) -> dict[str, Any]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.throughput",
            "--clients",
            url,
            json.dumps(keys),
            str(per_client),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(tpl.PROJECT_ROOT)},
        cwd=tpl.PROJECT_ROOT,
    )
    out: dict[str, Any] = json.loads(result.stdout)
    out["rps"] = out["requests"] / out["seconds"]
    return out


def run() -> dict[str, Any]:
    from lucent.auth.credentials import CredentialKind, issue_credential
    from lucent.auth.store import CredentialStore
    from lucent_dev.local_api import LocalApi

    trivial = ThreadingHTTPServer(("127.0.0.1", 0), _Trivial)
    trivial.daemon_threads = True
    thread = threading.Thread(target=trivial.serve_forever, daemon=True)
    thread.start()
    try:
        # Ten times the requests: the floor is fast, and a short run is mostly noise.
        floor = _drive(
            f"http://127.0.0.1:{trivial.server_address[1]}",
            ["k"] * CLIENTS,
            REQUESTS_PER_CLIENT * 10,
        )
    finally:
        trivial.shutdown()
        trivial.server_close()

    with LocalApi(port=0) as api, common.quiet():
        assert api.aws is not None
        store = CredentialStore(api.aws.client("dynamodb"), api.names["CredentialsTable"])
        keys = []
        for i in range(CLIENTS):
            issued = issue_credential(
                CredentialKind.PUBLIC, "org_bench", rate_limit=1_000_000, label=f"client {i}"
            )
            store.put(issued)
            keys.append(issued.secret)
        local = _drive(api.url, keys)
        stored = 0
        s3 = api.aws.client("s3")
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=api.names["ReplayBucket"], Prefix="replays/org_bench/"
        ):
            stored += len(page.get("Contents", []))
    assert local["statuses"] == {"200": CLIENTS * REQUESTS_PER_CLIENT}, local["statuses"]
    assert stored == CLIENTS * REQUESTS_PER_CLIENT, stored
    return {
        "clients": CLIENTS,
        "requests": local["requests"],
        "local_api_rps": local["rps"],
        "trivial_server_rps": floor["rps"],
        "ratio": local["rps"] / floor["rps"],
        "objects_stored": stored,
    }


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--clients":
        print(json.dumps(_clients(sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]))))
    else:
        print(json.dumps(run(), indent=2))
