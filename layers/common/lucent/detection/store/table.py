"""Detection's reads and writes of the data table: a session's state, the issues a batch counts
in, and the one conditional write that commits a batch (docs/detection.md).

Every botocore error becomes ``DetectionUnavailable`` (the SQS message is retried); a failed
condition becomes ``SessionStateConflict`` or ``IssueWriteConflict``; content DynamoDB refuses
becomes ``PoisonBatch``. Keys and items are ``lucent.datatable``'s; the requests are built by
``sessions`` and ``issues`` beside this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lucent import datatable
from lucent.aws import dynamodb_client, s3_client
from lucent.detection.store.issues import (
    IssueChange,
    IssueSnapshot,
    issue_update,
    snapshot_from_item,
)
from lucent.detection.store.replays import ReplayStore, error_code
from lucent.detection.store.sessions import (
    FittedState,
    SessionRecord,
    session_from_item,
    state_update,
)
from lucent.errors import (
    DetectionUnavailable,
    IssueWriteConflict,
    PoisonBatch,
    SessionStateConflict,
)
from lucent.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client


class DetectionStore:
    """What detection reads and writes: replay objects (``replays``) and the data table."""

    def __init__(
        self, dynamodb: DynamoDBClient, table_name: str, s3: S3Client, bucket: str
    ) -> None:
        self._db = dynamodb
        self._table = table_name
        self.replays = ReplayStore(s3, bucket)
        # DynamoDB write requests made (items written), for the bench and logs.
        self.writes = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> DetectionStore:
        return cls(
            dynamodb_client(settings),
            settings.require("data_table"),
            s3_client(settings),
            settings.require("replay_bucket"),
        )

    # session state

    def load_session(self, org_id: str, session_id: str) -> SessionRecord | None:
        try:
            item = self._db.get_item(
                TableName=self._table,
                Key=datatable.key(org_id, datatable.session_sk(session_id)),
                ConsistentRead=True,
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise DetectionUnavailable("state get_item failed") from exc
        return session_from_item(item) if item else None

    # issues

    def resolve_issue_ids(self, org_id: str, wanted: Mapping[str, str]) -> dict[str, str]:
        """Fingerprint hash -> issue id. ``wanted`` gives, per hash, the id to create when the
        fingerprint is new; a concurrent creator may win, then its id is the one returned."""
        found = self._get_many(org_id, [datatable.fingerprint_sk(h) for h in wanted])
        ids = {
            datatable.suffix(sk, datatable.FINGERPRINT_PREFIX): datatable.text(item, "issue_id")
            for sk, item in found.items()
        }
        for fp_hash, new_id in wanted.items():
            if fp_hash in ids:
                continue
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item=datatable.fingerprint_item(org_id, fp_hash, new_id),
                    ConditionExpression="attribute_not_exists(pk)",
                )
                self.writes += 1
                ids[fp_hash] = new_id
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise DetectionUnavailable("fingerprint put_item failed") from exc
                sk = datatable.fingerprint_sk(fp_hash)
                ids[fp_hash] = datatable.text(self._get_many(org_id, [sk])[sk], "issue_id")
            except BotoCoreError as exc:
                raise DetectionUnavailable("fingerprint put_item failed") from exc
        return ids

    def read_issues(self, org_id: str, issue_ids: Iterable[str]) -> dict[str, IssueSnapshot]:
        found = self._get_many(org_id, [datatable.issue_sk(i) for i in issue_ids])
        snapshots = (snapshot_from_item(item) for item in found.values())
        return {snapshot.issue_id: snapshot for snapshot in snapshots}

    def existing_user_markers(self, org_id: str, markers: Iterable[str]) -> set[str]:
        """Which ``{issue_id}#{user hash}`` markers exist already."""
        keys = [datatable.USER_MARKER_PREFIX + m for m in markers]
        return {
            datatable.suffix(sk, datatable.USER_MARKER_PREFIX)
            for sk in self._get_many(org_id, keys)
        }

    def _get_many(self, org_id: str, sort_keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Strongly consistent BatchGetItem of items of one organization, by sort key."""
        out: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(sort_keys))
        for start in range(0, len(unique), 100):
            keys: list[Any] = [datatable.key(org_id, sk) for sk in unique[start : start + 100]]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                try:
                    response = self._db.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    raise DetectionUnavailable("batch_get_item failed") from exc
                for item in response.get("Responses", {}).get(self._table, []):
                    out[datatable.text(item, "sk")] = item
                request = dict(response.get("UnprocessedKeys") or {})
        return out

    # writes

    def put_items(self, items: Sequence[dict[str, Any]]) -> None:
        """Idempotent puts (signals, timeline chunks: deterministic keys and contents)."""
        for start in range(0, len(items), 25):
            pending: dict[str, Any] = {
                self._table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
            }
            while pending:
                try:
                    response = self._db.batch_write_item(RequestItems=pending)
                except ClientError as exc:
                    if error_code(exc) == "ValidationException":  # this content, every time
                        raise PoisonBatch("ValidationException") from exc
                    raise DetectionUnavailable("batch_write_item failed") from exc
                except BotoCoreError as exc:
                    raise DetectionUnavailable("batch_write_item failed") from exc
                self.writes += len(pending[self._table])
                pending = dict(response.get("UnprocessedItems") or {})
                if pending:
                    self.writes -= len(pending[self._table])

    def commit(
        self,
        org_id: str,
        session_id: str,
        expected_seq: int,
        state: FittedState,
        changes: Sequence[IssueChange],
        *,
        now: str,
        poisoned: int | None = None,
    ) -> None:
        """Advance the watermark and apply the issue changes, all or nothing.

        Without issue changes this is one conditional UpdateItem; with them, one
        TransactWriteItems. ``SessionStateConflict`` if the watermark moved (someone else
        processed this batch), ``IssueWriteConflict`` if an issue moved since it was read,
        ``PoisonBatch`` if DynamoDB refuses the content itself (it would every time).
        ``poisoned``: the sequence of a poison batch this commit skips, to record it.
        """
        update = state_update(
            self._table, org_id, session_id, expected_seq, state, now=now, poisoned=poisoned
        )
        if not changes and expected_seq != 0:
            try:
                self._db.update_item(**update)
                self.writes += 1
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    raise SessionStateConflict() from exc
                if error_code(exc) == "ValidationException":
                    raise PoisonBatch("ValidationException") from exc
                raise DetectionUnavailable("state update_item failed") from exc
            except BotoCoreError as exc:
                raise DetectionUnavailable("state update_item failed") from exc
            return
        actions: list[Any] = [{"Update": update}]
        if expected_seq == 0:
            actions.append(
                {"Put": {"TableName": self._table, "Item": datatable.organization_item(org_id)}}
            )
        for change in changes:
            actions.append({"Update": issue_update(self._table, org_id, change)})
            if change.user_marker is not None:
                marker = datatable.user_marker_item(org_id, change.issue_id, change.user_marker)
                actions.append(
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": marker,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                )
        try:
            self._db.transact_write_items(TransactItems=actions)
            self.writes += len(actions)
        except ClientError as exc:
            code = error_code(exc)
            if code == "ValidationException":
                raise PoisonBatch("ValidationException") from exc
            if code != "TransactionCanceledException":
                raise DetectionUnavailable(f"transact_write_items failed: {code}") from exc
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ValidationError" in reasons:
                raise PoisonBatch("ValidationException") from exc
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise SessionStateConflict() from exc
            if not reasons and "[ConditionalCheckFailed" in str(exc):
                # moto and older SDKs: only the message lists the reasons, in order.
                raise SessionStateConflict() from exc
            raise IssueWriteConflict() from exc
        except BotoCoreError as exc:
            raise DetectionUnavailable("transact_write_items failed") from exc
