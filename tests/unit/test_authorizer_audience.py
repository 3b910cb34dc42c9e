"""RFC 8707 audience at the Data API: its authorizer refuses an OAuth token granted for another
resource (the MCP endpoint) exactly like an unknown token, and keeps accepting every credential
that was never bound to a resource (docs/oauth.md, "Audience")."""

from __future__ import annotations

from typing import Any

import pytest

from lucent.auth.credentials import CredentialKind, IssuedCredential, generate_secret
from lucent_dev.gateway import Gateway, HttpRequest, LocalContext, body_bytes
from tests.conftest import load_function
from tests.helpers import authorizer_event, store_credential

ISSUES = "/api/v1/issues"
ISSUE = "/api/v1/issues/{issue_id}"
HOST = "f6g7h8i9j0.execute-api.us-east-1.amazonaws.com"
STAGE_BASE = f"https://{HOST}/prod"  # the authorizer_event shape's stage is "prod"
DATA = f"{STAGE_BASE}/api/v1"
MCP = f"{STAGE_BASE}/mcp"
CTX = LocalContext("DataAuthorizerFunction")
UNKNOWN_TOKEN_401 = b'{"error": "Missing or invalid bearer token"}'


def oauth_token(dynamodb: Any, table: str, resource: str | None) -> IssuedCredential:
    """A ``luc_oat_`` as the authorization server records it (``resource`` None: CLI-minted)."""
    options: dict[str, Any] = {"scopes": ["read:lucent", "write:issues"], "expires_in": 3600}
    if resource is not None:
        options.update(resource=resource, client_id="lcl_audience", family_id="fam_audience")
    return store_credential(dynamodb, table, CredentialKind.OAUTH, "org_a", **options)


def event(
    token: str,
    method: str = "GET",
    host: str = HOST,
    stage: str = "prod",
    proto: str = "https",
) -> dict[str, Any]:
    """A Data API REQUEST authorizer event as API Gateway sends it for ``https://<host>``."""
    headers = {"Authorization": f"Bearer {token}", "Host": host, "X-Forwarded-Proto": proto}
    if method == "GET":
        built = authorizer_event(ISSUES, "GET", headers)
    else:
        built = authorizer_event(ISSUE, method, headers, path="/api/v1/issues/iss_1")
    built["requestContext"].update(stage=stage, domainName=host)
    return built


@pytest.fixture
def authorizer() -> Any:
    return load_function("DataAuthorizerFunction")


def effect_of(authorizer: Any, request: dict[str, Any]) -> str:
    """Allow or Deny from the policy, or Unauthorized when the authorizer raised it."""
    try:
        output = authorizer(request, CTX)
    except Exception as exc:
        raised = str(exc)
        assert raised == "Unauthorized"  # the exact message API Gateway turns into UNAUTHORIZED
        return raised
    effect: str = output["policyDocument"]["Statement"][0]["Effect"]
    if effect == "Allow":
        assert output["context"]["org_id"] == "org_a"
    else:
        assert output["context"] == {"reason": "invalid_bearer_token"}
    return effect


@pytest.mark.parametrize(
    "bound_to",
    [
        MCP,  # the case of the review: a token the MCP client got for /mcp
        f"{STAGE_BASE}/mcp/",
        f"https://{HOST}/dev/api/v1",  # the same API's other stage is another deployment
        f"http://{HOST}/prod/api/v1",  # another scheme is another origin
        f"{STAGE_BASE}/api/v1/issues",  # a resource is the API's base, not a route below it
        f"{STAGE_BASE}/API/V1",  # paths are case-sensitive
        "https://abcdefghij.execute-api.us-east-1.amazonaws.com/prod/api/v1",  # another API
        "https://api.lucenthq.com/api/v1",
    ],
)
def test_a_token_for_another_resource_is_refused_like_an_unknown_token(
    authorizer: Any, dynamodb: Any, aws: dict[str, str], bound_to: str
) -> None:
    token = oauth_token(dynamodb, aws["CredentialsTable"], bound_to).secret
    # Reads raise Unauthorized and writes Deny: the gateway responses of an unknown token.
    assert effect_of(authorizer, event(token, "GET")) == "Unauthorized"
    assert effect_of(authorizer, event(token, "PATCH")) == "Deny"


