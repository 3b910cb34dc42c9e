"""Methods API Gateway does not route, on every path the template does route (issue 17, finding 14).

API Gateway (REST) routes seven methods, ``ANY`` standing for those seven only. TRACE, QUERY and
any other method never reach an authorizer or a function: they get the API's
MISSING_AUTHENTICATION_TOKEN gateway response, the same 404 as an unknown path, even with a
valid credential. The OpenAPI documents say so (their ``x-unrouted-methods`` and ``NotFound``), and the
Schemathesis run excuses exactly that answer and nothing else (tests/integration/
schemathesis_hooks.py): both are held to it here.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest
import yaml
from schemathesis.openapi.checks import RejectedPositiveData, UnsupportedMethodResponse

from lucent_dev import demo
from lucent_dev import template as tpl
from lucent_dev.gateway import ANY_METHODS
from lucent_dev.local_api import LocalApi
from tests.integration import schemathesis_hooks as hooks

ROLES = demo.roles()
NOT_FOUND = b'{"error": "Not found"}'
UNROUTED = ("TRACE", "QUERY")
CREDENTIALS = {
    "IngestApi": ("X-Lucent-Api-Key", ROLES["public_key"]),
    "DataApi": ("Authorization", f"Bearer {ROLES['api_key_write']}"),
}
# What the gateway sends besides its body (Date, Server and Connection are the local HTTP
# server's: werkzeug's closes every connection after its answer).
GATEWAY_HEADERS = {
    "IngestApi": {
        "Content-Type": "application/json",
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": "Retry-After",
        "x-amzn-ErrorType": "MissingAuthenticationTokenException",
        "Content-Length": str(len(NOT_FOUND)),
        "Connection": "close",
    },
    "DataApi": {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": "MissingAuthenticationTokenException",
        "Content-Length": str(len(NOT_FOUND)),
        "Connection": "close",
    },
}
DOCUMENTS = {"IngestApi": "openapi-ingest.yaml", "DataApi": "openapi-data.yaml"}
PATH_VALUES = {"issue_id": demo.DEMO_ISSUE_ID, "session_id": "s1"}


def routed_paths(api: str) -> list[str]:
    return sorted({r.path for r in tpl.routes() if r.api == api})


def concrete(path: str) -> str:
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, path
    return path


@pytest.fixture(scope="module")
def api(shared_api: LocalApi) -> LocalApi:
    return shared_api  # conftest.py: one LocalApi for the modules that need nothing special


def send(
    api: LocalApi, method: str, path: str, header: tuple[str, str]
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(api.host, api.port, timeout=30)
    try:
        body = json.dumps({"session_id": "unrouted", "sequence": 0, "events": []}).encode()
        connection.request(
            method,
            path,
            body=body,
            headers={header[0]: header[1], "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        headers = {k: v for k, v in response.getheaders() if k not in ("Date", "Server")}
        return response.status, headers, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("gateway_api", ["IngestApi", "DataApi"])
def test_an_unrouted_method_on_every_routed_path_is_the_gateways_404(
    api: LocalApi, gateway_api: str
) -> None:
    paths = routed_paths(gateway_api)
    assert paths
    for path in paths:
        for method in UNROUTED:
            answer = send(api, method, concrete(path), CREDENTIALS[gateway_api])
            assert answer == (404, GATEWAY_HEADERS[gateway_api], NOT_FOUND), (method, path)


@pytest.mark.parametrize("gateway_api", ["IngestApi", "DataApi"])
def test_the_documents_name_the_unrouted_methods_and_their_answer(gateway_api: str) -> None:
    doc = yaml.safe_load((tpl.PROJECT_ROOT / "docs" / DOCUMENTS[gateway_api]).read_text("utf-8"))
    assert set(doc["paths"]) == set(routed_paths(gateway_api))
    assert doc["x-unrouted-methods"] == {
        "methods": list(UNROUTED),
        "response": "#/components/responses/NotFound",
    }
    for item in doc["paths"].values():
        # Declaring one of them as an operation would claim it is supported (and Schemathesis
        # would then want it in Allow): they stay undeclared.
        assert not {m.lower() for m in UNROUTED} & set(item)
    example = doc["components"]["responses"]["NotFound"]["content"]["application/json"]
    assert json.dumps(example["example"]).encode() == NOT_FOUND
    gateway = tpl.apis()[gateway_api].gateway_responses["MISSING_AUTHENTICATION_TOKEN"]
    assert (gateway.status, gateway.template) == (404, NOT_FOUND.decode())


def unsupported(method: str, status: int = 404) -> UnsupportedMethodResponse:
    return UnsupportedMethodResponse(
        operation="POST /api/sdk/replay",
        method=method,
        status_code=status,
        failure_reason="wrong_status",
        message="",
    )


def excused(failure: Any, method: str, status: int, body: bytes, error_type: str | None) -> bool:
    return hooks.is_gateway_answer_to_unrouted_method(failure, method, status, body, error_type)


@pytest.mark.parametrize("method", UNROUTED)
def test_the_hook_excuses_the_gateways_exact_answer_to_an_unrouted_method(method: str) -> None:
    error_type = "MissingAuthenticationTokenException"
    assert excused(unsupported(method), method, 404, NOT_FOUND, error_type)
    # Anything else in the answer, and it is a failure again.
    assert not excused(
        unsupported(method), method, 404, b'{"error": "Issue not found"}', error_type
    )
    assert not excused(unsupported(method, 403), method, 403, NOT_FOUND, error_type)
    assert not excused(unsupported(method), method, 404, NOT_FOUND, None)
    assert not excused(unsupported(method), method, 404, NOT_FOUND, "UnauthorizedException")
    other = RejectedPositiveData(operation="x", message="", status_code=404, allowed_statuses=[])
    assert not excused(other, method, 404, NOT_FOUND, error_type)


@pytest.mark.parametrize("method", sorted(ANY_METHODS))
def test_the_hook_never_excuses_a_method_api_gateway_routes(method: str) -> None:
    """GET, PUT, POST, DELETE, PATCH, OPTIONS, HEAD reach the functions, which must say 405."""
    error_type = "MissingAuthenticationTokenException"
    assert not excused(unsupported(method), method, 404, NOT_FOUND, error_type)
