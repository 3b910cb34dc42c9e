"""(2) Authorizer warm CPU per request: credential cache hit and miss, against a floor.

The floor is the least any authorizer must do per request: hash the presented key (SHA-256) and
look the hash up in a dict. Misses read DynamoDB (GetItem), answered from a recorded response at
the botocore layer; every miss presents a different, well-formed key.
"""

from __future__ import annotations

import hashlib
import statistics
from typing import Any

from bench import common
from bench.awsstub import Recorder, Replayer
from lucent.auth.credentials import CredentialKind, generate_secret, issue_credential
from lucent.auth.store import CredentialStore
from lucent_dev.gateway import Gateway, HttpRequest, LocalContext

INGEST_PATH = "/api/sdk/replay"


def authorizer_event(gateway: Gateway, key: str) -> dict[str, Any]:
    route, params, _ = gateway.match("POST", INGEST_PATH)
    assert route is not None
    request = HttpRequest(
        "POST",
        INGEST_PATH,
        headers=[
            ("Content-Type", "application/json"),
            ("X-Lucent-Api-Key", key),
            ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0"),
            ("Origin", "https://shop.example"),
        ],
    )
    return gateway.authorizer_event(route, request, params, "bench-request")


def run() -> dict[str, Any]:
    common.apply_env()
    gateway = Gateway({})
    context = LocalContext("AuthorizerFunction")
    with common.moto_storage() as names, Recorder() as recorder:
        import boto3

        issued = issue_credential(CredentialKind.PUBLIC, "org_bench", label="bench")
        CredentialStore(
            boto3.client("dynamodb", region_name=common.REGION), names["CredentialsTable"]
        ).put(issued)
        handler = common.handler("AuthorizerFunction")
        with common.quiet():
            output = handler(authorizer_event(gateway, issued.secret), context)
        assert output["policyDocument"]["Statement"][0]["Effect"] == "Allow", output
    answers = dict(recorder.answers)

    table = {hashlib.sha256(issued.secret.encode()).hexdigest(): issued.record}
    secret = issued.secret

    def floor_call(_: int) -> Any:
        return table.get(hashlib.sha256(secret.encode()).hexdigest())

    with Replayer(answers), common.quiet():
        handler = common.handler("AuthorizerFunction")
        hit_event = authorizer_event(gateway, issued.secret)
        handler(hit_event, context)  # warm: clients built, key cached
        floor_hit, hit, hit_ratio = common.paired(floor_call, lambda _: handler(hit_event, context))

        keys = [generate_secret(CredentialKind.PUBLIC) for _ in range(40_000)]
        miss_events = [authorizer_event(gateway, k) for k in keys]
        out = handler(miss_events[0], context)
        assert out["policyDocument"]["Statement"][0]["Effect"] == "Allow", out
        floor_miss, miss, miss_ratio = common.paired(
            floor_call,
            lambda i: handler(miss_events[i % len(miss_events)], context),
            min_seconds=0.1,
            rounds=5,
        )
    return {
        "floor_seconds": statistics.median([floor_hit, floor_miss]),
        "cache_hit_seconds": hit,
        "cache_miss_seconds": miss,
        "cache_hit_ratio": hit_ratio,
        "cache_miss_ratio": miss_ratio,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
