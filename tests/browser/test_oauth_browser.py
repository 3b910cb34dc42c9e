"""The whole OAuth journey an agent makes, against `make dev`'s local API, in a real browser.

The official MCP Python SDK's ``OAuthClientProvider`` (an httpx auth flow) is the client: it gets
a 401 from the protected resource, discovers the authorization server, registers itself, and
hands the authorize URL to its redirect handler, which opens it in Debian's Chromium (Playwright)
where the demo person signs in (Cognito, in moto) and approves. The browser lands on the client's
loopback callback; the SDK checks ``state`` and ``iss``, exchanges the code with PKCE, and the
protected call succeeds. Then, in order: refresh (rotation), reuse of the rotated refresh token
after the grace (the whole family revoked), and revocation through ``/oauth/revoke``.

Until the MCP server lands on this branch the protected resource is the Data API
(``GET /api/v1/issues``): it proves the issued ``luc_oat_`` token works where the authorizer
checks it. ``MCP-Protocol-Version`` on those calls makes the SDK send RFC 8707 ``resource``.
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
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

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
    resource_url = f"{api.url}/api/v1"
    storage = _Storage()
    seen_pages: dict[str, str] = {}
    browser_log: list[str] = []

    page.on("request", lambda r: browser_log.append(f"{r.method} {r.url.split('?')[0]}"))

    async def open_in_browser(authorization_url: str) -> None:
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
        server_url=resource_url,
        client_metadata=OAuthClientMetadata(
            client_name="MCP SDK end-to-end test",
            redirect_uris=[redirect_uri],  # type: ignore[list-item]
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            scope="read:lucent",
        ),
        storage=storage,
        redirect_handler=open_in_browser,
        callback_handler=wait_for_code,
    )
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        # 1. A 401, discovery, registration, the browser, the code, the token, the call.
        first = await http.get(f"{api.url}/api/v1/issues", headers=PROTOCOL)
    assert first.status_code == 200, first.text
    assert first.json()["items"]  # the demo organization's issues

    assert storage.client is not None
    client_id = storage.client.client_id
    assert client_id.startswith("lcl_")
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

    def issues(token: str) -> int:
        request = urllib.request.Request(
            f"{api.url}/api/v1/issues", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    # 2. Refresh: the SDK refreshes an expired token, and the refresh token rotates.
    provider.context.token_expiry_time = time.time() - 1
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        again = await http.get(f"{api.url}/api/v1/issues", headers=PROTOCOL)
    assert again.status_code == 200
    second_tokens = storage.tokens
    assert second_tokens is not None
    assert second_tokens.access_token != first_tokens.access_token
    assert second_tokens.refresh_token not in (None, first_tokens.refresh_token)
    assert issues(second_tokens.access_token) == 200

    # 3. Reuse detection: the rotated refresh token, presented after the grace, ends the family.
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
    assert issues(second_tokens.access_token) == 401
    assert issues(first_tokens.access_token) == 401
    status, body = _post_form(
        token_url,
        {
            "grant_type": "refresh_token",
            "refresh_token": str(second_tokens.refresh_token),
            "client_id": client_id,
        },
    )
    assert (status, body) == (400, {"error": "invalid_grant"})

    # 4. A new grant, then revocation through /oauth/revoke ends its access.
    storage.tokens = None
    provider.context.clear_tokens()
    callback.received.clear()  # type: ignore[attr-defined]
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        fresh = await http.get(f"{api.url}/api/v1/issues", headers=PROTOCOL)
    assert fresh.status_code == 200
    third = storage.tokens
    assert third is not None
    assert issues(third.access_token) == 200
    status, body = _post_form(
        f"{api.url}/oauth/revoke", {"token": third.access_token, "client_id": client_id}
    )
    assert (status, body) == (200, {})
    assert issues(third.access_token) == 401
