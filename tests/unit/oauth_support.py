"""A test client for the authorization server: the real service over moto's DynamoDB and
Cognito, a settable clock, a cookie jar, and the HTML forms read back from the pages."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import boto3
import pytest
from moto import mock_aws

from lucent.auth.authenticator import Authenticator
from lucent.auth.store import CredentialStore
from lucent.http import Reply, Request
from lucent.oauth.endpoints import OAuthService
from lucent.oauth.store import CognitoDirectory, OAuthStore
from lucent.oauth.web import Outcome
from lucent_dev import identity
from lucent_dev import template as tpl

REGION = "us-east-1"
ISSUER = "https://auth.lucent.test"
DATA_RESOURCE = ISSUER + "/api/v1"
MCP_RESOURCE = ISSUER + "/mcp"
REDIRECT = "http://127.0.0.1:8765/callback"
CSRF_COOKIE = "__Host-lucent_oauth_csrf"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def hidden_fields(page: str) -> dict[str, str]:
    return {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    }


def query_of(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query, keep_blank_values=True)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Flow:
    """One authorization in progress: the client's PKCE pair and what came back."""

    client_id: str
    verifier: str
    challenge: str
    state: str = field(default_factory=lambda: secrets.token_urlsafe(8))


def proxy_event(
    method: str, path: str, *, query: str, headers: dict[str, str], body: str | None, ip: str
) -> dict[str, Any]:
    """The REST proxy event API Gateway sends: the query parsed, repeats kept in order."""
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        params.setdefault(name, []).append(value)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {name: values[-1] for name, values in params.items()} or None,
        "multiValueQueryStringParameters": params or None,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {"identity": {"sourceIp": ip}},
    }


