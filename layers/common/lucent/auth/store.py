"""The credentials table (docs/credentials.md): the only module that reads or writes it.

One item per credential, keyed by the SHA-256 of the secret; GSIs ``by_org`` (org_id,
credential_id) for listing and ``by_id`` (credential_id) for revoking by id. Every botocore error
becomes ``CredentialStoreUnavailable``; a put of a hash that exists is ``CredentialExists``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lucent.auth.credentials import CredentialKind, CredentialRecord, IssuedCredential
from lucent.errors import CredentialExists, CredentialStoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_CONDITION_FAILED = "ConditionalCheckFailedException"


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED


class CredentialStore:
    """Credentials by hash, by organization and by id. Never sees a secret, only its hash."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, key_hash: str) -> CredentialRecord | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"key_hash": {"S": key_hash}}
            )
        except (ClientError, BotoCoreError) as exc:
            raise CredentialStoreUnavailable() from exc
        item = response.get("Item")
        return _record_from_item(item) if item else None

    def put(self, issued: IssuedCredential) -> None:
        """Store a new credential; CredentialExists if that hash is stored already."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_item_from_record(issued.key_hash, issued.record),
                ConditionExpression="attribute_not_exists(key_hash)",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                raise CredentialExists() from exc
            raise CredentialStoreUnavailable() from exc
        except BotoCoreError as exc:
            raise CredentialStoreUnavailable() from exc

    def find_key_hash(self, credential_id: str) -> str | None:
        try:
            response = self._client.query(
                TableName=self._table,
                IndexName="by_id",
                KeyConditionExpression="credential_id = :id",
                ExpressionAttributeValues={":id": {"S": credential_id}},
            )
        except (ClientError, BotoCoreError) as exc:
            raise CredentialStoreUnavailable() from exc
        items = response.get("Items", [])
        return items[0]["key_hash"]["S"] if items else None

    def revoke(self, key_hash: str, now: int) -> CredentialRecord | None:
        """Mark revoked (idempotent: the first revocation time is kept). None if unknown."""
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"key_hash": {"S": key_hash}},
                UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :now)",
                ConditionExpression="attribute_exists(key_hash)",
                ExpressionAttributeValues={":now": {"N": str(now)}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return None
            raise CredentialStoreUnavailable() from exc
        except BotoCoreError as exc:
            raise CredentialStoreUnavailable() from exc
        return _record_from_item(response["Attributes"])

    def list_for_org(self, org_id: str) -> list[CredentialRecord]:
        records: list[CredentialRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "by_org",
            "KeyConditionExpression": "org_id = :org",
            "ExpressionAttributeValues": {":org": {"S": org_id}},
        }
        while True:
            try:
                response = self._client.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise CredentialStoreUnavailable() from exc
            records.extend(_record_from_item(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return records
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _item_from_record(key_hash: str, record: CredentialRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        "key_hash": {"S": key_hash},
        "credential_id": {"S": record.credential_id},
        "org_id": {"S": record.org_id},
        "kind": {"S": record.kind.value},
        # A space-separated string, not a string set: DynamoDB sets cannot be empty.
        "scopes": {"S": " ".join(sorted(record.scopes))},
        "created_at": {"N": str(record.created_at)},
        "label": {"S": record.label},
        "last4": {"S": record.last4},
        "rate_limit_per_minute": {"N": str(record.rate_limit_per_minute)},
    }
    if record.expires_at is not None:
        item["expires_at"] = {"N": str(record.expires_at)}
    if record.revoked_at is not None:
        item["revoked_at"] = {"N": str(record.revoked_at)}
    # OAuth grants (docs/oauth.md); absent on every other credential.
    for name in ("client_id", "resource", "family_id"):
        value = getattr(record, name)
        if value is not None:
            item[name] = {"S": value}
    return item


def _record_from_item(item: Mapping[str, Any]) -> CredentialRecord:
    def optional_int(name: str) -> int | None:
        return int(item[name]["N"]) if name in item else None

    return CredentialRecord(
        credential_id=item["credential_id"]["S"],
        org_id=item["org_id"]["S"],
        kind=CredentialKind(item["kind"]["S"]),
        scopes=frozenset(item["scopes"]["S"].split()),
        created_at=int(item["created_at"]["N"]),
        label=item.get("label", {}).get("S", ""),
        last4=item["last4"]["S"],
        rate_limit_per_minute=int(item["rate_limit_per_minute"]["N"]),
        expires_at=optional_int("expires_at"),
        revoked_at=optional_int("revoked_at"),
        client_id=item["client_id"]["S"] if "client_id" in item else None,
        resource=item["resource"]["S"] if "resource" in item else None,
        family_id=item["family_id"]["S"] if "family_id" in item else None,
    )
