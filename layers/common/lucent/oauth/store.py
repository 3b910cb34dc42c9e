"""The authorization server's AWS access: its DynamoDB table and the Cognito user pool.

``OAuthStore``: one table, one item per thing, keyed ``pk`` = ``CLIENT#<client_id>``,
``CODE#<sha256>``, ``REFRESH#<sha256>``, ``FAMILY#<id>`` or ``CONSENT#<sha256>``, each with an
``expires_at`` that DynamoDB's TTL deletes after (lazily: every read checks it too). No code,
refresh token, client secret or consent id is stored, only hashes (a rotated refresh token also
keeps its successor's response wrapped under its own value, which the table does not hold).
Single-use, rotation and the one grace retry are conditional writes, so two racing requests
cannot both win.

``CognitoDirectory``: the password check, through Cognito's own API (``InitiateAuth`` with
``USER_PASSWORD_AUTH``, then ``GetUser``), as deployed; there is no local shortcut.

Every botocore error becomes ``lucent.errors.ServiceUnavailable`` (a 503 page or JSON error).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lucent.auth.credentials import ORG_ID_PATTERN
from lucent.errors import ServiceUnavailable
from lucent.oauth.models import (
    AuthorizationCode,
    Client,
    Consent,
    Family,
    Person,
    RefreshToken,
)
from lucent.oauth.policy import CLIENT_IDLE_SECONDS, REPLAY_MEMORY_SECONDS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_CONDITION_FAILED = "ConditionalCheckFailedException"
ORG_ATTRIBUTE = "custom:org_id"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _s(item: Mapping[str, Any], name: str) -> str:
    return str(item[name]["S"])


def _n(item: Mapping[str, Any], name: str) -> int:
    return int(item[name]["N"])


def _opt_n(item: Mapping[str, Any], name: str) -> int | None:
    return int(item[name]["N"]) if name in item else None


def _opt_s(item: Mapping[str, Any], name: str) -> str | None:
    return str(item[name]["S"]) if name in item else None


class OAuthStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # --- plumbing -----------------------------------------------------------------------------

    def _get(self, pk: str) -> dict[str, Any] | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": pk}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailable() from exc
        item = response.get("Item")
        return dict(item) if item else None

    def _put_new(self, item: dict[str, Any]) -> None:
        try:
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except (ClientError, BotoCoreError) as exc:
            # A collision of 128+ random bits is not a client error: treat it as an outage.
            raise ServiceUnavailable() from exc

    def _conditional_update(self, **kwargs: Any) -> dict[str, Any] | None:
        """The updated item, or None when the condition failed."""
        try:
            response = self._client.update_item(
                TableName=self._table, ReturnValues="ALL_NEW", **kwargs
            )
        except ClientError as exc:
            if _code(exc) == _CONDITION_FAILED:
                return None
            raise ServiceUnavailable() from exc
        except BotoCoreError as exc:
            raise ServiceUnavailable() from exc
        return dict(response["Attributes"])

    # --- clients ------------------------------------------------------------------------------

    def put_client(self, client: Client) -> None:
        item: dict[str, Any] = {
            "pk": {"S": f"CLIENT#{client.client_id}"},
            "client_id": {"S": client.client_id},
            "client_name": {"S": client.client_name},
            "redirect_uris": {"L": [{"S": uri} for uri in client.redirect_uris]},
            "token_endpoint_auth_method": {"S": client.token_endpoint_auth_method},
            "grant_types": {"S": " ".join(client.grant_types)},
            "scope": {"S": " ".join(client.scope)},
            "created_at": {"N": str(client.created_at)},
            "expires_at": {"N": str(client.created_at + CLIENT_IDLE_SECONDS)},
        }
        if client.secret_hash:
            item["secret_hash"] = {"S": client.secret_hash}
        if client.client_uri:
            item["client_uri"] = {"S": client.client_uri}
        self._put_new(item)

    def get_client(self, client_id: str, now: int) -> Client | None:
        item = self._get(f"CLIENT#{client_id}")
        if item is None or _n(item, "expires_at") <= now:
            return None
        return Client(
            client_id=_s(item, "client_id"),
            client_name=_s(item, "client_name"),
            redirect_uris=tuple(str(v["S"]) for v in item["redirect_uris"]["L"]),
            token_endpoint_auth_method=_s(item, "token_endpoint_auth_method"),
            grant_types=tuple(_s(item, "grant_types").split()),
            scope=tuple(_s(item, "scope").split()),
            created_at=_n(item, "created_at"),
            secret_hash=_opt_s(item, "secret_hash"),
            client_uri=_opt_s(item, "client_uri"),
            approved_at=_opt_n(item, "approved_at"),
        )

    def approve_client(self, client_id: str, subject: str, now: int) -> None:
        """A person approved this client on the consent page: push its idle expiry, and record
        the first approval (when, by whom), after which authorization errors may be redirected
        to it (RFC 9700 section 4.11.2)."""
        self._conditional_update(
            Key={"pk": {"S": f"CLIENT#{client_id}"}},
            UpdateExpression="SET expires_at = :exp, approved_at = if_not_exists(approved_at, :now), "
            "approved_by = if_not_exists(approved_by, :subject)",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={
                ":exp": {"N": str(now + CLIENT_IDLE_SECONDS)},
                ":now": {"N": str(now)},
                ":subject": {"S": subject},
            },
        )

    # --- authorization codes ------------------------------------------------------------------

    def put_code(self, code: AuthorizationCode) -> None:
        self._put_new(
            {
                "pk": {"S": f"CODE#{code.code_hash}"},
                "client_id": {"S": code.client_id},
                "redirect_uri": {"S": code.redirect_uri},
                "scope": {"S": code.scope},
                "resource": {"S": code.resource},
                "code_challenge": {"S": code.code_challenge},
                "code_challenge_method": {"S": code.code_challenge_method},
                "subject": {"S": code.subject},
                "org_id": {"S": code.org_id},
                "created_at": {"N": str(code.created_at)},
                "valid_until": {"N": str(code.expires_at)},
                "expires_at": {"N": str(code.expires_at + REPLAY_MEMORY_SECONDS)},
            }
        )

    def get_code(self, code_hash: str) -> AuthorizationCode | None:
        item = self._get(f"CODE#{code_hash}")
        if item is None:
            return None
        return AuthorizationCode(
            code_hash=code_hash,
            client_id=_s(item, "client_id"),
            redirect_uri=_s(item, "redirect_uri"),
            scope=_s(item, "scope"),
            resource=_s(item, "resource"),
            code_challenge=_s(item, "code_challenge"),
            code_challenge_method=_s(item, "code_challenge_method"),
            subject=_s(item, "subject"),
            org_id=_s(item, "org_id"),
            created_at=_n(item, "created_at"),
            expires_at=_n(item, "valid_until"),
            used_at=_opt_n(item, "used_at"),
            family_id=_opt_s(item, "family_id"),
        )

    def consume_code(self, code_hash: str, family_id: str, now: int) -> bool:
        """Mark the code used by ``family_id``; False if it was used already or has expired."""
        return (
            self._conditional_update(
                Key={"pk": {"S": f"CODE#{code_hash}"}},
                UpdateExpression="SET used_at = :now, family_id = :family",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(used_at) "
                "AND valid_until > :now",
                ExpressionAttributeValues={
                    ":now": {"N": str(now)},
                    ":family": {"S": family_id},
                },
            )
            is not None
        )

    # --- refresh tokens and families ----------------------------------------------------------

    def create_family(self, family: Family) -> None:
        self._put_new(
            {
                "pk": {"S": f"FAMILY#{family.family_id}"},
                "client_id": {"S": family.client_id},
                "org_id": {"S": family.org_id},
                "subject": {"S": family.subject},
                "created_at": {"N": str(family.created_at)},
                "valid_until": {"N": str(family.expires_at)},
                "expires_at": {"N": str(family.expires_at + REPLAY_MEMORY_SECONDS)},
            }
        )

    def get_family(self, family_id: str) -> Family | None:
        item = self._get(f"FAMILY#{family_id}")
        if item is None:
            return None
        return Family(
            family_id=family_id,
            client_id=_s(item, "client_id"),
            org_id=_s(item, "org_id"),
            subject=_s(item, "subject"),
            created_at=_n(item, "created_at"),
            expires_at=_n(item, "valid_until"),
            access_key_hashes=frozenset(item.get("access_key_hashes", {}).get("SS", [])),
            revoked_at=_opt_n(item, "revoked_at"),
        )

    def add_access_token(self, family_id: str, key_hash: str) -> bool:
        """Record an access token in its family (so revoking the family finds it); False if the
        family is revoked or gone, and the token must then be revoked by the caller."""
        return (
            self._conditional_update(
                Key={"pk": {"S": f"FAMILY#{family_id}"}},
                UpdateExpression="ADD access_key_hashes :hash",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(revoked_at)",
                ExpressionAttributeValues={":hash": {"SS": [key_hash]}},
            )
            is not None
        )

    def revoke_family(self, family_id: str, now: int) -> Family | None:
        """Mark the family revoked (idempotent: the first time is kept); None if unknown."""
        item = self._conditional_update(
            Key={"pk": {"S": f"FAMILY#{family_id}"}},
            UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :now)",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":now": {"N": str(now)}},
        )
        return None if item is None else self.get_family(family_id)

    def put_refresh(self, token: RefreshToken) -> None:
        self._put_new(
            {
                "pk": {"S": f"REFRESH#{token.token_hash}"},
                "family_id": {"S": token.family_id},
                "client_id": {"S": token.client_id},
                "scope": {"S": token.scope},
                "resource": {"S": token.resource},
                "subject": {"S": token.subject},
                "org_id": {"S": token.org_id},
                "created_at": {"N": str(token.created_at)},
                "valid_until": {"N": str(token.expires_at)},
                "expires_at": {"N": str(token.expires_at + REPLAY_MEMORY_SECONDS)},
            }
        )

    def get_refresh(self, token_hash: str) -> RefreshToken | None:
        item = self._get(f"REFRESH#{token_hash}")
        return None if item is None else _refresh_of(token_hash, item)

    def delete_refresh(self, token_hash: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._table, Key={"pk": {"S": f"REFRESH#{token_hash}"}}
            )
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailable() from exc

    def rotate_refresh(
        self, token_hash: str, now: int, successor_hash: str, successor_wrapped: bytes
    ) -> bool:
        """Mark the refresh token rotated at ``now`` to the successor, whose response is kept
        wrapped; True for the one request that does so, False when it was rotated already (a
        retry, a race or a reuse) or has expired."""
        return (
            self._conditional_update(
                Key={"pk": {"S": f"REFRESH#{token_hash}"}},
                UpdateExpression="SET rotated_at = :now, successor_hash = :hash, "
                "successor = :wrapped",
                ConditionExpression="attribute_exists(pk) AND valid_until > :now AND "
                "attribute_not_exists(rotated_at)",
                ExpressionAttributeValues={
                    ":now": {"N": str(now)},
                    ":hash": {"S": successor_hash},
                    ":wrapped": {"S": base64.b64encode(successor_wrapped).decode("ascii")},
                },
            )
            is not None
        )

    def claim_replay(self, token_hash: str, now: int, grace_seconds: int) -> RefreshToken | None:
        """Take the one retry a rotated token is allowed: the token (with its wrapped successor)
        if it was rotated at most ``grace_seconds`` ago and not replayed yet; None otherwise,
        and for every request but one of any number racing."""
        item = self._conditional_update(
            Key={"pk": {"S": f"REFRESH#{token_hash}"}},
            UpdateExpression="SET replayed_at = :now",
            ConditionExpression="attribute_exists(successor_hash) AND valid_until > :now AND "
            "rotated_at >= :cutoff AND attribute_not_exists(replayed_at)",
            ExpressionAttributeValues={
                ":now": {"N": str(now)},
                ":cutoff": {"N": str(now - grace_seconds)},
            },
        )
        return None if item is None else _refresh_of(token_hash, item)

    # --- consent sessions ---------------------------------------------------------------------

    def put_consent(self, consent: Consent) -> None:
        self._put_new(
            {
                "pk": {"S": f"CONSENT#{consent.consent_hash}"},
                "csrf_hash": {"S": consent.csrf_hash},
                "query": {"S": consent.query},
                "subject": {"S": consent.person.subject},
                "username": {"S": consent.person.username},
                "org_id": {"S": consent.person.org_id},
                "expires_at": {"N": str(consent.expires_at)},
            }
        )

    def take_consent(self, consent_hash: str, csrf_hash: str, now: int) -> Consent | None:
        """Delete and return the consent session if it is live and bound to this CSRF token;
        None otherwise. One decision per session: a second one finds nothing."""
        try:
            response = self._client.delete_item(
                TableName=self._table,
                Key={"pk": {"S": f"CONSENT#{consent_hash}"}},
                ConditionExpression="attribute_exists(pk) AND csrf_hash = :csrf AND "
                "expires_at > :now",
                ExpressionAttributeValues={":csrf": {"S": csrf_hash}, ":now": {"N": str(now)}},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if _code(exc) == _CONDITION_FAILED:
                return None
            raise ServiceUnavailable() from exc
        except BotoCoreError as exc:
            raise ServiceUnavailable() from exc
        item = response.get("Attributes") or {}
        return Consent(
            consent_hash=consent_hash,
            csrf_hash=_s(item, "csrf_hash"),
            query=_s(item, "query"),
            person=Person(_s(item, "subject"), _s(item, "username"), _s(item, "org_id")),
            expires_at=_n(item, "expires_at"),
        )


def _refresh_of(token_hash: str, item: Mapping[str, Any]) -> RefreshToken:
    return RefreshToken(
        token_hash=token_hash,
        family_id=_s(item, "family_id"),
        client_id=_s(item, "client_id"),
        scope=_s(item, "scope"),
        resource=_s(item, "resource"),
        subject=_s(item, "subject"),
        org_id=_s(item, "org_id"),
        created_at=_n(item, "created_at"),
        expires_at=_n(item, "valid_until"),
        rotated_at=_opt_n(item, "rotated_at"),
        successor_hash=_opt_s(item, "successor_hash"),
        successor_wrapped=base64.b64decode(_s(item, "successor")) if "successor" in item else None,
        replayed_at=_opt_n(item, "replayed_at"),
    )


class SignInRefused(Exception):
    """Wrong user name or password, or an account that cannot sign in here; the message is
    what the sign-in page says."""


class CognitoDirectory:
    """People and their organization, from the Cognito user pool of template.yaml."""

    def __init__(self, client: Any, app_client_id: str) -> None:
        self._client = client
        self._app_client_id = app_client_id

    def sign_in(self, username: str, password: str) -> Person:
        try:
            result = self._client.initiate_auth(
                AuthFlow="USER_PASSWORD_AUTH",
                ClientId=self._app_client_id,
                AuthParameters={"USERNAME": username, "PASSWORD": password},
            )
        except ClientError as exc:
            if _code(exc) in (
                "NotAuthorizedException",
                "UserNotFoundException",
                "InvalidParameterException",
            ):
                raise SignInRefused("Incorrect email or password.") from exc
            if _code(exc) in ("PasswordResetRequiredException", "UserNotConfirmedException"):
                raise SignInRefused(
                    "This account must be confirmed or its password reset first."
                ) from exc
            raise ServiceUnavailable() from exc
        except BotoCoreError as exc:
            raise ServiceUnavailable() from exc
        tokens = result.get("AuthenticationResult") or {}
        access_token = tokens.get("AccessToken")
        if not access_token:
            # A challenge (new password required, MFA setup...) that this page does not run.
            raise SignInRefused("This account must finish setting up its sign-in first.")
        try:
            user = self._client.get_user(AccessToken=access_token)
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailable() from exc
        attributes = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
        org_id = attributes.get(ORG_ATTRIBUTE, "")
        if not ORG_ID_PATTERN.fullmatch(org_id):
            raise SignInRefused("This account is not a member of an organization.")
        return Person(
            subject=attributes.get("sub") or str(user.get("Username")),
            username=str(user.get("Username") or username),
            org_id=org_id,
        )
