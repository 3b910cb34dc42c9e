"""Official MCP clients that nobody here wrote, against the local API (`make dev`'s server).

* the Python SDK (``mcp`` 2.x, its Streamable HTTP client): at 2026-07-28 (``mode="auto"``:
  it probes ``server/discover``) and at 2025-06-18 (the handshake; the SDK offers 2025-11-25, so
  its offer constant is set to 2025-06-18 for that run: the SDK's own code does the rest);
* the TypeScript SDK (``@modelcontextprotocol/sdk`` 1.32.x, tests/mcp/ts_client.mjs) at its
  newest revision, 2025-11-25 (it does not speak 2026-07-28), and at 2025-06-18;
* the MCP Inspector's CLI mode, as a smoke test.

Each lists the tools and calls every one (``get_session_timeline`` on a session posted to the local
ingest API and detected by its pipeline, then on an unknown session), is refused with the 403 step-up challenge for
``update_issue_status`` with a read token, and discovers the resource metadata from the 401.
The JavaScript clients need ``tests/mcp/node_modules`` (``make tests/mcp/node_modules/.installed``).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client.auth.utils import extract_resource_metadata_from_www_auth
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import ProtectedResourceMetadata
from mcp.shared.exceptions import MCPError

from lucent_dev.local_api import LocalApi
from tests.integration.live_api import ingest, public_key, send
from tests.unit.test_detection import load_events

NODE_DIR = Path(__file__).resolve().parents[1] / "mcp"
TOOLS = [
    "list_issues",
    "get_issue",
    "update_issue_status",
    "list_signals",
    "list_insights",
    "get_session_timeline",
]
UNKNOWN_ISSUE = "iss_01JZZZZZZZZZZZZZZZZZZZZZZZ"
SESSION = "mcp-clients-shop"


@pytest.fixture(scope="module")
def api(shared_api: LocalApi) -> LocalApi:
    return shared_api  # conftest.py: one LocalApi for the modules that need nothing special


@pytest.fixture(scope="module")
def session(api: LocalApi) -> str:
    """The shop session, posted for the demo organization; its timeline once detection wrote it."""
    state = api.state()
    events = load_events("shop")
    reply = ingest(
        api,
        public_key(api, state["org_id"]),
        {"session_id": SESSION, "sequence": 0, "events": events},
    )
    assert reply.status == 200, reply.body
    headers = [("Authorization", f"Bearer {state['api_key']}")]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = send(api, "GET", f"/api/v1/sessions/{SESSION}/timeline?limit=100", headers=headers)
        if found.status == 200 and len(found.json()["items"]) == 14:
            return SESSION
        time.sleep(0.05)
    raise AssertionError(f"no timeline for {SESSION} within 10 s: {found.status} {found.body}")


def node_tool(name: str) -> str:
    path = NODE_DIR / "node_modules" / ".bin" / name
    assert path.exists(), f"{path} missing: run `make tests/mcp/node_modules/.installed`"
    return str(path)


# --- the Python SDK ------------------------------------------------------------------------------


async def python_session(
    url: str, read: str, write: str, issue_id: str, session_id: str, *, mode: str
) -> dict[str, Any]:
    seen: dict[str, Any] = {"statuses": []}

    async def record(response: httpx2.Response) -> None:
        seen["statuses"].append(response.status_code)
        if response.status_code == 403:
            seen["challenge403"] = response.headers.get("www-authenticate")

    async with (
        httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {read}"}, event_hooks={"response": [record]}
        ) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        seen["protocol_version"] = client.protocol_version
        seen["tools"] = [t.name for t in (await client.list_tools()).tools]
        calls = {
            "list_issues": {"status": "open", "limit": 3},
            "get_issue": {"issue_id": issue_id},
            "list_signals": {"issue_id": issue_id, "limit": 2},
            "list_insights": {"limit": 2},
            "get_session_timeline": {"session_id": session_id, "limit": 5},
        }
        seen["calls"] = {}
        for name, arguments in calls.items():
            result = await client.call_tool(name, arguments)
            seen["calls"][name] = result.model_dump(mode="json", by_alias=True)
        unknown = await client.call_tool("get_issue", {"issue_id": UNKNOWN_ISSUE})
        seen["unknown"] = unknown.model_dump(mode="json", by_alias=True)
        no_session = await client.call_tool("get_session_timeline", {"session_id": "no-such"})
        seen["unknown_session"] = no_session.model_dump(mode="json", by_alias=True)
        try:
            await client.call_tool("update_issue_status", {"issue_id": issue_id, "status": "open"})
            seen["read_update"] = "succeeded"
        except MCPError as exc:
            seen["read_update"] = exc.error.message
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {write}"}) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        result = await client.call_tool(
            "update_issue_status", {"issue_id": issue_id, "status": "resolved"}
        )
        seen["update"] = result.model_dump(mode="json", by_alias=True)
    async with httpx2.AsyncClient() as http:
        response = await http.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Accept": "application/json, text/event-stream"},
        )
        seen["status401"] = response.status_code
        metadata_url = extract_resource_metadata_from_www_auth(response)
        seen["metadata_url"] = metadata_url
        assert metadata_url is not None
        metadata = await http.get(metadata_url)
        seen["metadata"] = ProtectedResourceMetadata.model_validate_json(metadata.content)
    return seen


def check_timeline(page: dict[str, Any], unknown: dict[str, Any]) -> None:
    """The first 5 of the shop session's 14 entries, a cursor, a text line each; then the error."""
    content = page["structuredContent"]
    assert content["items"][0]["kind"] == "page_view"
    assert len(content["items"]) == 5
    assert content["next_cursor"]
    text = page["content"][0]["text"]
    assert text.startswith(f"5 timeline entries (session_id={SESSION}):\n- ")
    assert len(text.split("\n")) == 7  # the head, 5 entries, how to go on
    assert text.endswith(f"\nMore: call again with cursor={content['next_cursor']}")
    assert unknown["isError"] is True
    assert [(c["type"], c["text"]) for c in unknown["content"]] == [("text", "Session not found")]


