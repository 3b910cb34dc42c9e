"""(6) Local API ingest throughput with 8 concurrent clients, against a trivial HTTP server.

The clients run in their own process (``python -m bench.throughput --clients ...``), one thread
and one ``HTTPConnection`` each (reopened when a server closes it, as werkzeug's does after every
answer), every client with its own key and session, each request a typical gzip batch. The floor
is the same clients against a server that reads the body and answers ``{}`` (``http.server``), in
the same process the local API runs in. Figures are requests per second over rounds that alternate floor and local API; the ratio is
the local API's share of the floor. Every batch must be answered 200 and be in S3. The API
process's CPU per batch is reported beside it: moto, embedded in that process, takes most of it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from bench import common, payloads
from bench.common import NothingMeasured, Spread
from lucent_dev import template as tpl

CLIENTS = 8
REQUESTS_PER_CLIENT = 20  # per round
ROUNDS = 3


class _Trivial(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        # One write for status, headers and body: separate small writes meet Nagle's algorithm
        # and the client's delayed ACK (Linux's minimum delayed-ACK timeout, per response).
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


def _drive(url: str, keys: list[str], per_client: int) -> dict[str, Any]:
    stdout = common.child_process(
        [
            sys.executable,
            "-m",
            "bench.throughput",
            "--clients",
            url,
            json.dumps(keys),
            str(per_client),
        ],
        what=f"{len(keys)} clients against {url}",
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(tpl.PROJECT_ROOT)},
        cwd=tpl.PROJECT_ROOT,
    )
    out: dict[str, Any] = json.loads(stdout)
    expected = {"200": len(keys) * per_client}
    if out["statuses"] != expected:
        raise NothingMeasured(f"{url}: answers {out['statuses']}, expected {expected}")
    out["rps"] = common.positive(out["requests"] / out["seconds"], f"{url}: requests per second")
    return out


def run(quick: bool = False) -> dict[str, Any]:
    """Rounds alternate the floor and the local API, so both meet the same noise."""
    from lucent.auth.credentials import CredentialKind, issue_credential
    from lucent.auth.store import CredentialStore
    from lucent_dev.local_api import LocalApi

    clients, per_client, rounds = (2, 4, 2) if quick else (CLIENTS, REQUESTS_PER_CLIENT, ROUNDS)
    # Twenty times the requests against the floor: it is fast, and a short run is mostly noise.
    floor_per_client = per_client * 20
    trivial = ThreadingHTTPServer(("127.0.0.1", 0), _Trivial)
    trivial.daemon_threads = True
    thread = threading.Thread(target=trivial.serve_forever, daemon=True)
    thread.start()
    trivial_url = f"http://127.0.0.1:{trivial.server_address[1]}"
    floors: list[float] = []
    local_rps: list[float] = []
    ratios: list[float] = []
    cpu_per_request: list[float] = []
    try:
        with LocalApi(port=0) as api, common.quiet():
            assert api.aws is not None
            store = CredentialStore(api.aws.client("dynamodb"), api.names["CredentialsTable"])
            keys = []
            for i in range(clients):
                issued = issue_credential(
                    CredentialKind.PUBLIC, "org_bench", rate_limit=1_000_000, label=f"client {i}"
                )
                store.put(issued)
                keys.append(issued.secret)
            # One batch per client first, not timed: the functions' first invocations import
            # their modules and build their clients (section 3's cold starts, not throughput).
            _drive(api.url, keys, 1)
            for _ in range(rounds):
                floor = _drive(trivial_url, ["k"] * clients, floor_per_client)
                # The API process's CPU (gateway, authorizer, function and moto, all threads);
                # the clients run in their own process and the trivial server sits idle.
                cpu_before = time.process_time()
                local = _drive(api.url, keys, per_client)
                cpu_per_request.append((time.process_time() - cpu_before) / local["requests"])
                floors.append(floor["rps"])
                local_rps.append(local["rps"])
                ratios.append(local["rps"] / floor["rps"])
            stored = 0
            s3 = api.aws.client("s3")
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=api.names["ReplayBucket"], Prefix="replays/org_bench/"
            ):
                stored += len(page.get("Contents", []))
    finally:
        trivial.shutdown()
        trivial.server_close()
    sent = clients * (per_client * rounds + 1)
    if stored != sent:
        raise NothingMeasured(f"{stored} objects stored for {sent} batches")
    return {
        "clients": clients,
        "requests_per_round": clients * per_client,
        "floor_requests_per_round": clients * floor_per_client,
        "rounds": rounds,
        "local_api_rps": Spread.of(local_rps, "local API requests per second").as_dict(),
        "trivial_server_rps": Spread.of(floors, "trivial server requests per second").as_dict(),
        "ratio": Spread.of(ratios, "local API / trivial server").as_dict(),
        "api_cpu_seconds_per_request": Spread.of(cpu_per_request, "API CPU per batch").as_dict(),
        "objects_stored": stored,
    }


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--clients":
        print(json.dumps(_clients(sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]))))
    else:
        print(json.dumps(run(), indent=2))
