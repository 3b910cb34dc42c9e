"""(4) AWS calls per request, for each function and outcome.

Requests go through the local gateway (routes, authorizer, gateway responses from template.yaml)
to the real handlers, with moto in-process behind botocore. ``CallCounter`` counts API calls
(``before-call``) and HTTP attempts (``before-send``, which includes botocore's retries),
attributed to the function that made them. Each outcome is measured on a warm container (the
request is sent twice; the second is counted), except "cold cache" rows.

A count of 0 is a figure here (a refusal that needs no AWS call), so the section proves its
counter sees calls instead: every row must answer the status it names, the section as a whole
must count calls, and every object that appeared in the bucket during a row must have been
counted as a PutObject.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

from bench import common, payloads
from bench.awsstub import DYNAMODB_THROTTLED, S3_UNAVAILABLE, CallCounter, Fault
from bench.common import NothingMeasured
from lucent.auth.credentials import CredentialKind, issue_credential
from lucent.auth.store import CredentialStore
from lucent.http import Reply
from lucent_dev import demo
from lucent_dev.gateway import Gateway, HttpRequest

INGEST = "/api/sdk/replay"


def _wrap(name: str, handler: Callable[..., Any], counter: CallCounter) -> Callable[..., Any]:
    def call(event: dict[str, Any], context: Any) -> Any:
        previous, counter.owner = counter.owner, name
        try:
            return handler(event, context)
        finally:
            counter.owner = previous

    return call


def run(quick: bool = False) -> dict[str, Any]:  # noqa: PLR0915 - one flat list of outcomes
    """Counts are exact: ``quick`` changes nothing here (the section takes a few seconds)."""
    import boto3

    from lucent_dev.embedded_aws import provision

    common.apply_env()
    rows: list[dict[str, Any]] = []
    from moto import mock_aws

    with mock_aws(), CallCounter() as counter, common.quiet():
        dynamodb = boto3.client("dynamodb", region_name=common.REGION)
        s3 = boto3.client("s3", region_name=common.REGION)
        names = provision(dynamodb, s3)

        def objects() -> int:
            listed = s3.list_objects_v2(Bucket=names["ReplayBucket"], Prefix="replays/")
            return int(listed.get("KeyCount", 0))

        roles = demo.roles()
        limited = issue_credential(CredentialKind.PUBLIC, demo.DEMO_ORG_ID, rate_limit=1)
        CredentialStore(dynamodb, names["CredentialsTable"]).put(limited)
        unknown_key = issue_credential(CredentialKind.PUBLIC, "org_nobody").secret

        handlers = {
            name: _wrap(name, common.handler(name), counter)
            for name in (
                "AuthorizerFunction",
                "DataAuthorizerFunction",
                "IngestFunction",
                "IssuesFunction",
            )
        }
        gateway = Gateway(handlers)
        batch = payloads.batch_bytes(payloads.rrweb_events(50))
        sequence = iter(range(1, 1_000_000))

        def ingest(key: str | None, body: bytes | None = None, query: str = "") -> HttpRequest:
            headers = [("Content-Type", "application/json")]
            if key:
                headers.append(("X-Lucent-Api-Key", key))
            if body is None:
                raw = json.loads(batch)
                raw["sequence"] = next(sequence)
                body = gzip.compress(json.dumps(raw).encode())
            return HttpRequest("POST", INGEST, headers=headers, body=body, query=query)

        def data(method: str, path: str, token: str | None, body: bytes = b"") -> HttpRequest:
            headers = [("Content-Type", "application/json")] if body else []
            if token:
                headers.append(("Authorization", f"Bearer {token}"))
            return HttpRequest(method, path, headers=headers, body=body)

        stored_in_rows: list[int] = []

        def measure(
            label: str,
            make: Callable[[], HttpRequest],
            *,
            status: int,
            warm: bool = True,
            fault: Fault | None = None,
        ) -> None:
            if warm:
                gateway.handle(make())
            stored_before = objects()
            counter.reset()
            if fault is not None:
                with fault:
                    response = gateway.handle(make())
            else:
                response = gateway.handle(make())
            row = _row(label, response, counter)
            stored = objects() - stored_before
            if response.status != status:
                raise NothingMeasured(f"{label}: answered {response.status}, not {status}")
            if stored > row["http_attempts"].get("s3.PutObject", 0):
                raise NothingMeasured(
                    f"{label}: {stored} object(s) stored but {row['http_attempts']} counted: "
                    "the counter's hooks are not on the functions' clients"
                )
            rows.append(row)
            stored_in_rows.append(stored)

        public = roles["public_key"]
        issue = f"/api/v1/issues/{roles['issue_id']}"
        measure(
            "ingest: batch stored (authorizer cache miss)",
            lambda: ingest(public),
            status=200,
            warm=False,
        )
        measure("ingest: batch stored (warm, cache hit)", lambda: ingest(public), status=200)
        measure(
            "ingest: beacon, ?api_key=",
            lambda: ingest(None, query=f"api_key={public}"),
            status=200,
        )
        measure(
            "ingest: invalid batch (400)", lambda: ingest(public, b'{"events": []}'), status=400
        )
        measure("ingest: rate limited (429)", lambda: ingest(limited.secret), status=429)
        measure(
            "ingest: rate limited again (429)",
            lambda: ingest(limited.secret),
            status=429,
            warm=False,
        )
        measure("ingest: missing key (401)", lambda: ingest(None), status=401)
        measure(
            "ingest: malformed key (401)", lambda: ingest("luc_pk_nope"), status=401, warm=False
        )
        measure(
            "ingest: unknown key (401, cold cache)",
            lambda: ingest(unknown_key),
            status=401,
            warm=False,
        )
        measure("ingest: preflight (OPTIONS)", lambda: HttpRequest("OPTIONS", INGEST), status=204)
        measure(
            "ingest: S3 unavailable (503)",
            lambda: ingest(public),
            status=503,
            fault=Fault({"s3.PutObject": S3_UNAVAILABLE}),
        )
        measure(
            "ingest: counter table throttled (fail open, 200)",
            lambda: ingest(public),
            status=200,
            fault=Fault({"dynamodb.UpdateItem": DYNAMODB_THROTTLED}),
        )
        api_key, writer = roles["api_key"], roles["api_key_write"]
        measure("data: list issues", lambda: data("GET", "/api/v1/issues", api_key), status=200)
        measure("data: get issue", lambda: data("GET", issue, api_key), status=200)
        measure(
            "data: update issue status",
            lambda: data("PATCH", issue, writer, b'{"status": "resolved"}'),
            status=200,
        )
        measure(
            "data: unknown issue (404)",
            lambda: data("GET", "/api/v1/issues/iss_01ARZ3NDEKTSV4RRFFQ69G5FAV", api_key),
            status=404,
        )
        measure(
            "data: malformed issue id (404)",
            lambda: data("GET", "/api/v1/issues/x", api_key),
            status=404,
        )
        measure("data: list signals", lambda: data("GET", "/api/v1/signals", api_key), status=200)
        measure("data: list insights", lambda: data("GET", "/api/v1/insights", api_key), status=200)
        measure(
            "data: missing scope (403)",
            lambda: data("PATCH", issue, api_key, b'{"status": "resolved"}'),
            status=403,
        )
        measure("data: no token (401)", lambda: data("GET", "/api/v1/issues", None), status=401)
    if not any(row["total_calls"] for row in rows) or not any(stored_in_rows):
        raise NothingMeasured(
            f"calls counted: {sum(r['total_calls'] for r in rows)}; objects stored by the rows: "
            f"{sum(stored_in_rows)}; both must be above zero"
        )
    return {"rows": rows}


def _row(label: str, response: Reply, counter: CallCounter) -> dict[str, Any]:
    per_function: dict[str, dict[str, int]] = {}
    for (owner, operation), n in counter.calls.items():
        per_function.setdefault(owner or "?", {})[operation] = n
    attempts: dict[str, int] = {}
    for (_, operation), n in counter.attempts.items():
        attempts[operation] = attempts.get(operation, 0) + n
    return {
        "outcome": label,
        "status": response.status,
        "calls": per_function,
        "total_calls": sum(counter.calls.values()),
        "http_attempts": attempts,
        "total_http_attempts": sum(attempts.values()),
    }


if __name__ == "__main__":
    for row in run()["rows"]:
        print(json.dumps(row))
