"""The MCP function in-process: proxy events in, exact statuses, headers and bodies out, against
moto's DynamoDB seeded with the demo organizations (docs/mcp.md).

Hostile inputs each get a clear JSON-RPC or HTTP error, and none of them changes a byte of the
data table (compared item by item after each one).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from lucent import contract, datatable
from lucent.auth.credentials import CredentialKind, issue_credential
from lucent.auth.store import CredentialStore
from lucent.issues.models import IssueKind, TimelineParams
from lucent.issues.store import DataStore
from lucent_dev import demo, demo_data
from lucent_dev import template as tpl
from lucent_dev.gateway import LocalContext
from tests.conftest import load_function
from tests.helpers import emf_metrics, log_lines, proxy_event
from tests.unit.test_detection import load_events
from tests.unit.test_detection_store import Rig, split

CTX = LocalContext("McpFunction")
HOST = "mcp.example.test"
BASE = f"https://{HOST}"
METADATA_URL = f"{BASE}/.well-known/oauth-protected-resource/mcp"
MODERN = "2026-07-28"
ROLES = demo.roles()
READ, WRITE, OTHER = ROLES["api_key"], ROLES["api_key_write"], ROLES["other_api_key"]
# API Gateway's request id in the fixture event: Powertools' correlation id on every line.
CORRELATION_ID = proxy_event("/mcp", "POST")["requestContext"]["requestId"]
UNKNOWN_ISSUE = "iss_01JZZZZZZZZZZZZZZZZZZZZZZZ"
TOOL_NAMES = [
    "list_issues",
    "get_issue",
    "update_issue_status",
    "list_signals",
    "list_insights",
    "get_session_timeline",
]
CHALLENGE_401 = f'Bearer resource_metadata="{METADATA_URL}", scope="read:lucent"'
CHALLENGE_403 = (
    f'Bearer error="insufficient_scope", scope="write:issues", resource_metadata="{METADATA_URL}"'
)


@dataclasses.dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def meta(version: str = MODERN) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "tests", "version": "1"},
    }


def modern_headers(method: str, name: str | None = None, version: str = MODERN) -> dict[str, str]:
    headers = {"MCP-Protocol-Version": version, "Mcp-Method": method}
    if name is not None:
        headers["Mcp-Name"] = name
    return headers


def request(method: str, params: dict[str, Any] | None = None, rid: Any = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        message["params"] = params
    return message


def tool_call(name: str, arguments: Any, *, modern: bool = False) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    if modern:
        params["_meta"] = meta()
    return request("tools/call", params)


@pytest.fixture
def seeded(aws: dict[str, str], dynamodb: Any) -> dict[str, str]:
    demo.seed_all(dynamodb, aws)
    demo_data.seed(dynamodb, aws["DataTable"], ROLES["other_org_id"])
    return aws


@pytest.fixture
def mcp(seeded: dict[str, str]) -> Callable[..., Reply]:
    handler = load_function("McpFunction")

    def call(
        body: Any = None,
        *,
        token: str | None = READ,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        multi: dict[str, list[str]] | None = None,
        raw: str | None = None,
        path: str = "/mcp",
        base64_body: bool = False,
    ) -> Reply:
        all_headers = {"Host": HOST, "X-Forwarded-Proto": "https"}
        if method == "POST":
            all_headers.update(
                {
                    "Content-Type": "application/json",
                    "Accept": "application/json, text/event-stream",
                }
            )
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        text = raw if raw is not None else (json.dumps(body) if body is not None else None)
        event = proxy_event(path, method, headers=all_headers, body=text, base64_body=base64_body)
        event["requestContext"].update(domainName=HOST, stage="prod")
        if multi:
            event["multiValueHeaders"].update(multi)
        out = handler(event, CTX)
        return Reply(out["statusCode"], dict(out["headers"]), out["body"])

    return call


def data_items(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items = dynamodb.scan(TableName=table)["Items"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def issue_of(dynamodb: Any, table: str, org: str, issue_id: str) -> dict[str, Any]:
    item = dynamodb.get_item(TableName=table, Key=datatable.key(org, datatable.issue_sk(issue_id)))
    return dict(item["Item"])


def other_org_issue() -> str:
    return demo_data.generate(ROLES["other_org_id"]).issues[0].id


# --- HTTP: metadata, methods, origin, authentication -----------------------------------------------


def test_resource_metadata_is_rfc9728_without_a_token(mcp: Callable[..., Reply]) -> None:
    reply = mcp(method="GET", path=contract.MCP_RESOURCE_METADATA_PATH, token=None)
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {
        "resource": f"{BASE}/mcp",
        "authorization_servers": [BASE],
        "scopes_supported": ["read:lucent", "write:issues"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Lucent MCP server",
        "resource_documentation": "https://docs.lucenthq.com/mcp",
    }


def test_authorization_servers_names_the_oauth_issuer_and_an_explicit_server_wins(
    mcp: Callable[..., Reply], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lucent import container

    def authorization_servers() -> Any:
        container.reset()
        reply = mcp(method="GET", path=contract.MCP_RESOURCE_METADATA_PATH, token=None)
        assert reply.status == 200
        return reply.json()["authorization_servers"]

    # A deployed stack: the OAuth API's issuer, another host than the MCP API's.
    monkeypatch.setenv("OAUTH_ISSUER", "https://auth.lucenthq.com/")
    assert authorization_servers() == ["https://auth.lucenthq.com"]
    monkeypatch.setenv("MCP_AUTHORIZATION_SERVER", "https://login.example.com")
    assert authorization_servers() == ["https://login.example.com"]
    monkeypatch.delenv("MCP_AUTHORIZATION_SERVER")
    monkeypatch.delenv("OAUTH_ISSUER")
    assert authorization_servers() == [BASE]  # the local API: one origin for both


def test_the_template_points_mcp_at_the_oauth_apis_issuer() -> None:
    template = tpl.load_template()
    env = template["Resources"]["McpFunction"]["Properties"]["Environment"]["Variables"]
    # The same value as the stack's OAuthIssuer output, which the OAuth function serves as iss.
    assert env["OAUTH_ISSUER"] == template["Outputs"]["OAuthIssuer"]["Value"]
    assert env["OAUTH_ISSUER"] == {
        "Fn::If": [
            "HasOAuthIssuer",
            {"Ref": "OAuthIssuerUrl"},
            {
                "Fn::Sub": "https://${OAuthApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
                "/${StageName}"
            },
        ]
    }
    oauth_env = template["Resources"]["OAuthFunction"]["Properties"]["Environment"]["Variables"]
    assert oauth_env["OAUTH_ISSUER"] == {"Ref": "OAuthIssuerUrl"}
    assert env["MCP_AUTHORIZATION_SERVER"] == {"Ref": "McpAuthorizationServer"}


def test_the_execute_api_host_keeps_its_stage_and_a_configured_base_url_wins(
    seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = load_function("McpFunction")
    host = "abc123.execute-api.us-east-1.amazonaws.com"
    event = proxy_event(
        "/mcp", "POST", headers={"Host": host, "X-Forwarded-Proto": "https"}, body="{}"
    )
    event["requestContext"].update(domainName=host, stage="prod")
    challenge = handler(event, CTX)["headers"]["WWW-Authenticate"]
    assert challenge == (
        f'Bearer resource_metadata="https://{host}/prod/.well-known/oauth-protected-resource/mcp",'
        ' scope="read:lucent"'
    )
    monkeypatch.setenv("MCP_BASE_URL", "https://mcp.lucenthq.com/v1/")
    from lucent import container

    container.reset()
    challenge = handler(event, CTX)["headers"]["WWW-Authenticate"]
    assert 'resource_metadata="https://mcp.lucenthq.com/v1/.well-known/' in challenge


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT", "PATCH", "OPTIONS"])
def test_other_methods_are_405_allow_post(mcp: Callable[..., Reply], method: str) -> None:
    reply = mcp(method=method, token=None)
    assert (reply.status, reply.body) == (405, '{"error": "Method not allowed"}')
    assert reply.headers["Allow"] == "POST"


def test_a_foreign_origin_is_403_and_an_allowed_one_passes(
    mcp: Callable[..., Reply], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = request("tools/list")
    reply = mcp(body, headers={"Origin": "https://evil.example"})
    assert (reply.status, reply.body) == (
        403,
        '{"error": "Origin not allowed: https://evil.example"}',
    )
    monkeypatch.setenv("MCP_ALLOWED_ORIGINS", "https://app.lucenthq.com, https://other.example")
    from lucent import container

    container.reset()
    assert mcp(body, headers={"Origin": "https://app.lucenthq.com"}).status == 200
    assert mcp(body, headers={"Origin": "https://evil.example"}).status == 403


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "luc_api_notarealtoken",
        ROLES["public_key"],
        ROLES["revoked_api_key"],
        READ[:-1] + ("A" if READ[-1] != "A" else "B"),  # checksum broken
    ],
    ids=["none", "empty", "malformed", "public-key", "revoked", "bad-checksum"],
)
def test_no_usable_token_is_401_with_the_resource_metadata_challenge(
    mcp: Callable[..., Reply], token: str | None
) -> None:
    reply = mcp(request("tools/list"), token=token)
    assert (reply.status, reply.body) == (401, '{"error": "Missing or invalid bearer token"}')
    assert reply.headers["WWW-Authenticate"] == CHALLENGE_401


def test_every_bearer_kind_is_accepted(mcp: Callable[..., Reply]) -> None:
    for role in ("api_key", "api_key_write", "oauth_token", "legacy_key"):
        assert mcp(request("tools/list"), token=ROLES[role]).status == 200, role


# --- audience (RFC 8707): an OAuth token must have been granted for this endpoint ----------------


def store_oauth_token(dynamodb: Any, table: str, resource: str) -> str:
    """An OAuth access token as the authorization server stores it, bound to ``resource``."""
    issued = issue_credential(
        CredentialKind.OAUTH,
        ROLES["org_id"],
        scopes=["read:lucent"],
        expires_in=3600,
        client_id="lcl_audiencetest",
        resource=resource,
        family_id="fam_audiencetest",
    )
    CredentialStore(dynamodb, table).put(issued)
    return issued.secret


@pytest.mark.parametrize(
    "resource",
    [
        f"{BASE}/api/v1",  # the Data API on the same host: the case the specification names
        f"{BASE}/mcp/tools",
        f"{BASE}/MCP",  # paths are case-sensitive
        f"http://{HOST}/mcp",  # another scheme is another origin
        "https://mcp.example.test.evil.example/mcp",
        f"{BASE}:8443/mcp",
        "https://other.example/mcp",
    ],
)
def test_an_oauth_token_for_another_resource_is_401_like_an_unknown_one(
    mcp: Callable[..., Reply], seeded: dict[str, str], dynamodb: Any, resource: str
) -> None:
    token = store_oauth_token(dynamodb, seeded["CredentialsTable"], resource)
    for body in (request("tools/list"), tool_call("list_issues", {})):
        reply = mcp(body, token=token)
        assert (reply.status, reply.body) == (401, '{"error": "Missing or invalid bearer token"}')
        assert reply.headers["WWW-Authenticate"] == CHALLENGE_401


@pytest.mark.parametrize(
    "resource",
    [f"{BASE}/mcp", f"{BASE}/mcp/", "HTTPS://MCP.Example.TEST/mcp"],
    ids=["exact", "trailing-slash", "scheme-and-host-case"],
)
def test_an_oauth_token_for_this_mcp_endpoint_calls_tools(
    mcp: Callable[..., Reply], seeded: dict[str, str], dynamodb: Any, resource: str
) -> None:
    token = store_oauth_token(dynamodb, seeded["CredentialsTable"], resource)
    reply = mcp(tool_call("list_issues", {"limit": 2}), token=token)
    assert reply.status == 200, reply.body
    result = reply.json()["result"]
    assert result["isError"] is False
    assert len(result["structuredContent"]["items"]) == 2


def test_credentials_without_a_resource_keep_working(mcp: Callable[..., Reply]) -> None:
    # API keys, legacy keys and CLI-minted OAuth tokens were never bound to a resource.
    for role in ("api_key", "legacy_key", "oauth_token"):
        reply = mcp(tool_call("list_issues", {"limit": 1}), token=ROLES[role])
        assert reply.status == 200, role
        assert reply.json()["result"]["isError"] is False, role


def test_the_audience_is_the_configured_base_url_when_one_is_set(
    mcp: Callable[..., Reply],
    seeded: dict[str, str],
    dynamodb: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = seeded["CredentialsTable"]
    for_host = store_oauth_token(dynamodb, table, f"{BASE}/mcp")
    for_custom_domain = store_oauth_token(dynamodb, table, "https://mcp.lucenthq.com/v1/mcp")
    monkeypatch.setenv("MCP_BASE_URL", "https://mcp.lucenthq.com/v1")
    from lucent import container

    container.reset()
    assert mcp(request("tools/list"), token=for_custom_domain).status == 200
    assert mcp(request("tools/list"), token=for_host).status == 401


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("HTTPS://Mcp.Example.Test/mcp/", "https://mcp.example.test/mcp"),
        ("https://mcp.example.test/Prod/MCP", "https://mcp.example.test/Prod/MCP"),
        ("http://127.0.0.1:3000/mcp#frag", "http://127.0.0.1:3000/mcp"),
        ("https://h.example/mcp?tenant=A", "https://h.example/mcp?tenant=A"),
    ],
)
def test_resources_are_compared_on_a_normalized_url(given: str, normalized: str) -> None:
    from lucent.auth.audience import normalize_resource

    assert normalize_resource(given) == normalized


# --- lifecycle, both eras ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "answered"),
    [("2025-06-18", "2025-06-18"), ("2025-11-25", "2025-11-25"), ("2024-11-05", "2025-11-25")],
)
def test_initialize_negotiates_and_issues_no_session(
    mcp: Callable[..., Reply], offered: str, answered: str
) -> None:
    params = {
        "protocolVersion": offered,
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    }
    reply = mcp(request("initialize", params))
    assert reply.status == 200
    result = reply.json()["result"]
    assert result["protocolVersion"] == answered
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    assert result["serverInfo"] == {"name": "lucent", "title": "Lucent", "version": "1.0.0"}
    assert not any(name.lower() == "mcp-session-id" for name in reply.headers)


def test_initialized_notification_is_202_without_body(mcp: Callable[..., Reply]) -> None:
    reply = mcp(
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers={"MCP-Protocol-Version": "2025-06-18"},
    )
    assert (reply.status, reply.body) == (202, "")


def test_server_discover_at_2026_07_28(mcp: Callable[..., Reply]) -> None:
    reply = mcp(
        request("server/discover", {"_meta": meta()}), headers=modern_headers("server/discover")
    )
    assert reply.status == 200
    result = reply.json()["result"]
    assert result["supportedVersions"] == ["2026-07-28", "2025-11-25", "2025-06-18"]
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    assert result["resultType"] == "complete"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "lucent"


def test_tools_list_describes_every_tool(mcp: Callable[..., Reply]) -> None:
    reply = mcp(request("tools/list"), headers={"MCP-Protocol-Version": "2025-11-25"})
    tools = reply.json()["result"]["tools"]
    assert [t["name"] for t in tools] == TOOL_NAMES
    for tool in tools:
        assert tool["inputSchema"]["type"] == "object"
        assert tool["inputSchema"]["additionalProperties"] is False
        assert "org" not in json.dumps(tool["inputSchema"]["properties"]).lower().replace(
            "organization", ""
        )
        for spec in tool["inputSchema"]["properties"].values():
            assert len(spec["description"]) > 10
        assert tool["outputSchema"]["type"] == "object"
        hints = tool["annotations"]
        assert hints["readOnlyHint"] is (tool["name"] != "update_issue_status")
        assert (hints["destructiveHint"], hints["idempotentHint"]) == (False, True)
    modern = mcp(request("tools/list", {"_meta": meta()}), headers=modern_headers("tools/list"))
    assert [t["name"] for t in modern.json()["result"]["tools"]] == TOOL_NAMES
    assert modern.json()["result"]["resultType"] == "complete"


# --- tools -------------------------------------------------------------------------------------------


LIMIT_SCHEMA = {
    "type": "integer",
    "minimum": 1,
    "maximum": 100,
    "default": 25,
    "description": "How many items to return, 1-100 (default 25).",
}
CURSOR_HELP = "The next_cursor of the previous page, to get the next one. Omit for the first page; "


def test_input_schemas_are_the_argument_models_as_clients_read_them() -> None:
    # Generated from the pydantic argument models: each property inline, an optional argument as
    # its type alone, no titles, keywords in this order (tools/list's bytes before the models).
    from lucent.mcp.tools import TOOLS_BY_NAME

    list_issues = TOOLS_BY_NAME["list_issues"].input_schema
    assert json.dumps(list_issues) == json.dumps(
        {
            "type": "object",
            "properties": {
                "status": {
                    "type": "string",
                    "enum": ["open", "resolved", "ignored"],
                    "description": "Only issues in this status: open (needs attention), "
                    "resolved (fixed) or ignored (will not be fixed).",
                },
                "kind": {
                    "type": "string",
                    "enum": [kind.value for kind in IssueKind],
                    "description": "Only this kind of problem.",
                },
                "limit": LIMIT_SCHEMA,
                "cursor": {
                    "type": "string",
                    "maxLength": 512,
                    "description": CURSOR_HELP + "pass it with the same filters.",
                },
            },
            "additionalProperties": False,
        }
    )
    timeline = TOOLS_BY_NAME["get_session_timeline"].input_schema
    assert json.dumps(timeline) == json.dumps(
        {
            "type": "object",
            "properties": {
                "session_id": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 128,
                    "description": "The recorded session, e.g. the session_id of a signal.",
                },
                "from_ms": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Only entries at or after this offset from the start of the "
                    "replay, in milliseconds.",
                },
                "to_ms": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Only entries at or before this offset from the start of the "
                    "replay, in milliseconds (inclusive).",
                },
                "limit": LIMIT_SCHEMA,
                "cursor": {
                    "type": "string",
                    "maxLength": 512,
                    "description": CURSOR_HELP
                    + "pass it with the same session_id, from_ms and to_ms.",
                },
            },
            "additionalProperties": False,
            "required": ["session_id"],
        }
    )
    issue_id = TOOLS_BY_NAME["update_issue_status"].input_schema["properties"]["issue_id"]
    assert list(issue_id) == ["type", "pattern", "description"]
    assert TOOLS_BY_NAME["update_issue_status"].input_schema["required"] == ["issue_id", "status"]


def rest_list(seeded: dict[str, str], path: str, query: dict[str, str]) -> dict[str, Any]:
    """The issues function's answer for the same token and page."""
    handler = load_function("IssuesFunction")
    record = issue_credential(CredentialKind.API, ROLES["org_id"], secret=READ).record
    from lucent.auth.credentials import Principal
    from tests.unit.test_issues_handler import matched_resource

    resource, path_parameters = matched_resource(path)
    event = proxy_event(
        resource,
        "GET",
        path=path,
        query=query,
        authorizer=Principal.from_record(record).to_context(),
        path_parameters=path_parameters,
    )
    return dict(json.loads(handler(event, LocalContext("IssuesFunction"))["body"]))


