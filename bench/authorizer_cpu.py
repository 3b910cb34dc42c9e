"""(2) Authorizer warm CPU per request: credential cache hit and miss, against a floor.

The floor is the least any authorizer must do per request: hash the presented key (SHA-256) and
look the hash up in a dict. Misses read DynamoDB (GetItem), answered from a recorded response at
the botocore layer. Every miss presents a different well-formed key (``common.paired`` gives each
call a fresh index), and the section checks that every miss made exactly one GetItem and every
hit none.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from bench import common
from bench.awsstub import Recorder, Replayer
from bench.common import NothingMeasured
from lucent.auth.credentials import CredentialKind, generate_secret, issue_credential
from lucent.auth.store import CredentialStore
from lucent_dev.gateway import Gateway, HttpRequest, LocalContext

INGEST_PATH = "/api/sdk/replay"
GET_ITEM = "dynamodb.GetItem"


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


def _allowed(output: dict[str, Any], who: str) -> None:
    if output["policyDocument"]["Statement"][0]["Effect"] != "Allow":
        raise NothingMeasured(f"{who} did not allow a valid key: {output}")


def run(quick: bool = False) -> dict[str, Any]:
    import boto3

    common.apply_env()
    gateway = Gateway({})
    context = LocalContext("AuthorizerFunction")
    with common.moto_storage() as names, Recorder() as recorder:
        issued = issue_credential(CredentialKind.PUBLIC, "org_bench", label="bench")
        CredentialStore(
            boto3.client("dynamodb", region_name=common.REGION), names["CredentialsTable"]
        ).put(issued)
        handler = common.handler("AuthorizerFunction")
        with common.quiet():
            _allowed(handler(authorizer_event(gateway, issued.secret), context), "the function")
    answers = dict(recorder.answers)
    table = {hashlib.sha256(issued.secret.encode()).hexdigest(): issued.record}
    secret = issued.secret

    def floor(_: int) -> Any:
        return table.get(hashlib.sha256(secret.encode()).hexdigest())

    sampling: dict[str, Any] = (
        {"min_seconds": 0.02, "rounds": 3} if quick else {"min_seconds": 0.15, "rounds": 9}
    )

    with Replayer(answers) as replayer, common.quiet():
        handler = common.handler("AuthorizerFunction")
        hit_event = authorizer_event(gateway, issued.secret)

        def function(event: dict[str, Any]) -> Any:
            return handler(event, context)

        # A key's first request is a miss (one GetItem), its second a hit (none).
        first, output = replayer.calls_of(functools.partial(function, hit_event))
        _allowed(output, "the function")
        second, output = replayer.calls_of(functools.partial(function, hit_event))
        _allowed(output, "the function")
        if first != {GET_ITEM: 1} or second != {}:
            raise NothingMeasured(f"GetItem calls {first} then {second}, not 1 then 0")
        hit = common.paired(
            floor,
            lambda _: function(hit_event),
            what="authorizer, cache hit",
            **sampling,
        )

        keys = [generate_secret(CredentialKind.PUBLIC) for _ in range(2_000 if quick else 40_000)]
        miss_events = [authorizer_event(gateway, k) for k in keys]
        before = replayer.served[GET_ITEM]
        miss = common.paired(
            floor,
            lambda i: function(miss_events[i]),  # an IndexError when the keys run out
            what="authorizer, cache miss",
            **sampling,
        )
        reads = replayer.served[GET_ITEM] - before
        if reads != miss.subject_calls:
            raise NothingMeasured(f"{miss.subject_calls} cache misses made {reads} GetItem calls")
    return {"cache_hit": hit.as_dict(), "cache_miss": miss.as_dict()}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
