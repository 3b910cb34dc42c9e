"""The whole OAuth journey an agent makes to Lucent's MCP server, against `make dev`'s local API,
in a real browser.

The official MCP Python SDK (``mcp`` 2.3.0) is the client: ``Client`` over
``streamable_http_client`` with its ``OAuthClientProvider`` (an httpx auth flow) and nothing but
the MCP URL. Its first ``POST /mcp`` gets the 401 whose challenge names the protected-resource
metadata (RFC 9728); there it reads ``authorization_servers`` (the OAuth issuer: locally the MCP and OAuth APIs
share the local API's origin), discovers the authorization server (RFC 8414), registers itself
(RFC 7591) and hands the authorize URL to its redirect handler, which opens it in Debian's
Chromium (Playwright) where the demo person signs in (Cognito, in moto) and approves. The browser
lands on the client's loopback callback; the SDK checks ``state`` and ``iss``, exchanges the code
with PKCE and ``resource=<base>/mcp`` (RFC 8707), and calls MCP tools with the token:
``list_issues`` works, ``update_issue_status`` is refused with the 403 step-up (only
``read:lucent`` was granted). Then, in order: refresh (rotation), reuse of the rotated refresh
token after the grace (the whole family revoked: MCP answers 401), and revocation through
``/oauth/revoke`` (MCP answers 401). Last, the step-up as the SDK runs it: its 403
``insufficient_scope`` answer re-authorizes the same registration for ``read:lucent
write:issues``, the person approves the wider scope in the browser, and the call succeeds.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from mcp.client.auth import OAuthClientProvider
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from mcp.shared.exceptions import MCPError

from lucent.oauth.policy import REFRESH_REUSE_GRACE_SECONDS
from lucent_dev import identity
from lucent_dev.local_api import LocalApi

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
PROTOCOL = {"MCP-Protocol-Version": "2025-11-25"}


class _Callback(BaseHTTPRequestHandler):
    """The client's loopback redirect URI (RFC 8252): records what the browser brings back."""

    received: list[dict[str, list[str]]]

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/callback":  # not the browser's /favicon.ico
            self.server.received.append(parse_qs(urlsplit(self.path).query))  # type: ignore[attr-defined]
        body = b"<!DOCTYPE html><title>Done</title><p id=done>You can close this window.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Storage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None
        self.history: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@pytest.fixture
def api() -> Iterator[LocalApi]:
    with LocalApi(port=0) as running:
        # The authorizer trusts a lookup for AuthCacheTtlSeconds (60 s, docs/authorizer.md): that
        # is the documented delay before a revocation bites. Here it is 0 so the test need not
        # wait a minute after each revocation; test_oauth.py shows the store side at once.
        for container in running.containers.values():
            container.env["AUTH_CACHE_TTL_SECONDS"] = "0"
        yield running


