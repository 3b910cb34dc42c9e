"""Every route of template.yaml is served by the local API, and nothing else is.

The routes are read here straight from the functions' ``Events`` (independently of
``lucent_dev.template.routes``). Over real HTTP, without credentials:

* each declared (path, method) reaches its API's authorizer, or the function where the route
  has no authorizer, so it never answers the gateway's "no such route" response;
* every other method on those paths, and paths next to them, get the template's
  MISSING_AUTHENTICATION_TOKEN gateway response (status, body and headers), as on AWS.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from lucent_dev import template as tpl
from lucent_dev.gateway import Gateway, body_bytes
from lucent_dev.local_api import LocalApi

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SAMPLE_PARAMETER = "iss_parity_1"


def declared_routes() -> set[tuple[str, str, str, bool]]:
    """(api, path, method, authorized) for every Api event of every function in template.yaml."""
    template = tpl.load_template()
    resources = template["Resources"]
    out = set()
    for resource in resources.values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "Api":
                continue
            props = event["Properties"]
            api = props["RestApiId"]["Ref"]
            api_auth = resources[api]["Properties"].get("Auth", {})
            authorized = bool(api_auth.get("DefaultAuthorizer")) and (
                props.get("Auth", {}).get("Authorizer") != "NONE"
            )
            out.add((api, props["Path"], props["Method"].upper(), authorized))
    return out


ROUTES = declared_routes()
PATHS = {(api, path) for api, path, _, _ in ROUTES}


def concrete(path: str) -> str:
    return path.replace("{issue_id}", SAMPLE_PARAMETER)


def expanded() -> list[tuple[str, str, str, bool]]:
    """Declared routes with ANY replaced by each method not declared on its own for that path."""
    out = []
    for api, path, method, authorized in sorted(ROUTES):
        if method != "ANY":
            out.append((api, path, method, authorized))
            continue
        explicit = {m for a, p, m, _ in ROUTES if (a, p) == (api, path) and m != "ANY"}
        out.extend((api, path, m, authorized) for m in METHODS if m not in explicit)
    return out


def undeclared() -> list[tuple[str, str, str]]:
    out = []
    for api, path in sorted(PATHS):
        methods = {m for a, p, m, _ in ROUTES if (a, p) == (api, path)}
        if "ANY" in methods:
            continue
        out.extend((api, path, m) for m in METHODS if m not in methods)
    return out


# What the OAuth function answers to a request with no parameters, body or credentials; any
# other method on its paths is 405.
OAUTH_EMPTY_REQUEST_STATUS = {
    ("/.well-known/oauth-authorization-server", "GET"): 200,
    ("/oauth/register", "POST"): 400,
    ("/oauth/authorize", "GET"): 400,
    ("/oauth/authorize", "POST"): 400,
    ("/oauth/token", "POST"): 400,
    ("/oauth/revoke", "POST"): 400,
}

NEIGHBOURS = [
    ("IngestApi", "/api/sdk"),
    ("IngestApi", "/api/sdk/replay/extra"),
    ("IngestApi", "/api/sdk/replays"),
    ("IngestApi", "/api/sdk/REPLAY"),
    ("DataApi", "/api/v1"),
    ("DataApi", "/api/v1/issues/iss_1/signals"),
    ("DataApi", "/api/v1/signals/sig_1"),
    ("DataApi", "/api/v1/insights/ins_1"),
    ("DataApi", "/api/v2/issues"),
    ("DataApi", "/prod/api/v1/issues"),
    ("McpApi", "/mcp/sse"),
    ("McpApi", "/mcpx"),
    ("McpApi", "/.well-known/oauth-protected-resource"),
    ("McpApi", "/.well-known/oauth-protected-resource/mcp/extra"),
]


@pytest.fixture(scope="module")
def api(shared_api: LocalApi) -> LocalApi:
    return shared_api  # conftest.py: one LocalApi for the modules that need nothing special


@pytest.fixture(scope="module")
def gateway_responses() -> Gateway:
    """Only to render the template's gateway responses for the expected values."""
    return Gateway({})