def test_list_issues_is_the_data_page_with_a_compact_text(
    mcp: Callable[..., Reply], seeded: dict[str, str]
) -> None:
    reply = mcp(tool_call("list_issues", {"status": "open", "limit": 5}))
    result = reply.json()["result"]
    assert result["isError"] is False
    rest = rest_list(seeded, "/api/v1/issues", {"status": "open", "limit": "5"})
    assert [i["id"] for i in result["structuredContent"]["items"]] == [
        i["id"] for i in rest["items"]
    ]
    assert result["structuredContent"]["items"] == rest["items"]
    text = result["content"][0]["text"]
    assert text.startswith("5 issues (status=open):\n- iss_")
    assert "{" not in text  # a rendering, not a JSON dump


def test_every_page_of_every_list_through_next_cursor(
    mcp: Callable[..., Reply], seeded: dict[str, str]
) -> None:
    for tool, path, total in (
        ("list_issues", "/api/v1/issues", 25),
        ("list_signals", "/api/v1/signals", 120),
        ("list_insights", "/api/v1/insights", 8),
    ):
        seen: list[str] = []
        cursor = None
        while True:
            args: dict[str, Any] = {"limit": 7}
            if cursor:
                args["cursor"] = cursor
            content = mcp(tool_call(tool, args)).json()["result"]["structuredContent"]
            seen += [item["id"] for item in content["items"]]
            cursor = content["next_cursor"]
            if cursor is None:
                break
        rest_ids: list[str] = []
        query = {"limit": "100"}
        while True:
            rest = rest_list(seeded, path, query)
            rest_ids += [item["id"] for item in rest["items"]]
            if rest["next_cursor"] is None:
                break
            query = {"limit": "100", "cursor": rest["next_cursor"]}
        assert seen == rest_ids, tool
        assert len(seen) == total


