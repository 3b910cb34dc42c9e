"""(2) Authorizer warm CPU per request, credential cache hit and miss, against a floor each.

The floor is ``MinimalAuthorizer``: the least code an authorizer of this API could run per
request, written here by hand -- dict lookups for the key, a SHA-256, a dict cache, on a miss a
``GetItem`` with bare boto3 (the function's parameters, the presented key's hash), and the policy
dict. It skips everything a real one should also do (the checksum that rejects forged keys
without a read, case-insensitive headers, the ``api_key`` fallback's rules, expiry, the cache
TTL, the audit log line, metrics), so each ratio is what our code costs above unavoidable work.

GetItem is answered from a response recorded from moto, at the botocore layer, for both sides.
Every miss presents a different well-formed key (``common.paired`` gives each call a fresh index),
and the section checks that every miss made exactly one GetItem and every hit none.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from bench import common
from bench.awsstub import Recorder, Replayer
from bench.common import NothingMeasured
from lucent.auth.credentials import CredentialKind, generate_secret, issue_credential
from lucent.auth.store import CredentialStore
from lucent.aws import CLIENT_CONFIG
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


class MinimalAuthorizer:
    """The floor: parse the event, hash, look up (cache, else GetItem), build the policy."""

    def __init__(self, dynamodb: Any, get_item_params: dict[str, Any]) -> None:
        self.dynamodb = dynamodb
        self.table = get_item_params["TableName"]
        (self.key_attribute,) = get_item_params["Key"]
        self.cache: dict[str, dict[str, Any]] = {}

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        key = (event.get("headers") or {}).get("X-Lucent-Api-Key") or (
            event.get("queryStringParameters") or {}
        ).get("api_key")
        if not key:
            raise Exception("Unauthorized")  # what API Gateway expects of an authorizer
        digest = hashlib.sha256(key.encode()).hexdigest()
        context = self.cache.get(digest)
        if context is None:
            item = self.dynamodb.get_item(
                TableName=self.table, Key={self.key_attribute: {"S": digest}}
            )["Item"]
            context = {
                "org_id": item["org_id"]["S"],
                "credential_id": item["credential_id"]["S"],
                "kind": item["kind"]["S"],
                "scopes": item["scopes"]["S"],
                "rate_limit_per_minute": int(item["rate_limit_per_minute"]["N"]),
            }
            self.cache[digest] = context
        api, stage, _ = event["methodArn"].split("/", 2)
        return {
            "principalId": context["credential_id"],
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Action": "execute-api:Invoke",
                        "Effect": "Allow",
                        "Resource": f"{api}/{stage}/*/*",
                    }
                ],
            },
            "context": context,
        }


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
    answers, get_item_params = dict(recorder.answers), recorder.params[GET_ITEM]
    sampling: dict[str, Any] = (
        {"min_seconds": 0.02, "rounds": 3} if quick else {"min_seconds": 0.15, "rounds": 9}
    )

    with Replayer(answers) as replayer, common.quiet():
        handler = common.handler("AuthorizerFunction")
        dynamodb = boto3.session.Session().client(
            "dynamodb", region_name=common.REGION, config=CLIENT_CONFIG
        )
        minimal = MinimalAuthorizer(dynamodb, get_item_params)
        hit_event = authorizer_event(gateway, issued.secret)

        def function(event: dict[str, Any]) -> Any:
            return handler(event, context)

        sides: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
            ("the function", function),
            ("the floor", minimal),
        ]
        for who, authorize in sides:
            # A key's first request is a miss (one GetItem), its second a hit (none).
            first, output = replayer.calls_of(functools.partial(authorize, hit_event))
            _allowed(output, who)
            second, output = replayer.calls_of(functools.partial(authorize, hit_event))
            _allowed(output, who)
            if first != {GET_ITEM: 1} or second != {}:
                raise NothingMeasured(f"{who}: GetItem calls {first} then {second}, not 1 then 0")
        # The floor must produce what the function produces, or it is the floor of other work.
        if minimal(hit_event) != function(hit_event):
            raise RuntimeError(f"floor {minimal(hit_event)} != function {function(hit_event)}")
        before = replayer.served[GET_ITEM]
        hit = common.paired(
            lambda _: minimal(hit_event),
            lambda _: function(hit_event),
            what="authorizer, cache hit",
            **sampling,
        )
        if replayer.served[GET_ITEM] != before:
            raise NothingMeasured("cache hits made GetItem calls: some were misses")

        keys = [generate_secret(CredentialKind.PUBLIC) for _ in range(2_000 if quick else 40_000)]
        miss_events = [authorizer_event(gateway, k) for k in keys]
        before = replayer.served[GET_ITEM]
        miss = common.paired(
            lambda i: minimal(miss_events[i]),
            lambda i: function(miss_events[i]),
            max_calls=len(miss_events),
            what="authorizer, cache miss",
            **sampling,
        )
        reads = replayer.served[GET_ITEM] - before
        if reads != miss.floor_calls + miss.subject_calls:
            raise NothingMeasured(
                f"{miss.floor_calls + miss.subject_calls} cache misses made {reads} GetItem calls"
            )
    return {"cache_hit": hit.as_dict(), "cache_miss": miss.as_dict()}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
