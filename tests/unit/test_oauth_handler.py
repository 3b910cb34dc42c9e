"""The OAuth function as Lambda runs it: proxy events of the real shape in, proxy responses out,
one audit line per request with no secret in it; and the authorizer's imports unchanged."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from moto import mock_aws

from lucent_dev import identity
from lucent_dev import template as tpl
from lucent_dev.gateway import LocalContext
from tests.conftest import load_function
from tests.helpers import emf_metrics, log_lines, proxy_event
from tests.unit.oauth_support import REDIRECT, hidden_fields, pkce, provision_all, query_of

HOST = "abc123.execute-api.us-east-1.amazonaws.com"
ISSUER = f"https://{HOST}/prod"
CORRELATION_ID = proxy_event("/oauth/token", "POST")["requestContext"]["requestId"]


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mock_aws():
        names = provision_all()
        monkeypatch.setenv("OAUTH_TABLE", names["OAuthTable"])
        monkeypatch.setenv("COGNITO_CLIENT_ID", names["OAuthUserPoolClient"])
        monkeypatch.setenv("RATE_LIMIT_TABLE", names["RateLimitTable"])
        from lucent import container

        container.reset()
        yield load_function("OAuthFunction")


def call(handler: Any, method: str, resource: str, **kwargs: Any) -> dict[str, Any]:
    headers = {"Host": HOST, "X-Forwarded-Proto": "https", **kwargs.pop("headers", {})}
    event = proxy_event(resource, method, headers=headers, **kwargs)
    event["requestContext"]["stage"] = "prod"
    event["requestContext"]["domainName"] = HOST
    return dict(handler(event, LocalContext("OAuthFunction")))


def open_sign_in(
    handler: Any, metadata: dict[str, Any]
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Register a public client (``metadata`` added) and open its sign-in page: the PKCE
    verifier, the authorization request's parameters and the page (asserted 200)."""
    document = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", **metadata}
    registered = json.loads(
        call(
            handler,
            "POST",
            "/oauth/register",
            headers={"Content-Type": "application/json"},
            body=json.dumps(document),
        )["body"]
    )
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": registered["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "read:lucent",
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": ISSUER + "/api/v1",
    }
    page = call(handler, "GET", "/oauth/authorize", query=params)
    assert page["statusCode"] == 200, page["body"]
    return verifier, params, page


def test_the_issuer_is_the_execute_api_url_with_its_stage(handler: Any) -> None:
    response = call(handler, "GET", "/.well-known/oauth-authorization-server")
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["issuer"] == ISSUER
    assert body["token_endpoint"] == ISSUER + "/oauth/token"


def test_a_whole_grant_through_the_handler_logs_no_secret(handler: Any) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        verifier, params, page = open_sign_in(
            handler,
            {
                "client_name": "Tool",
                "grant_types": ["authorization_code", "refresh_token"],
            },
        )
        cookie = page["headers"]["Set-Cookie"].split(";", 1)[0]
        form = {
            **hidden_fields(page["body"]),
            "username": identity.DEMO_USERNAME,
            "password": identity.DEMO_PASSWORD,
            "action": "sign_in",
        }
        form_headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
        consent = call(
            handler, "POST", "/oauth/authorize", headers=form_headers, body=urlencode(form)
        )
        assert consent["statusCode"] == 200, consent["body"]
        decided = call(
            handler,
            "POST",
            "/oauth/authorize",
            headers=form_headers,
            body=urlencode({**hidden_fields(consent["body"]), "action": "approve"}),
        )
        location = decided["headers"]["Location"]
        assert query_of(location)["iss"] == [ISSUER]
        code = query_of(location)["code"][0]
        tokens = call(
            handler,
            "POST",
            "/oauth/token",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urlencode(
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT,
                    "client_id": params["client_id"],
                    "code_verifier": verifier,
                }
            ),
        )
    assert tokens["statusCode"] == 200, tokens["body"]
    issued = json.loads(tokens["body"])
    log = out.getvalue()
    assert all(line.startswith("{") for line in log.splitlines())
    audit = [line for line in log_lines(log) if line["message"] == "oauth request"]
    assert [line["status"] for line in audit] == [201, 200, 200, 302, 200]
    assert audit[-1]["endpoint"] == "/oauth/token"
    assert audit[-1]["client_id"] == params["client_id"]
    assert audit[-1]["org_id"] == "org_demo"
    assert {line["correlation_id"] for line in audit} == {CORRELATION_ID}
    assert emf_metrics(log) == [{"OAuth2xx": [1.0]}] * 3 + [
        {"OAuth3xx": [1.0]},
        {"OAuth2xx": [1.0]},
    ]
    for secret in (
        issued["access_token"],
        issued["refresh_token"],
        code,
        verifier,
        identity.DEMO_PASSWORD,
        cookie.split("=", 1)[1],
        hidden_fields(consent["body"])["consent"],
    ):
        assert secret not in log