def test_kind_and_session_filters_page_through_exactly_the_matching_items(
    mcp: Callable[..., Reply],
) -> None:
    data = demo_data.generate(ROLES["org_id"])
    for kind in IssueKind:
        want = [i.id for i in data.issues if i.kind is kind]
        got: list[str] = []
        cursor = None
        for _ in range(30):
            args: dict[str, Any] = {"kind": kind.value, "limit": 2}
            if cursor:
                args["cursor"] = cursor
            content = mcp(tool_call("list_issues", args)).json()["result"]["structuredContent"]
            assert all(item["kind"] == kind.value for item in content["items"])
            got += [item["id"] for item in content["items"]]
            cursor = content["next_cursor"]
            if cursor is None:
                break
        assert sorted(got) == sorted(want), kind
    session = data.signals[3].session_id
    content = mcp(tool_call("list_signals", {"session_id": session, "limit": 100})).json()["result"]
    assert sorted(s["id"] for s in content["structuredContent"]["items"]) == sorted(
        s.id for s in data.signals if s.session_id == session
    )


def test_a_sparse_filter_fills_every_page_and_a_cursor_always_leads_to_more(
    mcp: Callable[..., Reply],
) -> None:
    # The kind filter is applied by the Data API's service to the pages of the data table (one
    # query reads MAX_PAGE_LIMIT signals). Every page but the last is full, the last is not empty,
    # and following the cursors yields every match once, in the listing's order.
    newest_first = sorted(demo_data.generate(ROLES["org_id"]).signals, key=lambda s: s.id)[::-1]
    for kind, limit in (("error_click", 10), ("layout_shift", 3), ("form_abandonment", 2)):
        want = [s.id for s in newest_first if s.kind.value == kind]
        pages: list[list[str]] = []
        cursor = None
        while True:
            args: dict[str, Any] = {"kind": kind, "limit": limit}
            if cursor:
                args["cursor"] = cursor
            content = mcp(tool_call("list_signals", args)).json()["result"]["structuredContent"]
            pages.append([item["id"] for item in content["items"]])
            cursor = content["next_cursor"]
            if cursor is None:
                break
        assert [signal for page in pages for signal in page] == want, kind
        assert [len(page) for page in pages[:-1]] == [limit] * (len(pages) - 1), kind
        assert 0 < len(pages[-1]) <= limit, kind
    # Sparse indeed: the newest 100 signals (the first query) hold fewer than a page of these.
    assert sum(s.kind.value == "error_click" for s in newest_first[:100]) < 10
    # A full last page of matches carries no cursor (9 of 9 in the first query, 3 pages of 3).
    assert sum(s.kind.value == "layout_shift" for s in newest_first) == 9