def check_python(seen: dict[str, Any], api: LocalApi, version: str) -> None:
    assert seen["protocol_version"] == version
    assert seen["tools"] == TOOLS
    for name, result in seen["calls"].items():
        assert result["isError"] is False, name
        assert result["structuredContent"], name
        assert result["content"][0]["type"] == "text"
    assert len(seen["calls"]["list_issues"]["structuredContent"]["items"]) == 3
    assert seen["unknown"]["isError"] is True
    assert seen["unknown"]["content"][0]["text"] == "Issue not found"
    check_timeline(seen["calls"]["get_session_timeline"], seen["unknown_session"])
    assert seen["read_update"] == "Missing required scope: write:issues"
    metadata_url = f"{api.url}/.well-known/oauth-protected-resource/mcp"
    assert seen["challenge403"] == (
        f'Bearer error="insufficient_scope", scope="write:issues", resource_metadata="{metadata_url}"'
    )
    assert 403 in seen["statuses"]
    assert seen["update"]["structuredContent"]["status"] == "resolved"
    assert seen["status401"] == 401
    assert seen["metadata_url"] == metadata_url
    metadata = seen["metadata"]
    assert str(metadata.resource) == f"{api.url}/mcp"
    assert metadata.scopes_supported == ["read:lucent", "write:issues"]
    assert metadata.bearer_methods_supported == ["header"]


def test_python_sdk_at_2026_07_28(api: LocalApi, session: str) -> None:
    state = api.state()
    seen = anyio.run(
        functools.partial(
            python_session,
            api.url + "/mcp",
            state["api_key"],
            state["api_key_write"],
            state["issue_id"],
            session,
            mode="auto",
        )
    )
    check_python(seen, api, "2026-07-28")


