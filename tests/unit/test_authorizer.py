"""The authorizer function, driven with REQUEST events of the real shape, and the gateway
responses template.yaml turns its outcomes into (exact status, body bytes and headers)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lucent.auth.credentials import CredentialKind, IssuedCredential
from lucent_dev.gateway import Gateway, HttpRequest, LocalContext, body_bytes
from tests.conftest import load_function
from tests.helpers import authorizer_event, store_credential

INGEST = "/api/sdk/replay"
ISSUES = "/api/v1/issues"
ISSUE = "/api/v1/issues/{issue_id}"
CTX = LocalContext("AuthorizerFunction")


@pytest.fixture
def creds(dynamodb: Any, aws: dict[str, str]) -> dict[str, IssuedCredential]:
    table = aws["CredentialsTable"]
    out = {
        "public": store_credential(dynamodb, table, CredentialKind.PUBLIC, "org_a", rate_limit=300),
        "public_b": store_credential(dynamodb, table, CredentialKind.PUBLIC, "org_b"),
        "api": store_credential(dynamodb, table, CredentialKind.API, "org_a"),
        "api_write": store_credential(
            dynamodb, table, CredentialKind.API, "org_a", allow_issue_status_updates=True
        ),
        "oauth": store_credential(
            dynamodb, table, CredentialKind.OAUTH, "org_a", scopes=["read:lucent"]
        ),
        "mcp": store_credential(dynamodb, table, CredentialKind.MCP, "org_a"),
        "revoked_public": store_credential(dynamodb, table, CredentialKind.PUBLIC, "org_a"),
        "revoked_api": store_credential(dynamodb, table, CredentialKind.API, "org_a"),
        "expired_oauth": store_credential(
            dynamodb,
            table,
            CredentialKind.OAUTH,
            "org_a",
            scopes=["read:lucent"],
            expires_in=1,
            now=1000,
        ),
    }
    from lucent.auth.store import CredentialStore

    store = CredentialStore(dynamodb, table)
    store.revoke(out["revoked_public"].key_hash, now=1)
    store.revoke(out["revoked_api"].key_hash, now=1)
    return out


@pytest.fixture
def authorizer() -> Any:
    return load_function("AuthorizerFunction")


def allowed(output: dict[str, Any]) -> dict[str, Any]:
    statement = output["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    context: dict[str, Any] = output["context"]
    assert output["principalId"] == context["credential_id"]
    return context


def denied(output: dict[str, Any]) -> None:
    assert output["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "org_id" not in output["context"]


def unauthorized(authorizer: Any, event: dict[str, Any]) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer(event, CTX)


# --- ingest ----------------------------------------------------------------------------------


def test_public_key_in_header_is_allowed_with_org_context(authorizer: Any, creds: Any) -> None:
    key = creds["public"]
    context = allowed(
        authorizer(authorizer_event(INGEST, "POST", {"X-Lucent-Api-Key": key.secret}), CTX)
    )
    assert context == {
        "org_id": "org_a",
        "credential_id": key.record.credential_id,
        "kind": "public",
        "scopes": "",
        "rate_limit_per_minute": 300,
    }
    assert key.secret not in repr(context)


@pytest.mark.parametrize("name", ["x-lucent-api-key", "X-LUCENT-API-KEY", "X-Lucent-Api-Key"])
def test_header_name_in_any_letter_case(authorizer: Any, creds: Any, name: str) -> None:
    allowed(authorizer(authorizer_event(INGEST, "POST", {name: creds["public"].secret}), CTX))


def test_query_parameter_key_for_beacons(authorizer: Any, creds: Any) -> None:
    event = authorizer_event(INGEST, "POST", {}, {"api_key": creds["public"].secret})
    assert allowed(authorizer(event, CTX))["org_id"] == "org_a"


def test_header_wins_over_query_parameter(authorizer: Any, creds: Any) -> None:
    good, other = creds["public"].secret, creds["public_b"].secret
    event = authorizer_event(INGEST, "POST", {"X-Lucent-Api-Key": good}, {"api_key": other})
    assert allowed(authorizer(event, CTX))["org_id"] == "org_a"
    event = authorizer_event(
        INGEST, "POST", {"X-Lucent-Api-Key": "luc_pk_bogus"}, {"api_key": good}
    )
    denied(authorizer(event, CTX))


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({}, None),
        ({"X-Lucent-Api-Key": ""}, None),
        ({}, {"api_key": ""}),
        ({"Authorization": "Bearer x"}, None),
    ],
)
def test_missing_key_raises_unauthorized(
    authorizer: Any, creds: Any, headers: dict[str, str], query: dict[str, str] | None
) -> None:
    unauthorized(authorizer, authorizer_event(INGEST, "POST", headers, query))


@pytest.mark.parametrize(
    "which", ["revoked_public", "api", "oauth", "mcp", "unknown", "malformed", "typo"]
)
def test_invalid_keys_are_denied(authorizer: Any, creds: Any, which: str) -> None:
    from lucent.auth.credentials import generate_secret

    secret = {
        "unknown": generate_secret(CredentialKind.PUBLIC),
        "malformed": "luc_pk_1234",
        "typo": creds["public"].secret[:-1] + ("a" if creds["public"].secret[-1] != "a" else "b"),
    }.get(which) or creds[which].secret
    denied(authorizer(authorizer_event(INGEST, "POST", {"X-Lucent-Api-Key": secret}), CTX))


# --- data API --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("which", "scopes", "kind"),
    [
        ("api", "read:lucent", "api"),
        ("api_write", "read:lucent write:issues", "api"),
        ("oauth", "read:lucent", "oauth"),
        ("mcp", "read:lucent", "mcp"),
    ],
)
def test_bearer_tokens_of_every_kind(
    authorizer: Any, creds: Any, which: str, scopes: str, kind: str
) -> None:
    event = authorizer_event(ISSUES, "GET", {"Authorization": f"Bearer {creds[which].secret}"})
    context = allowed(authorizer(event, CTX))
    assert (context["org_id"], context["scopes"], context["kind"]) == ("org_a", scopes, kind)


def test_bearer_scheme_in_any_letter_case(authorizer: Any, creds: Any) -> None:
    event = authorizer_event(ISSUES, "GET", {"authorization": f"bearer {creds['api'].secret}"})
    allowed(authorizer(event, CTX))


def test_organization_comes_only_from_the_credential(authorizer: Any, creds: Any) -> None:
    event = authorizer_event(
        ISSUES,
        "GET",
        {
            "Authorization": f"Bearer {creds['api'].secret}",
            "X-Org-Id": "org_b",
            "X-Lucent-Org": "org_b",
        },
        {"org_id": "org_b", "organization": "org_b"},
    )
    assert allowed(authorizer(event, CTX))["org_id"] == "org_a"


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Basic dXNlcjpwYXNz", "public", "revoked_api", "expired_oauth", "unknown"],
)
def test_bad_bearer_on_reads_is_unauthorized_and_on_writes_denied(
    authorizer: Any, creds: Any, header: str
) -> None:
    from lucent.auth.credentials import generate_secret

    if header == "unknown":
        header = f"Bearer {generate_secret(CredentialKind.API)}"
    elif header in creds:
        header = f"Bearer {creds[header].secret}"
    headers = {"Authorization": header} if header else {}
    unauthorized(authorizer, authorizer_event(ISSUES, "GET", headers))
    denied(authorizer(authorizer_event(ISSUE, "PATCH", headers, path="/api/v1/issues/iss_1"), CTX))


def test_policy_resource_is_a_stage_wildcard(authorizer: Any, creds: Any) -> None:
    event = authorizer_event(ISSUES, "GET", {"Authorization": f"Bearer {creds['api'].secret}"})
    output = authorizer(event, CTX)
    assert output["policyDocument"]["Statement"][0]["Resource"] == (
        "arn:aws:execute-api:us-east-1:123456789012:dataapi/prod/*/*"
    )


def test_store_outage_raises_something_other_than_unauthorized(
    authorizer: Any, creds: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDENTIALS_TABLE", "missing-table")
    from lucent import container

    container.reset()
    fresh = load_function("AuthorizerFunction")
    from lucent.errors import CredentialStoreUnavailable

    # Anything but "Unauthorized" maps to the AUTHORIZER_* gateway responses (503), never a 401.
    with pytest.raises(CredentialStoreUnavailable, match="Service temporarily unavailable"):
        fresh(authorizer_event(INGEST, "POST", {"X-Lucent-Api-Key": creds["public"].secret}), CTX)


def test_no_secret_is_logged(
    authorizer: Any, creds: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = [creds[name].secret for name in ("public", "api", "revoked_public")]
    authorizer(authorizer_event(INGEST, "POST", {}, {"api_key": secrets[0]}), CTX)
    authorizer(authorizer_event(INGEST, "POST", {"X-Lucent-Api-Key": secrets[2]}), CTX)
    authorizer(authorizer_event(ISSUES, "GET", {"Authorization": f"Bearer {secrets[1]}"}), CTX)
    out = capsys.readouterr()
    logged = out.out + out.err
    assert "authorizer decision" in logged
    for secret in secrets:
        assert secret not in logged
        assert secret[7:20] not in logged


def test_each_decision_is_one_line_that_is_audit_entry_and_metric(
    authorizer: Any, creds: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """One JSON line per decision: the audit fields and the EMF record of the same decision."""
    capsys.readouterr()
    event = authorizer_event(INGEST, "POST", {"X-Lucent-Api-Key": creds["public"].secret})
    authorizer(event, CTX)
    authorizer(
        authorizer_event(INGEST, "POST", {"X-Lucent-Api-Key": creds["revoked_public"].secret}), CTX
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    allow, deny = lines
    assert {k: allow[k] for k in ("level", "message", "effect", "family", "reason")} == {
        "level": "INFO",
        "message": "authorizer decision",
        "effect": "Allow",
        "family": "ingest",
        "reason": "ok",
    }
    assert (allow["credential_id"], allow["org_id"]) == (
        creds["public"].record.credential_id,
        "org_a",
    )
    assert allow["correlation_id"] == event["requestContext"]["requestId"]
    assert allow["function_name"] == "AuthorizerFunction"
    assert allow["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "Lucent",
            "Dimensions": [["service"]],
            "Metrics": [{"Name": "AuthorizerAllow", "Unit": "Count"}],
        }
    ]
    assert (allow["AuthorizerAllow"], allow["service"]) == (1, "tests")
    assert (deny["effect"], deny["reason"], deny["AuthorizerDeny"]) == (
        "Deny",
        "invalid_api_key",
        1,
    )
    assert deny["credential_id"] is None


def test_below_the_log_level_the_metric_is_still_written(
    authorizer: Any, creds: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lucent import container

    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    container.reset()
    capsys.readouterr()
    authorizer(authorizer_event(INGEST, "POST", {"X-Lucent-Api-Key": creds["public"].secret}), CTX)
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "message" not in line
    assert (line["AuthorizerAllow"], line["_aws"]["CloudWatchMetrics"][0]["Namespace"]) == (
        1,
        "Lucent",
    )


# --- through the gateway responses of template.yaml -------------------------------------------


@pytest.fixture
def gateway(authorizer: Any) -> Gateway:
    def echo(event: dict[str, Any], _: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": event["requestContext"]["authorizer"]["org_id"]}

    handlers = {
        "AuthorizerFunction": authorizer,
        "DataAuthorizerFunction": load_function("DataAuthorizerFunction"),
        "IngestFunction": echo,
        "IssuesFunction": echo,
    }
    return Gateway(handlers)


INGEST_ERROR_HEADERS = {
    "Content-Type": "application/json",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Retry-After",
}


def _without_amzn(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if not k.startswith("x-amzn")}


def test_gateway_missing_api_key(gateway: Gateway, creds: Any) -> None:
    response = gateway.handle(
        HttpRequest("POST", INGEST, [("Content-Type", "application/json")], body=b"{}")
    )
    assert response.status == 401
    assert body_bytes(response) == b'{"error": "Missing API key"}'
    assert _without_amzn(response.headers) == INGEST_ERROR_HEADERS


def test_gateway_invalid_api_key(gateway: Gateway, creds: Any) -> None:
    for request in (
        HttpRequest("POST", INGEST, [("X-Lucent-Api-Key", creds["revoked_public"].secret)]),
        HttpRequest("POST", INGEST, query=f"api_key={creds['api'].secret}"),
    ):
        response = gateway.handle(request)
        assert response.status == 401
        assert body_bytes(response) == b'{"error": "Invalid or revoked API key"}'
        assert _without_amzn(response.headers) == INGEST_ERROR_HEADERS


def test_gateway_valid_key_reaches_the_function_with_org(gateway: Gateway, creds: Any) -> None:
    response = gateway.handle(
        HttpRequest("POST", INGEST, query=f"api_key={creds['public_b'].secret}")
    )
    assert (response.status, body_bytes(response)) == (200, b"org_b")


def test_gateway_bearer_challenges(gateway: Gateway, creds: Any) -> None:
    read = gateway.handle(HttpRequest("GET", ISSUES))
    assert read.status == 401
    assert body_bytes(read) == b'{"error": "Missing or invalid bearer token"}'
    assert _without_amzn(read.headers) == {
        "Content-Type": "application/json",
        "WWW-Authenticate": 'Bearer scope="read:lucent"',
    }
    write = gateway.handle(
        HttpRequest(
            "PATCH", "/api/v1/issues/iss_1", [("Authorization", f"Bearer {creds['public'].secret}")]
        )
    )
    assert write.status == 401
    assert body_bytes(write) == b'{"error": "Missing or invalid bearer token"}'
    assert _without_amzn(write.headers) == {
        "Content-Type": "application/json",
        "WWW-Authenticate": 'Bearer scope="write:issues"',
    }


def test_gateway_store_outage_is_503_with_retry_after(
    creds: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDENTIALS_TABLE", "missing-table")
    from lucent import container

    container.reset()
    gateway = Gateway(
        {
            "AuthorizerFunction": load_function("AuthorizerFunction"),
            "DataAuthorizerFunction": load_function("DataAuthorizerFunction"),
        }
    )
    response = gateway.handle(
        HttpRequest("POST", INGEST, [("X-Lucent-Api-Key", creds["public"].secret)])
    )
    assert response.status == 503
    assert body_bytes(response) == b'{"error": "Service temporarily unavailable"}'
    assert _without_amzn(response.headers) == {**INGEST_ERROR_HEADERS, "Retry-After": "5"}
    response = gateway.handle(
        HttpRequest("GET", ISSUES, [("Authorization", f"Bearer {creds['api'].secret}")])
    )
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"


def test_gateway_unknown_route_is_a_json_404(gateway: Gateway) -> None:
    response = gateway.handle(HttpRequest("GET", "/api/sdk/nothing"))
    assert (response.status, body_bytes(response)) == (404, b'{"error": "Not found"}')
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    response = gateway.handle(HttpRequest("GET", "/api/v1/nothing"))
    assert (response.status, body_bytes(response)) == (404, b'{"error": "Not found"}')