def test_a_filtered_scan_stops_at_its_query_bound_with_a_cursor_and_misses_nothing(
    mcp: Callable[..., Reply], seeded: dict[str, str], dynamodb: Any
) -> None:
    # 500 newer signals of another session: one call reads 5 queries of 100 and finds no match.
    # That is the one case a page is short (here empty) while next_cursor is set; following it
    # yields every match once.
    data = demo_data.generate(ROLES["org_id"])
    bulk = [
        data.signals[0].model_copy(
            update={"id": f"sig_7ZZZZZZZZZZZZZZZZZZZZZ{n:04d}", "session_id": "sess_bulk"}
        )
        for n in range(500)
    ]
    DataStore(dynamodb, seeded["DataTable"]).put_all(ROLES["org_id"], signals=bulk)
    session = data.signals[3].session_id
    want = sorted((s.id for s in data.signals if s.session_id == session), reverse=True)
    pages: list[list[str]] = []
    cursor = None
    while True:
        args: dict[str, Any] = {"session_id": session, "limit": 2}
        if cursor:
            args["cursor"] = cursor
        content = mcp(tool_call("list_signals", args)).json()["result"]["structuredContent"]
        pages.append([item["id"] for item in content["items"]])
        cursor = content["next_cursor"]
        if cursor is None:
            break
    assert pages[0] == []
    assert [signal for page in pages for signal in page] == want
    assert all(len(page) == 2 for page in pages[1:-1])


def test_get_issue_and_cross_org_ids_are_indistinguishable_from_unknown(
    mcp: Callable[..., Reply],
) -> None:
    issue_id = ROLES["issue_id"]
    found = mcp(tool_call("get_issue", {"issue_id": issue_id})).json()["result"]
    assert found["isError"] is False
    assert found["structuredContent"]["id"] == issue_id
    unknown = mcp(tool_call("get_issue", {"issue_id": UNKNOWN_ISSUE}))
    other = mcp(tool_call("get_issue", {"issue_id": other_org_issue()}))
    assert unknown.status == other.status == 200
    expected = {"content": [{"type": "text", "text": "Issue not found"}], "isError": True}
    assert unknown.json()["result"] == other.json()["result"] == expected


@pytest.fixture
def timelines(seeded: dict[str, str], dynamodb: Any, s3: Any) -> Rig:
    """Detection's shop session for the demo organization in three batches, and the same
    session under another id for the other organization (tests/unit/test_detection_timeline)."""
    rig = Rig(dynamodb, s3, org=ROLES["org_id"])
    events = load_events("shop")
    rig.deliver([rig.upload("shop-a", n, p) for n, p in enumerate(split(events, [20, 40]))])
    other = Rig(dynamodb, s3, org=ROLES["other_org_id"])
    other.deliver([other.upload("shop-b", 0, events)])
    return rig


def timeline(mcp: Callable[..., Reply], **arguments: Any) -> dict[str, Any]:
    reply = mcp(tool_call("get_session_timeline", arguments))
    assert reply.status == 200, reply.body
    return dict(reply.json()["result"])