def test_a_failure_is_a_generic_500_with_its_traceback_and_metric(
    handler: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OAUTH_TABLE")
    from lucent import container

    container.reset()
    response = call(handler, "GET", "/.well-known/oauth-authorization-server")
    assert (response["statusCode"], response["body"]) == (500, '{"error": "server_error"}')
    out = capsys.readouterr().out
    failed, logged = log_lines(out)
    assert (failed["level"], failed["message"]) == ("ERROR", "oauth request failed")
    assert failed["correlation_id"] == logged["correlation_id"] == CORRELATION_ID
    assert "ConfigurationError" in failed["exception"]
    assert (logged["message"], logged["status"], logged["http_method"]) == (
        "oauth request",
        500,
        "GET",
    )
    assert emf_metrics(out) == [{"OAuthInternalError": [1.0], "OAuth5xx": [1.0]}]


def test_the_authorizer_loads_neither_authlib_nor_the_oauth_package() -> None:
    """The authorizer's cold start must not grow with the authorization server."""
    code = (
        "import sys, json; from lucent_dev import template as t; "
        "t.load_handler(t.functions()['DataAuthorizerFunction']); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
    )
    loaded = set(json.loads(result.stdout))
    assert "lucent.auth.credentials" in loaded
    assert not {m for m in loaded if m.split(".")[0] in ("authlib", "joserfc", "cryptography")}
    assert not {m for m in loaded if m.startswith("lucent.oauth")}


def test_the_oauth_function_is_served_by_its_own_api_without_authorizer() -> None:
    routes = {(r.path, r.method, r.authorized) for r in tpl.routes() if r.api == "OAuthApi"}
    assert ("/.well-known/oauth-authorization-server", "GET", False) in routes
    assert {r for r in routes if r[2]} == set()
    assert {r.function for r in tpl.routes() if r.api == "OAuthApi"} == {"OAuthFunction"}


def test_thirty_sign_in_guesses_are_throttled_and_logged_without_the_guess(handler: Any) -> None:
    """Issue 17, finding 10: thirty guesses from one address got thirty 401s."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _, _, page = open_sign_in(handler, {})
        cookie = page["headers"]["Set-Cookie"].split(";", 1)[0]
        statuses = []
        for n in range(30):
            form = {
                **hidden_fields(page["body"]),
                "username": identity.DEMO_USERNAME,
                "password": f"Guess-{n:02d}-secret",
                "action": "sign_in",
            }
            page = call(
                handler,
                "POST",
                "/oauth/authorize",
                headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
                body=urlencode(form),
            )
            statuses.append(page["statusCode"])
            if "Set-Cookie" in page["headers"]:
                cookie = page["headers"]["Set-Cookie"].split(";", 1)[0]
    assert statuses == [401] * 5 + [429] * 25
    assert 1 <= int(page["headers"]["Retry-After"]) <= 60
    log = out.getvalue()
    assert all(line.startswith("{") for line in log.splitlines())
    audit = [line for line in log_lines(log) if line["message"] == "oauth request"]
    refused = [line for line in audit if line["status"] in (401, 429)]
    assert [line["error"] for line in refused] == ["sign_in_refused"] * 5 + [
        "sign_in_throttled"
    ] * 25
    assert emf_metrics(log) == [{"OAuth2xx": [1.0]}] * 2 + [{"OAuth4xx": [1.0]}] * 30
    assert "Guess-" not in log
    assert identity.DEMO_USERNAME not in log