def send(api: LocalApi, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(api.host, api.port, timeout=30)
    try:
        connection.request(method, path, body=b"" if method in ("POST", "PUT", "PATCH") else None)
        response = connection.getresponse()
        return response.status, dict(response.headers.items()), response.read()
    finally:
        connection.close()


def expected_gateway(
    gateway: Gateway, api: str, kind: str, method: str
) -> tuple[int, dict[str, str], bytes]:
    response = gateway.gateway_response(api, kind)
    body = b"" if method == "HEAD" else body_bytes(response)
    return response.status, dict(response.headers), body


def _subset(headers: dict[str, str], expected: dict[str, Any]) -> dict[str, str | None]:
    lowered = {k.lower(): v for k, v in headers.items()}
    return {name: lowered.get(name.lower()) for name in expected}


def test_the_local_gateway_reads_exactly_these_routes() -> None:
    local = {(r.api, r.path, r.method, r.authorized) for r in tpl.routes()}
    assert local == ROUTES
    assert ("IngestApi", "/api/sdk/replay", "POST", True) in ROUTES
    assert ("IngestApi", "/api/sdk/replay", "OPTIONS", False) in ROUTES


@pytest.mark.parametrize("route", expanded(), ids=lambda r: f"{r[2]} {r[1]}")
def test_every_declared_route_is_served(
    api: LocalApi, gateway_responses: Gateway, route: tuple[str, str, str, bool]
) -> None:
    api_id, path, method, authorized = route
    status, headers, body = send(api, method, concrete(path))
    if api_id == "McpApi":
        # No authorizer: the function answers (docs/mcp.md). POST without a token is its 401
        # with the resource-metadata challenge, the metadata is public, other methods are 405.
        assert not authorized
        if path == "/.well-known/oauth-protected-resource/mcp":
            assert status == 200
            assert json.loads(body)["resource"] == f"{api.url}/mcp"
        elif method == "POST":
            assert (status, body) == (401, b'{"error": "Missing or invalid bearer token"}')
            assert headers["WWW-Authenticate"].startswith('Bearer resource_metadata="')
        else:
            want = b"" if method == "HEAD" else b'{"error": "Method not allowed"}'
            assert (status, body, headers["Allow"]) == (405, want, "POST")
        return
    if api_id == "OAuthApi":
        # No authorizer: the OAuth function answers each route itself (docs/oauth.md).
        assert status == OAUTH_EMPTY_REQUEST_STATUS.get((path, method), 405), body
        return
    if not authorized:
        # The routes without an authorizer are the ingest path's preflight (204) and its other
        # methods (ANY: 405 with Allow): the function answers.
        if method == "OPTIONS":
            assert (status, body) == (204, b"")
        else:
            want_body = b"" if method == "HEAD" else b'{"error": "Method not allowed"}'
            assert (status, body, headers["Allow"]) == (405, want_body, "OPTIONS, POST")
        return
    # No credentials: the authorizer ran, so the route exists. Ingest answers "Missing API key";
    # the Data API challenges reads with UNAUTHORIZED and writes with ACCESS_DENIED.
    is_write = api_id == "DataApi" and method not in ("GET", "HEAD", "OPTIONS")
    kind = "ACCESS_DENIED" if is_write else "UNAUTHORIZED"
    want_status, want_headers, want_body = expected_gateway(gateway_responses, api_id, kind, method)
    assert (status, body) == (want_status, want_body)
    assert status == 401
    assert _subset(headers, want_headers) == want_headers


def test_undeclared_methods_are_missing_authentication_token(
    api: LocalApi, gateway_responses: Gateway
) -> None:
    # Every path of the ingest and Data APIs routes ANY to its function today (which answers 405 with Allow),
    # so this finds no method to try; a path added without ANY is checked here. (A loop, not a
    # parametrization: an empty parameter set would be a skipped test.)
    for api_id, path, method in undeclared():
        status, headers, body = send(api, method, concrete(path))
        want = expected_gateway(gateway_responses, api_id, "MISSING_AUTHENTICATION_TOKEN", method)
        assert (status, body) == (want[0], want[2]), (method, path)
        assert _subset(headers, want[1]) == want[1], (method, path)


@pytest.mark.parametrize(("api_id", "path"), NEIGHBOURS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_paths_next_to_the_routes_are_missing_authentication_token(
    api: LocalApi, gateway_responses: Gateway, api_id: str, path: str, method: str
) -> None:
    status, headers, body = send(api, method, path)
    want = expected_gateway(gateway_responses, api_id, "MISSING_AUTHENTICATION_TOKEN", method)
    assert (status, body) == (404, b'{"error": "Not found"}')
    assert (status, body) == (want[0], want[2])
    assert _subset(headers, want[1]) == want[1]


def test_the_ingest_404_carries_cors_and_the_data_404_does_not(
    api: LocalApi,
) -> None:
    _, ingest_headers, _ = send(api, "GET", "/api/sdk/replays")
    _, data_headers, _ = send(api, "GET", "/api/v1")
    assert ingest_headers["Access-Control-Allow-Origin"] == "*"
    assert ingest_headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert "Access-Control-Allow-Origin" not in data_headers
