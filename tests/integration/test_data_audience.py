"""RFC 8707 audience over real HTTP, through the local API: an OAuth token granted for the MCP
endpoint does not open the Data API (and the reverse), with exactly an unknown token's 401;
credentials never bound to a resource keep working (docs/oauth.md, "Audience")."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from lucent.auth.credentials import CredentialKind, generate_secret, issue_credential
from lucent.auth.store import CredentialStore
from lucent_dev import demo
from lucent_dev.local_api import LocalApi

ROLES = demo.roles()
UNKNOWN_TOKEN_401 = b'{"error": "Missing or invalid bearer token"}'


@pytest.fixture(scope="module")
def api(shared_api: LocalApi) -> LocalApi:
    return shared_api  # conftest.py: one LocalApi for the modules that need nothing special


def call(api: LocalApi, method: str, path: str, token: str, body: bytes | None = None) -> Any:
    connection = http.client.HTTPConnection(api.host, api.port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        if path == "/mcp":
            headers.update(
                {
                    "Accept": "application/json, text/event-stream",
                    "MCP-Protocol-Version": "2025-11-25",
                }
            )
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def oauth_token(api: LocalApi, resource: str | None) -> str:
    """A ``luc_oat_`` for the demo organization as the authorization server records it."""
    options: dict[str, Any] = {}
    if resource is not None:
        options = {"resource": resource, "client_id": "lcl_audience", "family_id": "fam_audience"}
    issued = issue_credential(
        CredentialKind.OAUTH,
        ROLES["org_id"],
        scopes=["read:lucent", "write:issues"],
        expires_in=3600,
        **options,
    )
    assert api.aws is not None
    CredentialStore(api.aws.client("dynamodb"), api.names["CredentialsTable"]).put(issued)
    return issued.secret


def test_a_token_granted_for_mcp_is_an_unknown_token_to_the_data_routes(api: LocalApi) -> None:
    # The local API answers every API on one origin: the resources are <url>/mcp and
    # <url>/api/v1, as the authorization server's defaults name them.
    for_mcp = oauth_token(api, f"{api.url}/mcp")
    unknown = generate_secret(CredentialKind.OAUTH)
    issue = f"/api/v1/issues/{demo.DEMO_ISSUE_ID}"
    for method, path, body, challenge in (
        ("GET", "/api/v1/issues", None, "read:lucent"),
        ("PATCH", issue, b'{"status": "resolved"}', "write:issues"),
    ):
        answers = [call(api, method, path, token, body) for token in (for_mcp, unknown)]
        for status, headers, payload in answers:
            assert (status, payload) == (401, UNKNOWN_TOKEN_401)
            assert headers["Content-Type"] == "application/json"
            assert headers["WWW-Authenticate"] == f'Bearer scope="{challenge}"'
            assert "Access-Control-Allow-Origin" not in headers
        # The same answer but for API Gateway's per-request ids.
        first, second = (
            {k: v for k, v in h.items() if not k.startswith("x-amzn")} for _, h, _ in answers
        )
        assert first == second
    # The refusal changed nothing.
    status, _, payload = call(api, "GET", issue, ROLES["api_key"])
    assert status == 200
    assert json.loads(payload)["status"] != "resolved"


def test_a_token_granted_for_the_data_routes_opens_it_but_not_mcp(api: LocalApi) -> None:
    for_data = oauth_token(api, f"{api.url}/api/v1")
    status, _, payload = call(api, "GET", "/api/v1/issues?limit=2", for_data)
    assert status == 200, payload
    assert len(json.loads(payload)["items"]) == 2
    tools_list = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    status, _, payload = call(api, "POST", "/mcp", for_data, tools_list)
    assert (status, payload) == (401, UNKNOWN_TOKEN_401)


@pytest.mark.parametrize("role", ["api_key", "legacy_key", "oauth_token"])
def test_credentials_without_a_resource_keep_working(api: LocalApi, role: str) -> None:
    status, _, payload = call(api, "GET", "/api/v1/issues?limit=1", ROLES[role])
    assert status == 200, payload


def test_a_cli_minted_oauth_token_keeps_working(api: LocalApi) -> None:
    status, _, payload = call(api, "GET", "/api/v1/issues?limit=1", oauth_token(api, None))
    assert status == 200, payload
