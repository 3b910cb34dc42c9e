"""The OAuth consent page's identity store for `make dev` and tests: the Cognito user pool and
app client of template.yaml, created in the embedded AWS (moto), with one demo person.

Created from the template's own properties (schema, password policy, auth flows, attribute
permissions), so the local pool refuses what the deployed one refuses. The demo person belongs
to the demo organization through ``custom:org_id``, the attribute the authorization server reads
(docs/oauth.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lucent_dev import template as tpl
from lucent_dev.demo import DEMO_ORG_ID

POOL_ID = "OAuthUserPool"
CLIENT_ID = "OAuthUserPoolClient"
# Demo-only login: it exists in no deployed pool. It meets the template's password policy.
DEMO_USERNAME = "demo@lucent.example"
DEMO_PASSWORD = "Demo-Consent-2026"  # noqa: S105 - the documented demo login of `make dev`


def _single(kind: str, template: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    (found,) = tpl.resources(kind, template).items()
    return found[0], found[1]["Properties"]


def provision(cognito: Any, template: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Create the pool, its app client and the demo person; returns logical id -> physical id
    (what ``!Ref`` gives in AWS: the pool id and the app client id)."""
    pool_logical, pool = _single("AWS::Cognito::UserPool", template)
    client_logical, client = _single("AWS::Cognito::UserPoolClient", template)
    policy = pool["Policies"]["PasswordPolicy"]
    created = cognito.create_user_pool(
        PoolName=tpl.physical_name(pool_logical),
        UsernameAttributes=pool["UsernameAttributes"],
        AutoVerifiedAttributes=pool["AutoVerifiedAttributes"],
        AdminCreateUserConfig=pool["AdminCreateUserConfig"],
        MfaConfiguration=pool["MfaConfiguration"],
        Policies={"PasswordPolicy": dict(policy)},
        Schema=pool["Schema"],
    )
    pool_id = created["UserPool"]["Id"]
    app = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=client["ClientName"],
        GenerateSecret=client["GenerateSecret"],
        ExplicitAuthFlows=client["ExplicitAuthFlows"],
        PreventUserExistenceErrors=client["PreventUserExistenceErrors"],
        ReadAttributes=client["ReadAttributes"],
        WriteAttributes=client["WriteAttributes"],
    )
    add_person(cognito, pool_id, DEMO_USERNAME, DEMO_PASSWORD, DEMO_ORG_ID)
    return {pool_logical: pool_id, client_logical: app["UserPoolClient"]["ClientId"]}


def add_person(
    cognito: Any, pool_id: str, username: str, password: str, org_id: str | None
) -> None:
    """A confirmed person with a permanent password (``org_id`` None: in no organization)."""
    attributes = [{"Name": "email", "Value": username}, {"Name": "email_verified", "Value": "true"}]
    if org_id is not None:
        attributes.append({"Name": "custom:org_id", "Value": org_id})
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username=username,
        UserAttributes=attributes,
        MessageAction="SUPPRESS",
    )
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=password, Permanent=True
    )


def dev_state(base_url: str) -> dict[str, str]:
    """The OAuth part of .lucent/dev.json: where the authorization server is, and who signs in."""
    return {
        "issuer": base_url,
        "metadata_url": base_url + "/.well-known/oauth-authorization-server",
        "username": DEMO_USERNAME,
        "password": DEMO_PASSWORD,
        "org_id": DEMO_ORG_ID,
    }


def banner_lines(oauth: Mapping[str, str]) -> list[str]:
    return [
        f"OAuth authorization server: {oauth['issuer']} (metadata {oauth['metadata_url']})",
        f"  consent page login ({oauth['org_id']})  {oauth['username']} / {oauth['password']}",
        "",
    ]