def rest_timeline(seeded: dict[str, str], session: str, **query: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params = {"limit": "100", **{k: str(v) for k, v in query.items()}}
    while True:
        page = rest_list(seeded, f"/api/v1/sessions/{session}/timeline", params)
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        params["cursor"] = page["next_cursor"]


def test_get_session_timeline_is_the_data_page_with_one_line_per_entry(
    mcp: Callable[..., Reply], seeded: dict[str, str], timelines: Rig
) -> None:
    result = timeline(mcp, session_id="shop-a", limit=100)
    assert result["isError"] is False
    content = result["structuredContent"]
    rest = rest_timeline(seeded, "shop-a")
    assert content == {"items": rest, "next_cursor": None}
    assert len(rest) == 14  # the shop session: enough entries for the pages below
    lines = result["content"][0]["text"].split("\n")
    assert lines[0] == f"{len(rest)} timeline entries (session_id=shop-a):"
    assert lines[-1] == "No more pages."
    body = lines[1:-1]
    assert len(body) == len(rest)
    for line, entry in zip(body, rest, strict=True):
        assert line.startswith(f"- {entry['replay_timestamp_ms']} ms {entry['kind']}"), line
    click = rest.index(next(e for e in rest if e["selector"] == "button#add"))
    assert (
        body[click]
        == f'- {rest[click]["replay_timestamp_ms"]} ms click on "button#add" "Add to cart"'
    )
    typed = rest.index(next(e for e in rest if e["kind"] == "input"))
    assert body[typed] == f'- {rest[typed]["replay_timestamp_ms"]} ms input on "input#card"'
    # Page content is quoted (tests/unit/test_mcp_untrusted.py); these values need no escape.
    first = rest[0]
    assert body[0] == f'- {first["replay_timestamp_ms"]} ms page_view ("{first["url"]}")'
    signal = next(e for e in rest if e["kind"] == "signal")
    where = f' on "{signal["selector"]}"' if signal["selector"] else ""
    assert body[rest.index(signal)] == (
        f"- {signal['replay_timestamp_ms']} ms signal {signal['signal_kind']}{where}: "
        f'"{signal["detail"]}" [issue {signal["issue_id"]}, signal {signal["signal_id"]}]'
    )


def test_get_session_timeline_pages_through_next_cursor(
    mcp: Callable[..., Reply], seeded: dict[str, str], timelines: Rig
) -> None:
    seen: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {"session_id": "shop-a", "limit": 4}
    pages = 0
    while True:
        result = timeline(mcp, **arguments)
        content = result["structuredContent"]
        text = result["content"][0]["text"]
        pages += 1
        seen += content["items"]
        if content["next_cursor"] is None:
            assert text.endswith("\nNo more pages.")
            break
        assert len(content["items"]) == 4
        assert text.endswith(f"\nMore: call again with cursor={content['next_cursor']}")
        arguments["cursor"] = content["next_cursor"]
    rest = rest_timeline(seeded, "shop-a")
    assert seen == rest
    assert pages == 4  # 4 + 4 + 4 + 2


def test_get_session_timeline_keeps_to_the_from_to_window(
    mcp: Callable[..., Reply], seeded: dict[str, str], timelines: Rig
) -> None:
    everything = rest_timeline(seeded, "shop-a")
    stamps = sorted({e["replay_timestamp_ms"] for e in everything})
    low, high = stamps[len(stamps) // 4], stamps[3 * len(stamps) // 4]
    want = [e for e in everything if low <= e["replay_timestamp_ms"] <= high]
    assert 0 < len(want) < len(everything)
    got: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {"session_id": "shop-a", "from_ms": low, "to_ms": high, "limit": 2}
    while True:
        result = timeline(mcp, **arguments)
        assert result["content"][0]["text"].startswith(
            f"{len(result['structuredContent']['items'])} timeline entr"
        )
        assert f"(session_id=shop-a, from_ms={low}, to_ms={high})" in result["content"][0]["text"]
        got += result["structuredContent"]["items"]
        if result["structuredContent"]["next_cursor"] is None:
            break
        arguments["cursor"] = result["structuredContent"]["next_cursor"]
    assert got == want == rest_timeline(seeded, "shop-a", from_ms=low, to_ms=high)
    only_after = timeline(mcp, session_id="shop-a", from_ms=high + 1, limit=100)
    assert only_after["structuredContent"]["items"] == [
        e for e in everything if e["replay_timestamp_ms"] > high
    ]
    # A cursor is bound to its session and window, as on the REST route.
    cursor = timeline(mcp, session_id="shop-a", limit=2)["structuredContent"]["next_cursor"]
    assert cursor
    moved = timeline(mcp, session_id="shop-a", from_ms=low, cursor=cursor)
    assert moved == {"content": [{"type": "text", "text": "Invalid cursor"}], "isError": True}


def test_unknown_and_other_org_sessions_are_the_same_tool_error(
    mcp: Callable[..., Reply], dynamodb: Any, s3: Any, timelines: Rig
) -> None:
    other = Rig(dynamodb, s3, org=ROLES["other_org_id"])
    theirs = other.data.session_timeline(other.reader, "shop-b", TimelineParams(limit=1))
    assert theirs.items  # the session exists, for its own organization
    expected = {"content": [{"type": "text", "text": "Session not found"}], "isError": True}
    for session in ("shop-b", "no-such-session", "bad/../id"):
        assert timeline(mcp, session_id=session) == expected, session
    assert timeline(mcp, session_id="shop-b", from_ms=0, to_ms=10**9, limit=5) == expected


def test_update_issue_status_records_who_like_the_data_routes(
    mcp: Callable[..., Reply], seeded: dict[str, str], dynamodb: Any
) -> None:
    issue_id = ROLES["issue_id"]
    reply = mcp(
        tool_call("update_issue_status", {"issue_id": issue_id, "status": "ignored"}), token=WRITE
    )
    result = reply.json()["result"]
    assert result["isError"] is False
    assert result["structuredContent"]["status"] == "ignored"
    assert result["structuredContent"]["status_updated_by"] == demo.credential_id("api_key_write")
    item = issue_of(dynamodb, seeded["DataTable"], ROLES["org_id"], issue_id)
    assert item["status"]["S"] == "ignored"
    assert item["status_updated_by"]["S"] == demo.credential_id("api_key_write")


def test_update_with_a_read_token_is_403_step_up_and_changes_nothing(
    mcp: Callable[..., Reply], seeded: dict[str, str], dynamodb: Any
) -> None:
    before = data_items(dynamodb, seeded["DataTable"])
    for token in (READ, ROLES["legacy_key"], ROLES["oauth_token"]):
        reply = mcp(
            tool_call("update_issue_status", {"issue_id": ROLES["issue_id"], "status": "resolved"}),
            token=token,
        )
        assert reply.status == 403
        assert reply.headers["WWW-Authenticate"] == CHALLENGE_403
        assert reply.json() == {
            "jsonrpc": "2.0",
            "id": 1,
            "error": {
                "code": -32003,
                "message": "Missing required scope: write:issues",
                "data": {"required_scope": "write:issues"},
            },
        }
    assert data_items(dynamodb, seeded["DataTable"]) == before


def test_cross_org_update_is_not_found_and_changes_nothing(
    mcp: Callable[..., Reply], seeded: dict[str, str], dynamodb: Any
) -> None:
    before = data_items(dynamodb, seeded["DataTable"])
    reply = mcp(
        tool_call("update_issue_status", {"issue_id": other_org_issue(), "status": "ignored"}),
        token=WRITE,
    )
    assert reply.json()["result"] == {
        "content": [{"type": "text", "text": "Issue not found"}],
        "isError": True,
    }
    assert data_items(dynamodb, seeded["DataTable"]) == before


# --- rate limit --------------------------------------------------------------------------------------


def store_limited_token(dynamodb: Any, table: str, limit: int) -> str:
    issued = issue_credential(CredentialKind.API, ROLES["org_id"])
    record = dataclasses.replace(issued.record, rate_limit_per_minute=limit)
    CredentialStore(dynamodb, table).put(dataclasses.replace(issued, record=record))
    return issued.secret


def test_per_token_limit_is_429_with_retry_after_and_shared_with_the_data_routes(
    mcp: Callable[..., Reply], seeded: dict[str, str], dynamodb: Any
) -> None:
    token = store_limited_token(dynamodb, seeded["CredentialsTable"], 3)
    assert [mcp(request("tools/list"), token=token).status for _ in range(2)] == [200, 200]
    # The third request of the minute goes to the Data API with the same token: one budget.
    from lucent.auth.authenticator import Authenticator

    principal = Authenticator(
        CredentialStore(dynamodb, seeded["CredentialsTable"]), cache_ttl_seconds=0
    ).authenticate_bearer(f"Bearer {token}", "read:lucent", f"{BASE}/api/v1")
    data = load_function("IssuesFunction")
    event = proxy_event("/api/v1/insights", "GET", authorizer=principal.to_context())
    assert data(event, LocalContext("IssuesFunction"))["statusCode"] == 200
    refused = mcp(request("tools/list"), token=token)
    assert refused.status == 429
    assert refused.body == '{"error": "Rate limit exceeded"}'
    # The sliding window may keep a key refused into the next minute: up to two minutes.
    assert 1 <= int(refused.headers["Retry-After"]) <= 120
    rest = data(event, LocalContext("IssuesFunction"))
    assert (rest["statusCode"], rest["body"]) == (429, '{"error": "Rate limit exceeded"}')
    rest_headers = {
        **rest.get("headers", {}),
        **{k: ", ".join(v) for k, v in rest.get("multiValueHeaders", {}).items()},
    }
    assert 1 <= int(rest_headers["Retry-After"]) <= 120
    counter = dynamodb.get_item(
        TableName=seeded["RateLimitTable"], Key={"pk": {"S": f"bearer#{principal.credential_id}"}}
    )
    assert "Item" in counter


def test_an_unavailable_limiter_fails_open_with_a_metric(
    mcp: Callable[..., Reply], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RATE_LIMIT_TABLE", "no-such-table")
    from lucent import container

    container.reset()
    assert mcp(request("tools/list")).status == 200
    out = capsys.readouterr().out
    [warning] = [line for line in log_lines(out) if line["level"] == "WARNING"]
    assert warning["message"] == "rate limiter unavailable: request admitted (fail open)"
    assert warning["credential_id"].startswith("cred_")
    assert "ResourceNotFoundException" in warning["error"]
    assert emf_metrics(out) == [{"RateLimiterUnavailable": [1.0], "Mcp2xx": [1.0]}]


def test_a_failure_is_a_generic_500_with_its_traceback_and_metric(
    mcp: Callable[..., Reply], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CREDENTIALS_TABLE")
    from lucent import container

    container.reset()
    reply = mcp(request("tools/list"))
    assert (reply.status, reply.body) == (500, '{"error": "Internal server error"}')
    out = capsys.readouterr().out
    failed, logged = log_lines(out)
    assert (failed["level"], failed["message"]) == ("ERROR", "mcp request failed")
    assert failed["correlation_id"] == logged["correlation_id"] == CORRELATION_ID
    assert "ConfigurationError" in failed["exception"]
    assert (logged["message"], logged["status"], logged["http_method"]) == (
        "mcp request",
        500,
        "POST",
    )
    assert emf_metrics(out) == [{"McpInternalError": [1.0], "Mcp5xx": [1.0]}]


# --- hostile inputs: each a clear error, nothing changed -------------------------------------------

HOSTILE: list[tuple[str, dict[str, Any], int, dict[str, Any]]] = [
    # (id, call kwargs, HTTP status, expected subset of the body)
    (
        "not-json",
        {"raw": "{not json"},
        400,
        {"id": None, "error": {"code": -32700, "message": "Parse error"}},
    ),
    ("empty-body", {"raw": ""}, 400, {"error": {"code": -32700, "message": "Parse error"}}),
    ("deep-nesting", {"raw": "[" * 100_00 + "]" * 100_00}, 400, {"error": {"code": -32700}}),
    (
        "batch",
        {"body": [request("tools/list")]},
        400,
        {
            "id": None,
            "error": {
                "code": -32600,
                "message": "Batch requests are not supported: send one JSON-RPC message per POST",
            },
        },
    ),
    ("empty-batch", {"body": []}, 400, {"error": {"code": -32600}}),
    (
        "json-string",
        {"body": "tools/list"},
        400,
        {"error": {"code": -32600, "message": "Body must be a single JSON-RPC request object"}},
    ),
    (
        "posted-response",
        {"body": {"jsonrpc": "2.0", "id": 1, "result": {}}},
        400,
        {
            "error": {
                "code": -32600,
                "message": "This server sends no requests: a JSON-RPC response is not expected",
            }
        },
    ),
    (
        "posted-error",
        {"body": {"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": "x"}}},
        400,
        {"error": {"code": -32600}},
    ),
    (
        "jsonrpc-1.0",
        {"body": {"jsonrpc": "1.0", "id": 1, "method": "tools/list"}},
        400,
        {"error": {"code": -32600, "message": 'Invalid request: "jsonrpc" must be "2.0"'}},
    ),
    ("no-method", {"body": {"jsonrpc": "2.0", "id": 1}}, 400, {"error": {"code": -32600}}),
    (
        "null-id",
        {"body": {"jsonrpc": "2.0", "id": None, "method": "tools/list"}},
        400,
        {
            "error": {
                "code": -32600,
                "message": 'Invalid request: "id" must be a string or an integer',
            }
        },
    ),
    (
        "bool-id",
        {"body": {"jsonrpc": "2.0", "id": True, "method": "tools/list"}},
        400,
        {"error": {"code": -32600}},
    ),
    (
        "params-array",
        {"body": {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": []}},
        400,
        {"error": {"code": -32600}},
    ),
    (
        "unknown-method",
        {"body": request("resources/list")},
        200,
        {"id": 1, "error": {"code": -32601, "message": "Method not found: resources/list"}},
    ),
    (
        "discover-without-2026",
        {"body": request("server/discover")},
        200,
        {"error": {"code": -32601}},
    ),
    (
        "unknown-tool",
        {"body": tool_call("delete_everything", {})},
        200,
        {
            "error": {
                "code": -32602,
                "message": "Unknown tool: 'delete_everything' (tools: list_issues, get_issue, update_issue_status, list_signals, list_insights, get_session_timeline)",
            }
        },
    ),
    (
        "tool-name-not-string",
        {"body": request("tools/call", {"name": ["list_issues"]})},
        200,
        {"error": {"code": -32602}},
    ),
    (
        "arguments-array",
        {"body": tool_call("list_issues", [1, 2])},
        200,
        {"error": {"code": -32602, "message": 'Invalid params: "arguments" must be an object'}},
    ),
    (
        "old-version-header",
        {"body": request("tools/list"), "headers": {"MCP-Protocol-Version": "2025-03-26"}},
        400,
        {"error": {"code": -32600}},
    ),
    (
        "unknown-version-header",
        {
            "body": request("tools/list", {"_meta": meta("2099-01-01")}),
            "headers": modern_headers("tools/list", version="2099-01-01"),
        },
        400,
        {
            "error": {
                "code": -32022,
                "message": "Unsupported protocol version",
                "data": {
                    "supported": ["2026-07-28", "2025-11-25", "2025-06-18"],
                    "requested": "2099-01-01",
                },
            }
        },
    ),
    (
        "mcp-method-mismatch",
        {
            "body": tool_call("list_issues", {}, modern=True),
            "headers": modern_headers("tools/list", "list_issues"),
        },
        400,
        {
            "error": {
                "code": -32020,
                "message": "Mcp-Method header does not match the request's method",
            }
        },
    ),
    (
        "mcp-name-mismatch",
        {
            "body": tool_call(
                "update_issue_status", {"issue_id": UNKNOWN_ISSUE, "status": "open"}, modern=True
            ),
            "headers": modern_headers("tools/call", "list_issues"),
        },
        400,
        {
            "error": {
                "code": -32020,
                "message": "Mcp-Name header does not match the request's 'name'",
            }
        },
    ),
    (
        "version-header-vs-meta",
        {
            "body": request("tools/list", {"_meta": meta("2026-07-28")}),
            "headers": modern_headers("tools/list", version="2026-12-01"),
        },
        400,
        {"error": {"code": -32020}},
    ),
    (
        "missing-method-header",
        {
            "body": request("tools/list", {"_meta": meta()}),
            "headers": {"MCP-Protocol-Version": MODERN},
        },
        400,
        {"error": {"code": -32020}},
    ),
    (
        "modern-without-meta",
        {"body": request("tools/list"), "headers": modern_headers("tools/list")},
        400,
        {"error": {"code": -32602}},
    ),
    (
        "duplicated-version-header",
        {
            "body": request("tools/list", {"_meta": meta()}),
            "headers": modern_headers("tools/list"),
            "multi": {"MCP-Protocol-Version": [MODERN, "2025-06-18"]},
        },
        400,
        {
            "error": {
                "code": -32020,
                "message": "mcp-protocol-version header appears more than once",
            }
        },
    ),
    (
        "initialize-on-2026",
        {"body": request("initialize", {"_meta": meta()}), "headers": modern_headers("initialize")},
        404,
        {"error": {"code": -32601}},
    ),
    (
        "text-plain",
        {"body": request("tools/list"), "headers": {"Content-Type": "text/plain"}},
        415,
        {"error": "Unsupported Media Type: Content-Type must be application/json"},
    ),
    (
        "accept-sse-only",
        {"body": request("tools/list"), "headers": {"Accept": "text/event-stream"}},
        406,
        {"error": "Not Acceptable: Accept must include application/json"},
    ),
    (
        "oversized-body",
        {"body": tool_call("list_issues", {"cursor": "A" * 70_000})},
        413,
        {"error": "Request body too large"},
    ),
    (
        "non-utf8-base64",
        {"raw": base64.b64encode(b"\xff\xfe{").decode(), "base64_body": True},
        400,
        {"error": {"code": -32700}},
    ),
]

TOOL_ERRORS: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "limit-string",
        "list_issues",
        {"limit": "10"},
        "Invalid argument 'limit': must be an integer",
    ),
    (
        "limit-zero",
        "list_issues",
        {"limit": 0},
        "Invalid argument 'limit': must be between 1 and 100",
    ),
    (
        "limit-huge",
        "list_signals",
        {"limit": 10**30},
        "Invalid argument 'limit': must be between 1 and 100",
    ),
    (
        "limit-bool",
        "list_insights",
        {"limit": True},
        "Invalid argument 'limit': must be an integer",
    ),
    (
        "status-unknown",
        "list_issues",
        {"status": "closed"},
        "Invalid argument 'status': must be one of open, resolved, ignored",
    ),
    ("kind-number", "list_issues", {"kind": 3}, "Invalid argument 'kind': must be a string"),
    (
        "org-argument",
        "list_issues",
        {"org_id": "org_other"},
        "Unknown argument 'org_id' (tools act on the organization of your token); accepted: status, kind, limit, cursor",
    ),
    (
        "oversized-cursor",
        "list_issues",
        {"cursor": "A" * 5000},
        "Invalid argument 'cursor': at most 512 characters, got 5000",
    ),
    ("forged-cursor", "list_issues", {"cursor": "bm90IGEgY3Vyc29y"}, "Invalid cursor"),
    ("missing-issue-id", "get_issue", {}, "Missing required argument 'issue_id'"),
    (
        "path-traversal-id",
        "get_issue",
        {"issue_id": "../../ORG#org_other"},
        "Invalid argument 'issue_id': An issue id as returned by list_issues, e.g. iss_01J9Z3QW8N7X5V2K4M6P8R0T1Y.",
    ),
    (
        "session-id-too-long",
        "list_signals",
        {"session_id": "s" * 129},
        "Invalid argument 'session_id': at most 128 characters, got 129",
    ),
    (
        "timeline-without-session",
        "get_session_timeline",
        {"limit": 5},
        "Missing required argument 'session_id'",
    ),
    (
        "timeline-session-number",
        "get_session_timeline",
        {"session_id": 42},
        "Invalid argument 'session_id': must be a string",
    ),
    (
        "timeline-session-empty",
        "get_session_timeline",
        {"session_id": ""},
        "Invalid argument 'session_id': must not be empty",
    ),
    (
        "timeline-from-string",
        "get_session_timeline",
        {"session_id": "shop-a", "from_ms": "1000"},
        "Invalid argument 'from_ms': must be an integer",
    ),
    (
        "timeline-to-float",
        "get_session_timeline",
        {"session_id": "shop-a", "to_ms": 1.5},
        "Invalid argument 'to_ms': must be an integer",
    ),
    (
        "timeline-from-negative",
        "get_session_timeline",
        {"session_id": "shop-a", "from_ms": -1},
        "Invalid argument 'from_ms': must be at least 0",
    ),
    (
        "timeline-limit-zero",
        "get_session_timeline",
        {"session_id": "shop-a", "limit": 0},
        "Invalid argument 'limit': must be between 1 and 100",
    ),
    (
        "timeline-cursor-number",
        "get_session_timeline",
        {"session_id": "shop-a", "cursor": 7},
        "Invalid argument 'cursor': must be a string",
    ),
    (
        "timeline-org-argument",
        "get_session_timeline",
        {"session_id": "shop-a", "org_id": "org_other"},
        "Unknown argument 'org_id' (tools act on the organization of your token); accepted: session_id, from_ms, to_ms, limit, cursor",
    ),
    (
        "timeline-forged-cursor",
        "get_session_timeline",
        {"session_id": "shop-a", "cursor": "bm90IGEgY3Vyc29y"},
        "Invalid cursor",
    ),
]


@pytest.fixture
def unchanged(seeded: dict[str, str], dynamodb: Any) -> Any:
    before = data_items(dynamodb, seeded["DataTable"])
    yield
    assert data_items(dynamodb, seeded["DataTable"]) == before


def _subset(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _subset(actual[k], v) for k, v in expected.items()
        )
    return bool(actual == expected)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("case", "kwargs", "status", "expected"), HOSTILE, ids=[h[0] for h in HOSTILE]
)
def test_hostile_requests_get_a_clear_error(
    mcp: Callable[..., Reply],
    case: str,
    kwargs: dict[str, Any],
    status: int,
    expected: dict[str, Any],
) -> None:
    reply = mcp(token=WRITE, **kwargs)
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"] == "application/json"
    body = reply.json()
    if "jsonrpc" in body:
        assert body["jsonrpc"] == "2.0"
        assert "result" not in body
    assert _subset(body, expected), body


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("case", "tool", "arguments", "message"), TOOL_ERRORS, ids=[t[0] for t in TOOL_ERRORS]
)
def test_bad_arguments_are_tool_errors_the_model_can_read(
    mcp: Callable[..., Reply], case: str, tool: str, arguments: dict[str, Any], message: str
) -> None:
    reply = mcp(tool_call(tool, arguments), token=WRITE)
    assert reply.status == 200
    assert reply.json()["result"] == {
        "content": [{"type": "text", "text": message}],
        "isError": True,
    }


@pytest.mark.usefixtures("unchanged")
def test_a_cursor_of_other_filters_is_invalid(mcp: Callable[..., Reply]) -> None:
    cursor = mcp(tool_call("list_issues", {"limit": 1, "status": "open"})).json()["result"][
        "structuredContent"
    ]["next_cursor"]
    assert cursor
    for args in ({"status": "resolved"}, {"status": "open", "kind": "js_error"}, {}):
        reply = mcp(tool_call("list_issues", {**args, "cursor": cursor}))
        assert reply.json()["result"]["content"][0]["text"] == "Invalid cursor", args


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("bad_status", ["closed", "OPEN", "", None, 1])
def test_a_bad_status_changes_nothing(mcp: Callable[..., Reply], bad_status: Any) -> None:
    reply = mcp(
        tool_call("update_issue_status", {"issue_id": ROLES["issue_id"], "status": bad_status}),
        token=WRITE,
    )
    result = reply.json()["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"].startswith(
        ("Invalid argument 'status'", "Missing required argument 'status'")
    )


@pytest.mark.usefixtures("unchanged")
def test_a_tool_call_sent_as_a_notification_is_acknowledged_and_never_run(
    mcp: Callable[..., Reply],
) -> None:
    body = tool_call("update_issue_status", {"issue_id": ROLES["issue_id"], "status": "ignored"})
    del body["id"]
    reply = mcp(body, token=WRITE, headers={"MCP-Protocol-Version": "2025-06-18"})
    assert (reply.status, reply.body) == (202, "")


def test_template_declares_the_mcp_gateway_responses() -> None:
    declared = tpl.load_template()["Resources"]["McpApi"]["Properties"]["GatewayResponses"]
    assert declared == contract.mcp_gateway_responses()
    assert "Auth" not in tpl.load_template()["Resources"]["McpApi"]["Properties"]


def test_the_function_never_logs_a_token(
    mcp: Callable[..., Reply], capsys: pytest.CaptureFixture[str]
) -> None:
    mcp(tool_call("list_issues", {"limit": 1}))
    mcp(request("tools/list"), token="luc_api_" + "x" * 36)
    out = capsys.readouterr().out
    assert READ not in out
    assert "x" * 36 not in out
    assert '"rpc_method":"tools/call"' in out
    called, refused = (line for line in log_lines(out) if line["message"] == "mcp request")
    assert {k: called[k] for k in ("correlation_id", "http_method", "status", "rpc_method")} == {
        "correlation_id": CORRELATION_ID,
        "http_method": "POST",
        "status": 200,
        "rpc_method": "tools/call",
    }
    assert (called["tool"], called["org_id"]) == ("list_issues", "org_demo")
    assert called["credential_id"].startswith("cred_")
    assert (refused["status"], "credential_id" in refused) == (401, False)
    assert emf_metrics(out) == [{"McpToolCall": [1.0], "Mcp2xx": [1.0]}, {"Mcp4xx": [1.0]}]


# --- strict JSON bodies: lucent.json_body, as on ingest and the Data API (issue 17, 12) ----------

RPC_PARSE_ERROR = '{"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "%s"}}'
DUPLICATE_NAME = (
    '{"jsonrpc":"2.0","id":1,"method":"tools/call",'
    '"params":{"name":"list_insights","arguments":{},"name":"list_issues"}}'
)


def nested(levels: int) -> str:
    """A tools/call whose body is ``levels`` deep (envelope, params, _meta, then arrays)."""
    arrays = levels - 3
    deep = "[" * arrays + "]" * arrays
    return (
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_insights",'
        f'"arguments":{{}},"_meta":{{"deep":{deep}}}}}}}'
    )


STRICT_JSON: list[tuple[str, str, str]] = [
    # (id, raw body, the exact -32700 message)
    ("duplicate-tool-name", DUPLICATE_NAME, 'Parse error: duplicate key \\"name\\"'),
    (
        "duplicate-argument",
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"update_issue_status",'
        f'"arguments":{{"issue_id":"{ROLES["issue_id"]}","status":"resolved","status":"open"}}}}}}',
        'Parse error: duplicate key \\"status\\"',
    ),
    (
        "duplicate-method",
        '{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call",'
        '"params":{"name":"list_issues"}}',
        'Parse error: duplicate key \\"method\\"',
    ),
    (
        # The last "method" would have written: refused before any method runs.
        "duplicate-method-last-writes",
        '{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":'
        '{"name":"update_issue_status",'
        f'"arguments":{{"issue_id":"{ROLES["issue_id"]}","status":"ignored"}}}}}}',
        'Parse error: duplicate key \\"method\\"',
    ),
    (
        "duplicate-id",
        '{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}',
        'Parse error: duplicate key \\"id\\"',
    ),
    (
        "nan-argument",
        '{"jsonrpc":"2.0","id":1,"method":"tools/call",'
        '"params":{"name":"list_issues","arguments":{"limit":NaN}}}',
        "Parse error",
    ),
    ("infinity-id", '{"jsonrpc":"2.0","id":-Infinity,"method":"ping"}', "Parse error"),
    (
        "integer-over-the-digit-limit",
        '{"jsonrpc":"2.0","id":1' + "0" * 5000 + ',"method":"ping"}',
        "Parse error",
    ),
    ("one-level-too-deep", nested(33), "Parse error: nested too deeply"),
    # Within the 64 KiB body limit, and deeper than any interpreter's parser goes.
    ("deeper-than-the-parser", "[" * 30_000 + "]" * 30_000, "Parse error: nested too deeply"),
    ("bom", "\ufeff" + json.dumps(request("ping")), "Parse error"),
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("case", "raw", "message"), STRICT_JSON, ids=[s[0] for s in STRICT_JSON])
def test_a_body_that_is_not_strict_json_is_a_parse_error_and_runs_nothing(
    mcp: Callable[..., Reply],
    capsys: pytest.CaptureFixture[str],
    case: str,
    raw: str,
    message: str,
) -> None:
    for headers in ({}, {"MCP-Protocol-Version": "2025-06-18"}, modern_headers("tools/call")):
        reply = mcp(raw=raw, token=WRITE, headers=headers)
        assert (reply.status, reply.body) == (400, RPC_PARSE_ERROR % message), headers
        assert reply.headers["Content-Type"] == "application/json"
    # No tool ran: McpToolCall is the metric of a tool that ran.
    assert '"McpToolCall"' not in capsys.readouterr().out


def test_a_duplicate_tool_name_is_refused_where_json_loads_ran_the_last_one(
    mcp: Callable[..., Reply],
) -> None:
    # json.loads kept the last "name" and ran list_issues; the same call without the duplicate
    # still runs list_insights.
    assert mcp(raw=DUPLICATE_NAME).status == 400
    single = DUPLICATE_NAME.replace(',"name":"list_issues"', "")
    result = mcp(raw=single).json()["result"]
    assert result["isError"] is False
    assert result["structuredContent"]["items"][0]["id"].startswith("ins_")


def test_the_deepest_body_accepted_is_32_levels(mcp: Callable[..., Reply]) -> None:
    reply = mcp(raw=nested(32))
    assert reply.status == 200, reply.body
    assert reply.json()["result"]["isError"] is False


@pytest.mark.usefixtures("unchanged")
def test_a_number_too_large_for_a_float_is_a_tool_error_not_a_crash(
    mcp: Callable[..., Reply],
) -> None:
    # 1e400 is valid JSON (a float, infinite in Python): the argument check refuses it.
    reply = mcp(
        raw='{"jsonrpc":"2.0","id":1,"method":"tools/call",'
        '"params":{"name":"list_issues","arguments":{"limit":1e400}}}'
    )
    assert reply.status == 200
    assert reply.json()["result"] == {
        "content": [{"type": "text", "text": "Invalid argument 'limit': must be an integer"}],
        "isError": True,
    }


def b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.usefixtures("unchanged")
def test_a_cursor_with_a_key_twice_is_invalid(mcp: Callable[..., Reply]) -> None:
    # Cursors are the client's bytes too: read strictly, by the Data API's service (the inner
    # cursor) and by the tools (the wrapper with the filters only MCP applies).
    cursor = mcp(tool_call("list_issues", {"limit": 1, "status": "open"})).json()["result"][
        "structuredContent"
    ]["next_cursor"]
    wrapper = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    inner = wrapper["c"]
    last = json.loads(base64.urlsafe_b64decode(inner + "=" * (-len(inner) % 4)))["p"]
    forged_inner = b64(f'{{"l":"issues","f":"open","p":"{UNKNOWN_ISSUE}","p":"{last}"}}')
    for forged in (
        b64(f'{{"c":"{UNKNOWN_ISSUE}","c":"{inner}","x":{{"kind":null}}}}'),
        b64(f'{{"c":"{forged_inner}","x":{{"kind":null}}}}'),
    ):
        result = mcp(tool_call("list_issues", {"status": "open", "cursor": forged})).json()
        assert result["result"] == {
            "content": [{"type": "text", "text": "Invalid cursor"}],
            "isError": True,
        }
    # The same cursors without the repeated key are served.
    honest_inner = b64(f'{{"l":"issues","f":"open","p":"{last}"}}')
    for honest in (
        b64(f'{{"c":"{inner}","x":{{"kind":null}}}}'),
        b64(f'{{"c":"{honest_inner}","x":{{"kind":null}}}}'),
    ):
        result = mcp(tool_call("list_issues", {"status": "open", "cursor": honest})).json()
        assert result["result"]["isError"] is False, result