class OAuthTestClient:
    def __init__(self, names: dict[str, str], clock: Clock, limit: Any = None) -> None:
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.cognito = boto3.client("cognito-idp", region_name=REGION)
        self.names = names
        self.clock = clock
        self.limit = limit
        self.sign_in_limit: Any = None
        self.cookies: dict[str, str] = {}
        self.credentials = CredentialStore(self.dynamodb, names["CredentialsTable"])
        self.outcome = Outcome()

    # --- the service, as the handler builds it for each request --------------------------------

    def service(self) -> OAuthService:
        self.outcome = Outcome()
        return OAuthService(
            OAuthStore(self.dynamodb, self.names["OAuthTable"]),
            self.credentials,
            CognitoDirectory(self.cognito, self.names["OAuthUserPoolClient"]),
            issuer=ISSUER,
            registration_limit=self.limit,
            sign_in_limit=self.sign_in_limit,
            clock=self.clock,
            outcome=self.outcome,
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        body: str | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        ip: str = "203.0.113.9",
        cookies: bool = True,
    ) -> Reply:
        all_headers = {k.lower(): v for k, v in (headers or {}).items()}
        if content_type:
            all_headers["content-type"] = content_type
        if cookies and self.cookies:
            all_headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        reply = self.service().handle(
            Request.from_event(
                proxy_event(method, path, query=query, headers=all_headers, body=body, ip=ip),
                ISSUER,
            )
        )
        set_cookie = reply.headers.get("Set-Cookie")
        if set_cookie:
            name, _, rest = set_cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return reply

    def form(self, path: str, fields: dict[str, str], **kwargs: Any) -> Reply:
        return self.send(
            "POST",
            path,
            body=urlencode(fields),
            content_type="application/x-www-form-urlencoded",
            **kwargs,
        )

    # --- steps of the flow --------------------------------------------------------------------

    def register(self, **metadata: Any) -> dict[str, Any]:
        document = {
            "redirect_uris": [REDIRECT],
            "client_name": "Claude Code",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            **metadata,
        }
        reply = self.send(
            "POST", "/oauth/register", body=json.dumps(document), content_type="application/json"
        )
        assert reply.status == 201, reply.body
        return dict(json.loads(reply.body))

    def start(self, client_id: str) -> Flow:
        verifier, challenge = pkce()
        return Flow(client_id, verifier, challenge)

    def authorize_params(self, flow: Flow, **overrides: str | None) -> dict[str, str]:
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": flow.client_id,
            "redirect_uri": REDIRECT,
            "scope": "read:lucent",
            "state": flow.state,
            "code_challenge": flow.challenge,
            "code_challenge_method": "S256",
            "resource": DATA_RESOURCE,
            **overrides,
        }
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, flow: Flow, **overrides: str | None) -> Reply:
        return self.send(
            "GET", "/oauth/authorize", query=urlencode(self.authorize_params(flow, **overrides))
        )

    def sign_in(
        self,
        page: Reply,
        username: str = identity.DEMO_USERNAME,
        password: str = identity.DEMO_PASSWORD,
    ) -> Reply:
        fields = hidden_fields(page.body)
        return self.form(
            "/oauth/authorize",
            {**fields, "username": username, "password": password, "action": "sign_in"},
        )

    def decide(self, consent: Reply, action: str = "approve") -> Reply:
        return self.form("/oauth/authorize", {**hidden_fields(consent.body), "action": action})

    def code_for(self, flow: Flow, **overrides: str | None) -> str:
        page = self.authorize(flow, **overrides)
        assert page.status == 200, page.body
        consent = self.sign_in(page)
        assert consent.status == 200, consent.body
        redirect = self.decide(consent)
        assert redirect.status == 302, redirect.body
        params = query_of(redirect.headers["Location"])
        assert params["state"] == [flow.state]
        return params["code"][0]

    def exchange(self, flow: Flow, code: str, **overrides: str | None) -> Reply:
        fields: dict[str, str | None] = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": flow.client_id,
            "code_verifier": flow.verifier,
            "resource": DATA_RESOURCE,
            **overrides,
        }
        return self.form("/oauth/token", {k: v for k, v in fields.items() if v is not None})

    def refresh(self, client_id: str, refresh_token: str, **overrides: str | None) -> Reply:
        fields: dict[str, str | None] = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            **overrides,
        }
        return self.form("/oauth/token", {k: v for k, v in fields.items() if v is not None})

    def tokens(self, client_id: str | None = None, scope: str = "read:lucent") -> dict[str, Any]:
        client_id = client_id or self.register()["client_id"]
        flow = self.start(client_id)
        reply = self.exchange(flow, self.code_for(flow, scope=scope))
        assert reply.status == 200, reply.body
        return {"client_id": client_id, **json.loads(reply.body)}

    def usable(self, access_token: str, resource: str = DATA_RESOURCE) -> bool:
        """Whether the Data API's authorizer (or, with ``resource``, another resource server)
        would accept the token now (no cache)."""
        from lucent.errors import InvalidBearerToken

        authenticator = Authenticator(self.credentials, cache_ttl_seconds=0, clock=self.clock)
        try:
            authenticator.authenticate_bearer(f"Bearer {access_token}", "read:lucent", resource)
        except InvalidBearerToken:
            return False
        return True

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Every item of the OAuth and credentials tables, to show a refusal changed nothing."""
        out = {}
        for logical in ("OAuthTable", "CredentialsTable"):
            items = self.dynamodb.scan(TableName=self.names[logical])["Items"]
            out[logical] = sorted(items, key=lambda i: json.dumps(i, sort_keys=True))
        return out


def provision_all() -> dict[str, str]:
    """Tables, bucket and user pool of template.yaml in the current moto."""
    names = tpl.create_storage(
        boto3.client("dynamodb", region_name=REGION), boto3.client("s3", region_name=REGION)
    )
    names.update(identity.provision(boto3.client("cognito-idp", region_name=REGION)))
    return names


# Headers of every JSON answer of the token and registration endpoints (RFC 6749 §5.1).
JSON_NO_STORE = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}


# Fixtures shared by the OAuth test modules (each imports them by name and lists them in
# ``__all__``).
@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    with mock_aws():
        yield provision_all()


@pytest.fixture
def oauth(names: dict[str, str], clock: Clock) -> OAuthTestClient:
    return OAuthTestClient(names, clock)
