"""MCP's warm cost: ``tools/call list_issues`` CPU against the Data API's own list of the same page
(docs/mcp.md, docs/performance.md). Its cold start is in section 3 (bench/coldstart.py), measured
like every other function's; here, for reference, the import of the official SDK's server
(``mcp.server.mcpserver``) in the same kind of fresh python3.12 process, against ``import boto3``.

One ``tools/call list_issues`` (limit 25) through the MCP function against one
``GET /api/v1/issues?limit=25`` through the issues function, both with the same token and AWS
answered from a recording (bench/awsstub.py: botocore serialising, signing and parsing are
counted, moto and the network are not). Goal: ratio <= 1.5.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from bench import coldstart, common
from bench.awsstub import Canned, Recorder, Replayer
from bench.common import Spread
from lucent.auth.credentials import Principal
from lucent_dev import demo
from lucent_dev import template as tpl
from lucent_dev.gateway import Gateway, HttpRequest, LocalContext

_SDK_SERVER = """
import sys
import mcp.server.mcpserver
print("-", len(sys.modules))
"""
_BOTO3 = """
import sys
import boto3
print("-", len(sys.modules))
"""
PAGE = 25


def sdk_server_import(quick: bool) -> dict[str, Any]:
    """CPU of a fresh process importing the SDK's server, and of one importing boto3."""
    python = coldstart._interpreter(quick)
    env = coldstart.lambda_environment("McpFunction", tpl.functions()["McpFunction"])
    sdk, boto3 = [], []
    for _ in range(1 if quick else 5):
        sdk.append(coldstart._run([python, "-c", _SDK_SERVER], env, "import the MCP SDK server")[0])
        boto3.append(coldstart._run([python, "-c", _BOTO3], env, "import boto3")[0])
    return {
        "sdk_server_cpu_ms": Spread.of([v * 1000 for v in sdk], "SDK server import").as_dict(),
        "boto3_cpu_ms": Spread.of([v * 1000 for v in boto3], "import boto3").as_dict(),
    }


def _event(
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    body: bytes = b"",
    query: str = "",
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The proxy event API Gateway (as the local API emulates it) hands the function."""
    gateway = Gateway({})
    route, params, _ = gateway.match(method, path)
    assert route is not None
    request = HttpRequest(method, path, headers=list(headers.items()), query=query, body=body)
    return gateway.proxy_event(route, request, params, "bench-request", authorizer)


def _mcp_event() -> dict[str, Any]:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "list_issues", "arguments": {"limit": PAGE}},
    }
    headers = {
        "Host": "bench.execute-api.us-east-1.amazonaws.com",
        "X-Forwarded-Proto": "https",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-06-18",
        "Authorization": f"Bearer {demo.roles()['api_key']}",
    }
    return _event("POST", "/mcp", headers, body=json.dumps(body).encode())


def _data_event() -> dict[str, Any]:
    record = demo.issued(demo.BY_ROLE["api_key"], now=0).record
    context: dict[str, Any] = {
        k: str(v) for k, v in Principal.from_record(record).to_context().items()
    }
    context["principalId"] = record.credential_id
    return _event("GET", "/api/v1/issues", {}, query=f"limit={PAGE}", authorizer=context)


@contextlib.contextmanager
def _warm_handlers() -> Iterator[tuple[Any, Any]]:
    mcp_event, data_event = _mcp_event(), _data_event()
    with common.moto_storage() as names, Recorder() as recorder, common.quiet():
        import boto3

        demo.seed_all(boto3.client("dynamodb", region_name=common.REGION), names)
        assert common.handler("McpFunction")(mcp_event, LocalContext("mcp"))["statusCode"] == 200
        data = common.handler("IssuesFunction")(data_event, LocalContext("data"))
        assert data["statusCode"] == 200, data
    answers: dict[str, Canned] = dict(recorder.answers)
    with Replayer(answers), common.quiet():
        mcp_handler = common.handler("McpFunction")
        data_handler = common.handler("IssuesFunction")
        yield mcp_handler, data_handler


def warm_cpu(quick: bool = False) -> dict[str, Any]:
    common.apply_env()
    mcp_event, data_event = _mcp_event(), _data_event()
    mcp_context, data_context = LocalContext("McpFunction"), LocalContext("IssuesFunction")
    with _warm_handlers() as (mcp_handler, data_handler):
        mcp_answer = mcp_handler(mcp_event, mcp_context)
        data_answer = data_handler(data_event, data_context)
        result = json.loads(mcp_answer["body"])["result"]
        assert result["structuredContent"] == json.loads(data_answer["body"])

        def data_list(_: int) -> Any:
            return data_handler(data_event, data_context)

        def mcp_list(_: int) -> Any:
            return mcp_handler(mcp_event, mcp_context)

        measured = common.paired(
            data_list,
            mcp_list,
            min_seconds=0.05 if quick else 0.3,
            rounds=2 if quick else 7,
            what="tools/call list_issues",
        )
    return {"page_items": PAGE, "goal": 1.5, **measured.as_dict()}


def run(quick: bool = False) -> dict[str, Any]:
    return {"warm_list_issues": warm_cpu(quick), "sdk_server_import": sdk_server_import(quick)}


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
