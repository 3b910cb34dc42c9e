"""MCP: cold start against ``import boto3``, and warm ``tools/call list_issues`` CPU against the
Data API's own list of the same page (docs/mcp.md, docs/performance.md).

* Cold start, as bench/coldstart.py measures it (a fresh interpreter per run, the time taken
  inside the process, medians of N runs), including client creation on both sides: the MCP
  function's import, its per-container server (settings, boto3 session and DynamoDB client,
  authenticator, limiter) and its tool list (the output schemas come from pydantic), against
  ``import boto3`` plus ``boto3.client("dynamodb")``. Goal: ratio <= 2.0. For reference, the
  import of the official SDK's server (``mcp.server.mcpserver``) is measured the same way.
* Warm CPU: one ``tools/call list_issues`` (limit 25) through the MCP function against one
  ``GET /api/v1/issues?limit=25`` through the Data API function, both with the same token and
  AWS answered from a recording (bench/awsstub.py: botocore serialising, signing and parsing are
  counted, moto and the network are not). Goal: ratio <= 1.5.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from bench import common
from bench.awsstub import Canned, Recorder, Replayer
from bench.coldstart import _env
from lucent.auth.credentials import Principal
from lucent_dev import demo
from lucent_dev import template as tpl
from lucent_dev.gateway import Gateway, HttpRequest, LocalContext

_MCP_INIT = """
import sys, time
t0 = time.perf_counter()
from importlib import util
spec = util.spec_from_file_location("mcp_handler", sys.argv[1])
module = util.module_from_spec(spec)
spec.loader.exec_module(module)
module.server()
from lucent.mcp.tools import tool_definitions
tool_definitions()
t1 = time.perf_counter()
print((t1 - t0) * 1000, len(sys.modules))
"""
_BOTO3_CLIENT = """
import sys, time
t0 = time.perf_counter()
import boto3
boto3.client("dynamodb", region_name="us-east-1")
t1 = time.perf_counter()
print((t1 - t0) * 1000, len(sys.modules))
"""
_SDK_SERVER = """
import sys, time
t0 = time.perf_counter()
import mcp.server.mcpserver
t1 = time.perf_counter()
print((t1 - t0) * 1000, len(sys.modules))
"""
PAGE = 25


def _once(code: str, *args: str, env: dict[str, str]) -> tuple[float, int]:
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**env, "POWERTOOLS_SERVICE_NAME": "bench"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    millis, modules = result.stdout.split()
    return float(millis), int(modules)


def cold_start(runs: int = 7) -> dict[str, Any]:
    env = _env()
    module = str(tpl.functions()["McpFunction"].module_file)
    _once(_BOTO3_CLIENT, env=env)  # warm the page cache and .pyc files
    _once(_MCP_INIT, module, env=env)
    mcp_ms, boto3_ms, sdk_ms = [], [], []
    modules = 0
    for _ in range(runs):
        millis, modules = _once(_MCP_INIT, module, env=env)
        mcp_ms.append(millis)
        boto3_ms.append(_once(_BOTO3_CLIENT, env=env)[0])
        sdk_ms.append(_once(_SDK_SERVER, env=env)[0])
    mcp, boto3 = common.median(mcp_ms), common.median(boto3_ms)
    return {
        "mcp_init_ms": round(mcp, 1),
        "mcp_modules": modules,
        "boto3_client_ms": round(boto3, 1),
        "ratio": round(mcp / boto3, 2),
        "goal": 2.0,
        "sdk_server_import_ms": round(common.median(sdk_ms), 1),
        "runs": runs,
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
        data = common.handler("DataApiFunction")(data_event, LocalContext("data"))
        assert data["statusCode"] == 200, data
    answers: dict[str, Canned] = dict(recorder.answers)
    with Replayer(answers), common.quiet():
        mcp_handler = common.handler("McpFunction")
        data_handler = common.handler("DataApiFunction")
        yield mcp_handler, data_handler


def warm_cpu() -> dict[str, Any]:
    common.apply_env()
    mcp_event, data_event = _mcp_event(), _data_event()
    mcp_context, data_context = LocalContext("McpFunction"), LocalContext("DataApiFunction")
    with _warm_handlers() as (mcp_handler, data_handler):
        mcp_answer = mcp_handler(mcp_event, mcp_context)
        data_answer = data_handler(data_event, data_context)
        result = json.loads(mcp_answer["body"])["result"]
        assert result["structuredContent"] == json.loads(data_answer["body"])

        def data_list(_: int) -> Any:
            return data_handler(data_event, data_context)

        def mcp_list(_: int) -> Any:
            return mcp_handler(mcp_event, mcp_context)

        data_s, mcp_s, ratio = common.paired(data_list, mcp_list, min_seconds=0.3, rounds=7)
    return {
        "page_items": PAGE,
        "data_api_us": round(data_s * 1e6, 1),
        "mcp_us": round(mcp_s * 1e6, 1),
        "ratio": round(ratio, 2),
        "goal": 1.5,
    }


def run() -> dict[str, Any]:
    return {"cold_start": cold_start(), "warm_list_issues": warm_cpu()}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