@pytest.mark.parametrize(
    ("bound_to", "host"),
    [
        (DATA, HOST),
        (f"{DATA}/", HOST),
        (f"HTTPS://{HOST.upper()}/prod/api/v1", HOST),  # scheme and host are case-insensitive
        ("https://api.lucenthq.com/api/v1", "api.lucenthq.com"),  # a custom domain at its root
    ],
    ids=["exact", "trailing-slash", "scheme-and-host-case", "custom-domain"],
)
def test_a_token_for_the_data_routes_is_allowed(
    authorizer: Any, dynamodb: Any, aws: dict[str, str], bound_to: str, host: str
) -> None:
    token = oauth_token(dynamodb, aws["CredentialsTable"], bound_to).secret
    assert effect_of(authorizer, event(token, "GET", host=host)) == "Allow"
    assert effect_of(authorizer, event(token, "PATCH", host=host)) == "Allow"


def test_credentials_never_bound_to_a_resource_keep_working(
    authorizer: Any, dynamodb: Any, aws: dict[str, str]
) -> None:
    table = aws["CredentialsTable"]
    unbound = {
        "API key": store_credential(dynamodb, table, CredentialKind.API, "org_a"),
        "legacy luc_mcp_ key": store_credential(dynamodb, table, CredentialKind.MCP, "org_a"),
        "CLI-minted OAuth token": oauth_token(dynamodb, table, None),
    }
    for name, credential in unbound.items():
        for host in (HOST, "api.lucenthq.com", "127.0.0.1:3000"):
            assert effect_of(authorizer, event(credential.secret, host=host)) == "Allow", name


def test_the_cache_holds_records_not_decisions(
    authorizer: Any, dynamodb: Any, aws: dict[str, str]
) -> None:
    """One warm container: the second request reads nothing (the table is gone by then), and a
    record cached while serving one stage does not open another."""
    token = oauth_token(dynamodb, aws["CredentialsTable"], DATA).secret
    mcp_token = oauth_token(dynamodb, aws["CredentialsTable"], MCP).secret
    assert effect_of(authorizer, event(token)) == "Allow"
    assert effect_of(authorizer, event(mcp_token)) == "Unauthorized"
    dynamodb.delete_table(TableName=aws["CredentialsTable"])
    # A read now would raise CredentialStoreUnavailable: these come from the cache alone.
    assert effect_of(authorizer, event(token)) == "Allow"
    assert effect_of(authorizer, event(token, stage="dev")) == "Unauthorized"
    assert effect_of(authorizer, event(mcp_token)) == "Unauthorized"


def test_through_the_gateway_responses_the_401_is_an_unknown_tokens(
    dynamodb: Any, aws: dict[str, str]
) -> None:
    """Exact status, body and headers, from template.yaml's gateway responses."""
    gateway = Gateway(
        {
            "DataAuthorizerFunction": load_function("DataAuthorizerFunction"),
            "IssuesFunction": lambda event, _: {"statusCode": 200, "body": "reached"},
        }
    )
    table = aws["CredentialsTable"]
    host = "127.0.0.1:3000"  # the gateway emulation's stage is not in a non-execute-api URL
    for_mcp = oauth_token(dynamodb, table, f"http://{host}/mcp").secret
    for_data = oauth_token(dynamodb, table, f"http://{host}/api/v1").secret
    unknown = generate_secret(CredentialKind.OAUTH)  # well formed, never issued

    def call(method: str, token: str) -> Any:
        path = ISSUES if method == "GET" else "/api/v1/issues/iss_1"
        headers = [("Host", host), ("Authorization", f"Bearer {token}")]
        return gateway.handle(HttpRequest(method, path, headers, body=b"{}"))

    for method, challenge in (("GET", "read:lucent"), ("PATCH", "write:issues")):
        answers = [call(method, token) for token in (for_mcp, unknown)]
        for answer in answers:
            assert (answer.status, body_bytes(answer)) == (401, UNKNOWN_TOKEN_401)
            assert {k: v for k, v in answer.headers.items() if not k.startswith("x-amzn")} == {
                "Content-Type": "application/json",
                "WWW-Authenticate": f'Bearer scope="{challenge}"',
            }
        reached = call(method, for_data)
        assert (reached.status, body_bytes(reached)) == (200, b"reached")