def test_python_sdk_at_2025_06_18(
    api: LocalApi, session: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mcp.client.session

    monkeypatch.setattr(mcp.client.session, "LATEST_HANDSHAKE_VERSION", "2025-06-18")
    state = api.state()
    seen = anyio.run(
        functools.partial(
            python_session,
            api.url + "/mcp",
            state["api_key"],
            state["api_key_write"],
            state["issue_id"],
            session,
            mode="legacy",
        )
    )
    check_python(seen, api, "2025-06-18")


# --- the TypeScript SDK --------------------------------------------------------------------------


@pytest.mark.node
@pytest.mark.parametrize("version", ["2025-11-25", "2025-06-18"])
def test_typescript_sdk(api: LocalApi, session: str, version: str) -> None:
    state = api.state()
    node = shutil.which("node")
    assert node, "node is required for the official TypeScript client"
    node_tool("mcp-inspector")  # node_modules installed
    run = subprocess.run(
        [
            node,
            str(NODE_DIR / "ts_client.mjs"),
            api.url + "/mcp",
            state["api_key"],
            state["api_key_write"],
            version,
            state["issue_id"],
            session,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=NODE_DIR,
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["protocolVersion"] == version
    assert seen["serverVersion"]["name"] == "lucent"
    assert seen["tools"] == TOOLS
    for name in (
        "list_issues",
        "get_issue",
        "list_signals",
        "list_insights",
        "update_issue_status",
        "get_session_timeline",
    ):
        assert seen["calls"][name]["isError"] is False, name
        assert seen["calls"][name]["structuredContent"], name
    assert seen["calls"]["update_issue_status"]["structuredContent"]["status"] == "resolved"
    assert seen["calls"]["unknown_issue"]["isError"] is True
    check_timeline(seen["calls"]["get_session_timeline"], seen["calls"]["unknown_session"])
    metadata_url = f"{api.url}/.well-known/oauth-protected-resource/mcp"
    assert 403 in seen["statuses"]
    assert seen["challenge403"] == (
        f'Bearer error="insufficient_scope", scope="write:issues", resource_metadata="{metadata_url}"'
    )
    assert "Missing required scope: write:issues" in seen["readUpdate"]
    assert seen["status401"] == 401
    assert seen["challenge"] == {"resourceMetadataUrl": metadata_url, "scope": "read:lucent"}
    assert seen["metadata"]["resource"] == f"{api.url}/mcp"
    assert seen["metadata"]["scopes_supported"] == ["read:lucent", "write:issues"]


# --- the MCP Inspector's CLI ---------------------------------------------------------------------


def inspector(
    api: LocalApi, home: Path, token: str, *args: str
) -> subprocess.CompletedProcess[str]:
    # The Inspector keeps a catalog and secrets under HOME: a scratch folder, never the user's.
    return subprocess.run(
        [
            node_tool("mcp-inspector"),
            "--cli",
            api.url + "/mcp",
            "--transport",
            "http",
            "--header",
            f"Authorization: Bearer {token}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=NODE_DIR,
        env={
            "PATH": str(Path(shutil.which("node") or "node").parent),
            "HOME": str(home),
        },
    )


@pytest.mark.node
def test_inspector_cli_smoke(api: LocalApi, session: str, tmp_path: Path) -> None:
    state = api.state()
    listed = inspector(api, tmp_path, state["api_key"], "--method", "tools/list")
    assert listed.returncode == 0, listed.stderr + listed.stdout
    assert [t["name"] for t in json.loads(listed.stdout)["tools"]] == TOOLS
    called = inspector(
        api,
        tmp_path,
        state["api_key"],
        "--method",
        "tools/call",
        "--tool-name",
        "list_insights",
        "--tool-arg",
        "limit=2",
    )
    assert called.returncode == 0, called.stderr + called.stdout
    result = json.loads(called.stdout)
    assert result["isError"] is False
    assert len(result["structuredContent"]["items"]) == 2
    timeline = inspector(
        api,
        tmp_path,
        state["api_key"],
        "--method",
        "tools/call",
        "--tool-name",
        "get_session_timeline",
        "--tool-arg",
        f"session_id={session}",
        "limit=3",
    )
    assert timeline.returncode == 0, timeline.stderr + timeline.stdout
    page = json.loads(timeline.stdout)
    assert page["isError"] is False
    assert len(page["structuredContent"]["items"]) == 3
    assert page["structuredContent"]["next_cursor"]