@pytest.fixture
def callback() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _post_form(url: str, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=urlencode(fields).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
            return response.status, json.loads(body) if body else {}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _mcp_status(url: str, token: str) -> int:
    """``tools/list`` on the MCP endpoint with ``token``, outside the SDK: the HTTP status."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **PROTOCOL,
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _data_answer(url: str, token: str) -> tuple[int, bytes, str | None]:
    """``GET /api/v1/issues`` with ``token``: status, body and ``WWW-Authenticate``."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read(), response.headers["WWW-Authenticate"]
    except urllib.error.HTTPError as error:
        return int(error.code), error.read(), error.headers["WWW-Authenticate"]


class _Traffic:
    """Every request the SDK's HTTP client sends, with its answer (the query string dropped)."""

    def __init__(self) -> None:
        self.exchanges: list[tuple[str, str, int]] = []
        self.forms: dict[str, list[dict[str, list[str]]]] = {}
        self.challenges: dict[int, str] = {}

    async def __call__(self, response: httpx2.Response) -> None:
        request = response.request
        path = request.url.path
        self.exchanges.append((request.method, path, response.status_code))
        if request.headers.get("content-type", "").startswith("application/x-www-form"):
            self.forms.setdefault(path, []).append(parse_qs(request.content.decode()))
        if "www-authenticate" in response.headers:
            self.challenges[response.status_code] = response.headers["www-authenticate"]


def test_an_mcp_client_gets_a_token_a_person_grants_in_chromium(
    api: LocalApi, callback: ThreadingHTTPServer
) -> None:
    asyncio.run(_journey(api, callback))


async def _journey(api: LocalApi, callback: ThreadingHTTPServer) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            await _steps(api, callback, await browser.new_page())
        finally:
            await browser.close()


async def _steps(api: LocalApi, callback: ThreadingHTTPServer, page: Any) -> None:
    redirect_uri = f"http://127.0.0.1:{callback.server_address[1]}/callback"
    mcp_url = f"{api.url}/mcp"
    metadata_url = f"{api.url}/.well-known/oauth-protected-resource/mcp"
    issue_id = str(api.state()["issue_id"])
    storage = _Storage()
    seen_pages: dict[str, str] = {}
    authorization_urls: list[str] = []
    browser_log: list[str] = []

    page.on("request", lambda r: browser_log.append(f"{r.method} {r.url.split('?')[0]}"))

    async def open_in_browser(authorization_url: str) -> None:
        authorization_urls.append(authorization_url)
        await page.goto(authorization_url)
        seen_pages["sign_in"] = await page.content()
        await page.fill("input[name=username]", identity.DEMO_USERNAME)
        await page.fill("input[name=password]", identity.DEMO_PASSWORD)
        await page.click("#sign-in")
        await page.wait_for_selector("#approve")
        seen_pages["consent"] = await page.content()
        await page.click("#approve")
        await page.wait_for_selector("#done")

    async def wait_for_code() -> AuthorizationCodeResult:
        params = callback.received[-1]  # type: ignore[attr-defined]
        return AuthorizationCodeResult(
            code=params["code"][0], state=params["state"][0], iss=params["iss"][0]
        )

    provider = OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name="MCP SDK end-to-end test",
            redirect_uris=[redirect_uri],  # type: ignore[list-item]
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=open_in_browser,
        callback_handler=wait_for_code,
    )
    traffic = _Traffic()

    async def list_issues_through_the_sdk() -> dict[str, Any]:
        async with (
            httpx2.AsyncClient(
                auth=provider, timeout=30, event_hooks={"response": [traffic]}
            ) as http,
            Client(streamable_http_client(mcp_url, http_client=http), mode="auto") as client,
        ):
            result = await client.call_tool("list_issues", {"status": "open", "limit": 3})
            return result.model_dump(mode="json", by_alias=True)

    # 1. Nothing but the URL: the 401, discovery, registration, the browser, the code, the token,
    #    then the tool call.
    listed = await list_issues_through_the_sdk()
    assert listed["isError"] is False, listed
    assert len(listed["structuredContent"]["items"]) == 3  # the demo organization's open issues
    assert [exchange[:2] for exchange in traffic.exchanges[:5]] == [
        ("POST", "/mcp"),
        ("GET", "/.well-known/oauth-protected-resource/mcp"),
        ("GET", "/.well-known/oauth-authorization-server"),
        ("POST", "/oauth/register"),
        ("POST", "/oauth/token"),
    ]
    assert [exchange[2] for exchange in traffic.exchanges[:5]] == [401, 200, 200, 201, 200]
    assert (
        traffic.challenges[401] == f'Bearer resource_metadata="{metadata_url}", scope="read:lucent"'
    )
    assert all(status == 200 for _, path, status in traffic.exchanges[5:]), traffic.exchanges
    (authorization_url,) = authorization_urls
    authorize = parse_qs(urlsplit(authorization_url).query)
    assert authorize["resource"] == [mcp_url]
    assert authorize["scope"] == ["read:lucent"]  # the 401 challenge's scope
    assert authorize["code_challenge_method"] == ["S256"]
    (token_form,) = traffic.forms["/oauth/token"]
    assert token_form["grant_type"] == ["authorization_code"]
    assert token_form["resource"] == [mcp_url]

    assert storage.client is not None
    client_id = storage.client.client_id
    assert client_id.startswith("lcl_")
    # The SDK registers with the scope of MCP's 401 challenge (docs/oauth.md, "Step-up").
    assert storage.client.scope == "read:lucent"
    (params,) = callback.received  # type: ignore[attr-defined]
    assert params["iss"] == [api.url]
    assert "Read issues, signals, and insights." in seen_pages["sign_in"]
    assert "MCP SDK end-to-end test" in seen_pages["sign_in"]
    assert f"127.0.0.1:{callback.server_address[1]}" in seen_pages["sign_in"]
    assert '<dd id="organization"><code>org_demo</code></dd>' in seen_pages["consent"]
    assert browser_log[0] == f"GET {api.url}/oauth/authorize"
    first_tokens = storage.tokens
    assert first_tokens is not None
    assert first_tokens.access_token.startswith("luc_oat_")
    assert first_tokens.scope == "read:lucent"
    assert first_tokens.refresh_token is not None

    # The token was granted for <base>/mcp (RFC 8707): the Data API, on the same host, refuses
    # it exactly as it refuses an unknown token (docs/oauth.md, "Audience").
    assert _data_answer(f"{api.url}/api/v1/issues", first_tokens.access_token) == (
        401,
        b'{"error": "Missing or invalid bearer token"}',
        'Bearer scope="read:lucent"',
    )

    # 2. The granted token holds read:lucent only: update_issue_status is the 403 step-up, and
    #    the issue is unchanged. (Through a client holding just the token: the provider would
    #    answer the 403 by re-authorizing, which is the SDK's business, not the server's.)
    step_up = _Traffic()
    async with (
        httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {first_tokens.access_token}"},
            timeout=30,
            event_hooks={"response": [step_up]},
        ) as http,
        Client(streamable_http_client(mcp_url, http_client=http), mode="auto") as client,
    ):
        before = await client.call_tool("get_issue", {"issue_id": issue_id})
        with pytest.raises(MCPError) as refused:
            await client.call_tool(
                "update_issue_status", {"issue_id": issue_id, "status": "ignored"}
            )
        after = await client.call_tool("get_issue", {"issue_id": issue_id})
    assert refused.value.error.message == "Missing required scope: write:issues"
    assert step_up.challenges[403] == (
        f'Bearer error="insufficient_scope", scope="write:issues", resource_metadata="{metadata_url}"'
    )
    assert before.structured_content is not None
    assert after.structured_content == before.structured_content
    assert before.structured_content["status"] != "ignored"

    # 3. Refresh: the SDK refreshes an expired token (with the resource), the refresh token
    #    rotates, and the new access token calls MCP.
    provider.context.token_expiry_time = time.time() - 1
    traffic.exchanges.clear()
    traffic.forms.clear()
    again = await list_issues_through_the_sdk()
    assert again["isError"] is False
    assert traffic.exchanges[0] == ("POST", "/oauth/token", 200)
    (refresh_form,) = traffic.forms["/oauth/token"]
    assert refresh_form["grant_type"] == ["refresh_token"]
    assert refresh_form["resource"] == [mcp_url]
    second_tokens = storage.tokens
    assert second_tokens is not None
    assert second_tokens.access_token != first_tokens.access_token
    assert second_tokens.refresh_token not in (None, first_tokens.refresh_token)
    assert _mcp_status(mcp_url, second_tokens.access_token) == 200

    # 4. Reuse detection: the rotated refresh token, presented after the grace, ends the family:
    #    both access tokens stop opening MCP, and the current refresh token is dead too.
    time.sleep(REFRESH_REUSE_GRACE_SECONDS + 1)
    token_url = f"{api.url}/oauth/token"
    status, body = _post_form(
        token_url,
        {
            "grant_type": "refresh_token",
            "refresh_token": first_tokens.refresh_token,
            "client_id": client_id,
        },
    )
    assert (status, body) == (400, {"error": "invalid_grant"})
    assert _mcp_status(mcp_url, second_tokens.access_token) == 401
    assert _mcp_status(mcp_url, first_tokens.access_token) == 401
    status, body = _post_form(
        token_url,
        {
            "grant_type": "refresh_token",
            "refresh_token": str(second_tokens.refresh_token),
            "client_id": client_id,
        },
    )
    assert (status, body) == (400, {"error": "invalid_grant"})

    # 5. A new grant (the SDK starts over from MCP's 401), then revocation through /oauth/revoke
    #    ends its access: MCP answers 401.
    storage.tokens = None
    provider.context.clear_tokens()
    callback.received.clear()  # type: ignore[attr-defined]
    traffic.exchanges.clear()
    fresh = await list_issues_through_the_sdk()
    assert fresh["isError"] is False
    assert traffic.exchanges[0] == ("POST", "/mcp", 401)
    assert len(authorization_urls) == 2
    third = storage.tokens
    assert third is not None
    assert third.access_token not in (first_tokens.access_token, second_tokens.access_token)
    assert _mcp_status(mcp_url, third.access_token) == 200
    status, body = _post_form(
        f"{api.url}/oauth/revoke", {"token": third.access_token, "client_id": client_id}
    )
    assert (status, body) == (200, {})
    assert _mcp_status(mcp_url, third.access_token) == 401

    # 6. Step-up through the SDK (docs/oauth.md, "Scopes and step-up"). Its stored token was
    #    just revoked: initialize gets a 401 and a read:lucent grant (a third consent); then
    #    update_issue_status gets the 403 insufficient_scope, and the SDK authorizes the same
    #    registration for the union of the scopes (a fourth consent), then retries the call.
    callback.received.clear()  # type: ignore[attr-defined]
    traffic.exchanges.clear()
    async with (
        httpx2.AsyncClient(auth=provider, timeout=30, event_hooks={"response": [traffic]}) as http,
        Client(streamable_http_client(mcp_url, http_client=http), mode="auto") as client,
    ):
        updated = await client.call_tool(
            "update_issue_status", {"issue_id": issue_id, "status": "ignored"}
        )
    assert updated.is_error is False, updated
    assert updated.structured_content is not None
    assert (updated.structured_content["id"], updated.structured_content["status"]) == (
        issue_id,
        "ignored",
    )
    assert ("POST", "/mcp", 403) in traffic.exchanges
    assert all(path != "/oauth/register" for _, path, _ in traffic.exchanges)  # same client
    assert len(authorization_urls) == 4
    step_up_request = parse_qs(urlsplit(authorization_urls[-1]).query)
    assert step_up_request["client_id"] == [client_id]
    assert step_up_request["scope"] == ["read:lucent write:issues"]
    assert step_up_request["resource"] == [mcp_url]
    assert "<li><code>write:issues</code>: Update issue status.</li>" in seen_pages["sign_in"]
    stepped_up = storage.tokens
    assert stepped_up is not None
    assert stepped_up.scope == "read:lucent write:issues"
    assert storage.client.scope == "read:lucent"  # the registration itself is unchanged
