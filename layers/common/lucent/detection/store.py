"""Detection's storage: replay objects in, session state, signals, timeline and issues out.

The only detection module that talks to AWS. Every botocore error becomes
``DetectionUnavailable`` (the SQS message is retried); a failed condition becomes
``SessionStateConflict`` or ``IssueWriteConflict``. Item layout (docs/storage.md,
docs/detection.md), all in the data table under ``pk = ORG#{org}``:

================  ===========================================  ==================================
item              sk                                           what
================  ===========================================  ==================================
session state     ``SESSION#{session}``                        ``next_seq`` watermark, detector
                                                               state (gzip JSON, binary)
timeline part     ``SESSION#{session}#TL#{sequence:010d}#{p:03d}`` one batch's timeline entries, in
                                                               parts (gzip JSON, binary)
fingerprint       ``ISSUEFP#{sha256(fingerprint)[:32]}``       -> ``issue_id`` (created once)
user marker       ``ISSUEUSER#{issue_id}#{user hash}``         a user already counted for an issue
issue, signal     ``ISSUE#…``, ``SIGNAL#…``                    the Data API's items (more fields)
================  ===========================================  ==================================

Plus one item per organization with detected data: ``pk = ORGS``, ``sk = ORG#{org}`` (the
insights function walks them).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lucent.detection.ids import iso
from lucent.detection.insights import DerivedInsight, IssueRow
from lucent.detection.rules import SYSTEM_ACTOR
from lucent.errors import (
    DetectionUnavailable,
    IssueWriteConflict,
    PoisonBatch,
    SessionStateConflict,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client

ORGS_PK = "ORGS"
# A replay object is at most ingest's MAX_DECOMPRESSED_BYTES once inflated; refuse more.
MAX_OBJECT_BYTES = 10 * 1024 * 1024
STATE_GZIP_LEVEL = 1  # written every batch: speed over size
# Item sizes, by construction under DynamoDB's 400 KB per item (docs/storage.md): the gzip'd
# state, one timeline part's JSON before gzip, and every text attribute of a written item.
MAX_STATE_BYTES = 300 * 1024
MAX_TIMELINE_PART_BYTES = 192 * 1024
MAX_TEXT_CHARS = 2048  # 8 KB of UTF-8 at most
MAX_ENTRY_TEXT_CHARS = 1024
# A session's timeline keeps its first entries up to this much JSON; the Data API reads all of a
# session's parts to sort them, so this also bounds what one timeline request reads.
MAX_TIMELINE_BYTES = 2 * 1024 * 1024
# Offsets past ~31,000 years are page content nonsense; DynamoDB numbers hold 38 digits.
MAX_REPLAY_MS = 10**15
SYSTEM_STATUS_FIELDS = ("status", "status_updated_at", "status_updated_by")


def org_pk(org_id: str) -> str:
    return f"ORG#{org_id}"


def session_sk(session_id: str) -> str:
    return f"SESSION#{session_id}"


def timeline_prefix(session_id: str) -> str:
    return f"SESSION#{session_id}#TL#"


def timeline_sk(session_id: str, sequence: int) -> str:
    return f"{timeline_prefix(session_id)}{sequence:010d}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# --- shapes --------------------------------------------------------------------------------------


@dataclass(slots=True)
class SessionRecord:
    """What detection keeps per session between batches."""

    next_seq: int = 0
    detector: dict[str, Any] | None = None
    issues: list[str] = field(default_factory=list)  # fingerprint hashes it counted in
    user: str | None = None  # hash of the session's user id, once known
    timeline_bytes: int = 0  # JSON bytes of timeline entries stored so far (MAX_TIMELINE_BYTES)


@dataclass(frozen=True, slots=True)
class FittedState:
    """A session record that fits an item (``fit_state``), with the state attribute it is
    written as: encoded once, checked and then written."""

    record: SessionRecord
    blob: bytes  # gzip JSON, at most MAX_STATE_BYTES


@dataclass(frozen=True, slots=True)
class IssueSnapshot:
    issue_id: str
    status: str
    status_updated_at: str | None
    first_seen: str
    last_seen: str
    sessions_affected: int
    severity: str
    hours: dict[str, int] | None


@dataclass(slots=True)
class IssueChange:
    """What one batch does to one issue; the store turns it into one conditional update."""

    issue_id: str
    fingerprint_hash: str
    kind: str
    title: str
    url: str
    selector: str | None
    occurrences: int
    first_seen: str
    last_seen: str
    hours: dict[str, int]
    sessions: int  # 1 when this session counts for the issue for the first time
    users: int  # 1 when that also makes a new user
    user_marker: str | None  # a user hash to record as counted (with ``users``)
    severity: str
    snapshot: IssueSnapshot | None  # the issue as read before; None: create it
    regressed_at: str | None = None  # reopen a resolved issue, as of this time
    stale_hours: list[str] = field(default_factory=list)


# --- the store -----------------------------------------------------------------------------------


class DetectionStore:
    def __init__(
        self, dynamodb: DynamoDBClient, table_name: str, s3: S3Client, bucket: str
    ) -> None:
        self._db = dynamodb
        self._table = table_name
        self._s3 = s3
        self._bucket = bucket
        # DynamoDB write requests made (items written), for the bench and logs.
        self.writes = 0

    # replay objects

    def read_batch(self, key: str) -> dict[str, Any] | None:
        """The batch JSON of a replay object; None if there is no such object (yet)."""
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise DetectionUnavailable(f"S3 get_object failed: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise DetectionUnavailable("S3 get_object failed") from exc
        batch = decode_batch_object(body)
        if batch is None:  # stored, but no batch: it will never be one
            raise PoisonBatch("not_a_batch")
        return batch

    def next_stored_sequence(self, org_id: str, session_id: str, sequence: int) -> int | None:
        """The lowest sequence at or after ``sequence`` with a stored object, from one listing
        (keys are zero-padded, so S3's order is sequence order); None if there is none."""
        prefix = f"replays/{org_id}/{session_id}/"
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix, "MaxKeys": 1}
        if sequence > 0:
            kwargs["StartAfter"] = f"{prefix}{sequence - 1:010d}.json.gz"
        try:
            contents = self._s3.list_objects_v2(**kwargs).get("Contents") or []
        except (ClientError, BotoCoreError) as exc:
            raise DetectionUnavailable("S3 list_objects_v2 failed") from exc
        for entry in contents:
            name = entry["Key"][len(prefix) :]
            if len(name) == 18 and name.endswith(".json.gz") and name[:10].isdigit():
                return int(name[:10])
        return None

    # session state

    def load_session(self, org_id: str, session_id: str) -> SessionRecord | None:
        try:
            item = self._db.get_item(
                TableName=self._table,
                Key={"pk": _s(org_pk(org_id)), "sk": _s(session_sk(session_id))},
                ConsistentRead=True,
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise DetectionUnavailable("state get_item failed") from exc
        if not item:
            return None
        blob = json.loads(gzip.decompress(item["state"]["B"]))
        return SessionRecord(
            next_seq=int(item["next_seq"]["N"]),
            detector=blob.get("detector"),
            issues=list(blob.get("issues", [])),
            user=blob.get("user"),
            timeline_bytes=int(blob.get("tl_bytes", 0)),
        )

    def _state_update(
        self,
        org_id: str,
        session_id: str,
        expected_seq: int,
        state: FittedState,
        now: str,
        *,
        poisoned: int | None,
    ) -> dict[str, Any]:
        condition = "attribute_not_exists(pk)" if expected_seq == 0 else "next_seq = :expected"
        values: dict[str, Any] = {
            ":next": _n(state.record.next_seq),
            ":state": {"B": state.blob},
            ":entity": _s("session"),
            ":session": _s(session_id),
            ":now": _s(now),
        }
        if expected_seq != 0:
            values[":expected"] = _n(expected_seq)
        expression = (
            "SET next_seq = :next, #state = :state, entity = :entity, "
            "session_id = :session, updated_at = :now"
        )
        if poisoned is not None:
            # The record of a poison batch: how many, and the last one (ids, no content).
            expression += ", last_poison_seq = :poison_seq ADD poison_batches :one"
            values[":poison_seq"] = _n(poisoned)
            values[":one"] = _n(1)
        return {
            "TableName": self._table,
            "Key": {"pk": _s(org_pk(org_id)), "sk": _s(session_sk(session_id))},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": values,
        }

    # issues

    def resolve_issue_ids(self, org_id: str, wanted: Mapping[str, str]) -> dict[str, str]:
        """Fingerprint hash -> issue id. ``wanted`` gives, per hash, the id to create when the
        fingerprint is new; a concurrent creator may win, then its id is the one returned."""
        found = self._get_many(org_id, [f"ISSUEFP#{h}" for h in wanted])
        ids = {sk[len("ISSUEFP#") :]: item["issue_id"]["S"] for sk, item in found.items()}
        for fp_hash, new_id in wanted.items():
            if fp_hash in ids:
                continue
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item={
                        "pk": _s(org_pk(org_id)),
                        "sk": _s(f"ISSUEFP#{fp_hash}"),
                        "entity": _s("fingerprint"),
                        "issue_id": _s(new_id),
                    },
                    ConditionExpression="attribute_not_exists(pk)",
                )
                self.writes += 1
                ids[fp_hash] = new_id
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise DetectionUnavailable("fingerprint put_item failed") from exc
                again = self._get_many(org_id, [f"ISSUEFP#{fp_hash}"])
                ids[fp_hash] = again[f"ISSUEFP#{fp_hash}"]["issue_id"]["S"]
            except BotoCoreError as exc:
                raise DetectionUnavailable("fingerprint put_item failed") from exc
        return ids

    def read_issues(self, org_id: str, issue_ids: Iterable[str]) -> dict[str, IssueSnapshot]:
        found = self._get_many(org_id, [f"ISSUE#{i}" for i in issue_ids])
        out = {}
        for item in found.values():
            hours = item.get("occ_hours", {}).get("M")
            out[item["id"]["S"]] = IssueSnapshot(
                issue_id=item["id"]["S"],
                status=item["status"]["S"],
                status_updated_at=item.get("status_updated_at", {}).get("S"),
                first_seen=item["first_seen"]["S"],
                last_seen=item["last_seen"]["S"],
                sessions_affected=int(item["sessions_affected"]["N"]),
                severity=item["severity"]["S"],
                hours={k: int(v["N"]) for k, v in hours.items()} if hours is not None else None,
            )
        return out

    def existing_user_markers(self, org_id: str, markers: Iterable[str]) -> set[str]:
        """Which ``{issue_id}#{user hash}`` markers exist already."""
        found = self._get_many(org_id, [f"ISSUEUSER#{m}" for m in markers])
        return {sk[len("ISSUEUSER#") :] for sk in found}

    def _get_many(self, org_id: str, sort_keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Strongly consistent BatchGetItem of items of one organization, by sort key."""
        out: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(sort_keys))
        for start in range(0, len(unique), 100):
            keys: list[Any] = [
                {"pk": _s(org_pk(org_id)), "sk": _s(sk)} for sk in unique[start : start + 100]
            ]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                try:
                    response = self._db.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    raise DetectionUnavailable("batch_get_item failed") from exc
                for item in response.get("Responses", {}).get(self._table, []):
                    out[item["sk"]["S"]] = item
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
                    if _code(exc) == "ValidationException":  # this content, every time
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
        update = self._state_update(org_id, session_id, expected_seq, state, now, poisoned=poisoned)
        if not changes and expected_seq != 0:
            try:
                self._db.update_item(**update)
                self.writes += 1
            except ClientError as exc:
                if _code(exc) == "ConditionalCheckFailedException":
                    raise SessionStateConflict() from exc
                if _code(exc) == "ValidationException":
                    raise PoisonBatch("ValidationException") from exc
                raise DetectionUnavailable("state update_item failed") from exc
            except BotoCoreError as exc:
                raise DetectionUnavailable("state update_item failed") from exc
            return
        actions: list[Any] = [{"Update": update}]
        if expected_seq == 0:
            actions.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {"pk": _s(ORGS_PK), "sk": _s(org_pk(org_id)), "org_id": _s(org_id)},
                    }
                }
            )
        for change in changes:
            actions.append({"Update": self._issue_update(org_id, change)})
            if change.user_marker is not None:
                actions.append(
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                "pk": _s(org_pk(org_id)),
                                "sk": _s(f"ISSUEUSER#{change.issue_id}#{change.user_marker}"),
                                "entity": _s("issue_user"),
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                )
        try:
            self._db.transact_write_items(TransactItems=actions)
            self.writes += len(actions)
        except ClientError as exc:
            if _code(exc) == "ValidationException":
                raise PoisonBatch("ValidationException") from exc
            if _code(exc) != "TransactionCanceledException":
                raise DetectionUnavailable(f"transact_write_items failed: {_code(exc)}") from exc
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

    def _issue_update(self, org_id: str, change: IssueChange) -> dict[str, Any]:
        update = _Expression()
        if change.snapshot is None:
            _create(org_id, change, update)
        else:
            _add(org_id, change, change.snapshot, update)
        return {
            "TableName": self._table,
            "Key": {"pk": _s(org_pk(org_id)), "sk": _s(f"ISSUE#{change.issue_id}")},
            **update.render(),
        }


@dataclass(slots=True)
class _Expression:
    """An UpdateItem's expressions, built clause by clause."""

    sets: list[str] = field(default_factory=list)
    adds: list[str] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def render(self) -> dict[str, Any]:
        expression = ""
        if self.sets:
            expression += "SET " + ", ".join(self.sets)
        if self.adds:
            expression += " ADD " + ", ".join(self.adds)
        if self.removes:
            expression += " REMOVE " + ", ".join(self.removes)
        out: dict[str, Any] = {
            "UpdateExpression": expression.strip(),
            "ConditionExpression": " AND ".join(self.conditions),
            "ExpressionAttributeValues": self.values,
        }
        if self.names:
            out["ExpressionAttributeNames"] = self.names
        return out


def _create(org_id: str, change: IssueChange, update: _Expression) -> None:
    """A new issue, with the batch's counts; only if nobody created it in between."""
    fields: dict[str, Any] = {
        "gsi1pk": _s(f"ORG#{org_id}#STATUS#open"),
        "gsi1sk": _s(f"ISSUE#{change.issue_id}"),
        "entity": _s("issue"),
        "id": _s(change.issue_id),
        "title": _s(clip_text(change.title)),
        "kind": _s(change.kind),
        "severity": _s(change.severity),
        "status": _s("open"),
        "occurrences": _n(change.occurrences),
        "sessions_affected": _n(change.sessions),
        "users_affected": _n(change.users),
        "first_seen": _s(change.first_seen),
        "last_seen": _s(change.last_seen),
        "url": _s(clip_text(change.url)),
        "fingerprint": _s(change.fingerprint_hash),
        "occ_hours": {"M": {k: _n(v) for k, v in change.hours.items()}},
    }
    if change.selector is not None:
        fields["selector"] = _s(clip_text(change.selector))
    for index, (name, value) in enumerate(fields.items()):
        # Every name through a placeholder: status, url and others are reserved words.
        update.names[f"#f{index}"] = name
        update.sets.append(f"#f{index} = :v{index}")
        update.values[f":v{index}"] = value
    update.conditions.append("attribute_not_exists(pk)")


def _add(org_id: str, change: IssueChange, snap: IssueSnapshot, update: _Expression) -> None:
    """Counts added (commutative, no condition); first/last seen moved only outward, each
    guarded by a condition on the value it replaces; the severity rule's input guarded too."""
    update.values[":issue"] = _s("issue")
    update.conditions.append("attribute_exists(pk) AND entity = :issue")
    update.adds.append("occurrences :occ")
    update.values[":occ"] = _n(change.occurrences)
    if change.sessions:
        update.adds.append("sessions_affected :sessions")
        update.values[":sessions"] = _n(change.sessions)
        update.conditions.append("sessions_affected = :read_sessions")
        update.values[":read_sessions"] = _n(snap.sessions_affected)
        if change.severity != snap.severity:
            update.sets.append("severity = :severity")
            update.values[":severity"] = _s(change.severity)
    if change.users:
        update.adds.append("users_affected :users")
        update.values[":users"] = _n(change.users)
    if change.last_seen > snap.last_seen:
        update.sets.append("last_seen = :last")
        update.conditions.append("last_seen < :last")
        update.values[":last"] = _s(change.last_seen)
    if change.first_seen < snap.first_seen:
        update.sets.append("first_seen = :first")
        update.conditions.append("first_seen > :first")
        update.values[":first"] = _s(change.first_seen)
    _hours(change, snap.hours, update)
    if change.regressed_at is not None:
        _reopen(org_id, change, snap.status_updated_at, update)


def _hours(change: IssueChange, read_hours: dict[str, int] | None, update: _Expression) -> None:
    """Add this batch's per-hour occurrences; drop hours older than insights look at."""
    if read_hours is None:
        update.sets.append("occ_hours = :hours")
        update.values[":hours"] = {"M": {k: _n(v) for k, v in change.hours.items()}}
        return
    update.values[":zero"] = _n(0)
    for index, (hour, count) in enumerate(sorted(change.hours.items())):
        update.names[f"#h{index}"] = hour
        update.values[f":h{index}"] = _n(count)
        update.sets.append(
            f"occ_hours.#h{index} = if_not_exists(occ_hours.#h{index}, :zero) + :h{index}"
        )
    for index, hour in enumerate(change.stale_hours):
        update.names[f"#old{index}"] = hour
        update.removes.append(f"occ_hours.#old{index}")


def _reopen(org_id: str, change: IssueChange, read_at: str | None, update: _Expression) -> None:
    """A resolved issue with a later occurrence is open again, by the system actor. Only from
    the status that was read: a change made through the Data API since then fails the condition,
    and the retry sees it, so such a change is never overwritten."""
    update.names["#status"] = "status"
    update.sets += [
        "#status = :open",
        "gsi1pk = :open_gsi",
        "status_updated_at = :regressed",
        "status_updated_by = :system",
        "regressed_at = :regressed",
    ]
    update.conditions.append("#status = :resolved AND status_updated_at = :read_at")
    update.values.update(
        {
            ":open": _s("open"),
            ":open_gsi": _s(f"ORG#{org_id}#STATUS#open"),
            ":regressed": _s(change.regressed_at or ""),
            ":system": _s(SYSTEM_ACTOR),
            ":resolved": _s("resolved"),
            ":read_at": _s(read_at or ""),
        }
    )


def decode_batch_object(body: bytes) -> dict[str, Any] | None:
    """The batch JSON of a stored replay object (gzip of one or more members, capped at
    MAX_OBJECT_BYTES inflated); None if it is not a batch."""
    out = bytearray()
    rest = body
    try:
        while rest:
            inflater = zlib.decompressobj(wbits=31)
            out += inflater.decompress(rest, MAX_OBJECT_BYTES + 1 - len(out))
            if len(out) > MAX_OBJECT_BYTES or not inflater.eof:
                return None
            rest = inflater.unused_data
        batch = json.loads(out)
    except (zlib.error, ValueError):
        return None
    return batch if isinstance(batch, dict) and isinstance(batch.get("events"), list) else None


# --- item builders (the Data API's layouts, lucent.issues.store, plus detection's fields) ----


def clip_text(value: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Page content bounded before it is stored: whatever the detector let through, no text
    attribute can make an item outgrow DynamoDB's limit."""
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"


def _replay_ms(value: Any) -> int:
    return min(max(int(value), 0), MAX_REPLAY_MS)


def signal_item(
    org_id: str, signal_id: str, issue_id: str, session_id: str, signal: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": _s(org_pk(org_id)),
        "sk": _s(f"SIGNAL#{signal_id}"),
        "gsi1pk": _s(f"ORG#{org_id}#ISSUE#{issue_id}"),
        "gsi1sk": _s(f"SIGNAL#{signal_id}"),
        "entity": _s("signal"),
        "id": _s(signal_id),
        "issue_id": _s(issue_id),
        "kind": _s(signal.kind),
        "session_id": _s(session_id),
        "replay_timestamp_ms": _n(_replay_ms(signal.replay_timestamp_ms)),
        "occurred_at": _s(_iso(signal.timestamp_ms)),
        "url": _s(clip_text(signal.url)),
        "detail": _s(clip_text(signal.detail)),
    }
    if signal.selector is not None:
        item["selector"] = _s(clip_text(signal.selector))
    if signal.text is not None:
        item["text"] = _s(clip_text(signal.text))
    return item


def timeline_parts(
    org_id: str, session_id: str, sequence: int, entries: list[dict[str, Any]], budget: int
) -> tuple[list[dict[str, Any]], int, int]:
    """A batch's timeline entries as part items, each at most MAX_TIMELINE_PART_BYTES of JSON
    (gzip'd), and the first entries only up to ``budget`` bytes in all. Returns the items, the
    bytes used and how many entries the budget left out. Part ``p`` holds the batch's entries
    from index ``i0`` on: (sequence, index) is the entry's place in the order detection emitted
    it, which breaks ties of ``t`` (docs/detection.md, "The timeline")."""
    items: list[dict[str, Any]] = []
    used = 0
    part: list[bytes] = []
    part_bytes = 0
    first_index = 0
    times: list[int] = []

    def close() -> None:
        body = b"[" + b",".join(part) + b"]"
        items.append(
            {
                "pk": _s(org_pk(org_id)),
                "sk": _s(f"{timeline_sk(session_id, sequence)}#{len(items):03d}"),
                "entity": _s("timeline"),
                "seq": _n(sequence),
                "i0": _n(first_index),
                "t_first": _n(min(times)),
                "t_last": _n(max(times)),
                "entries_gz": {"B": gzip.compress(body, compresslevel=6, mtime=0)},
            }
        )

    for index, entry in enumerate(entries):
        bounded = {
            k: clip_text(v, MAX_ENTRY_TEXT_CHARS) if isinstance(v, str) else v
            for k, v in entry.items()
        }
        t = _replay_ms(entry["t"])
        bounded["t"] = t
        encoded = json.dumps(bounded, separators=(",", ":"), ensure_ascii=False).encode()
        if used + len(encoded) + 1 > budget:
            if part:
                close()
            return items, used, len(entries) - index
        if part and part_bytes + len(encoded) + 1 > MAX_TIMELINE_PART_BYTES:
            close()
            part, part_bytes, first_index, times = [], 0, index, []
        part.append(encoded)
        part_bytes += len(encoded) + 1
        used += len(encoded) + 1
        times.append(t)
    if part:
        close()
    return items, used, 0


def encode_state(record: SessionRecord) -> bytes | None:
    """The state attribute (gzip JSON); None if it exceeds MAX_STATE_BYTES."""
    blob = json.dumps(
        {
            "detector": record.detector,
            "issues": record.issues,
            "user": record.user,
            "tl_bytes": record.timeline_bytes,
        },
        separators=(",", ":"),
    ).encode("utf-8")
    state = gzip.compress(blob, compresslevel=STATE_GZIP_LEVEL, mtime=0)
    return state if len(state) <= MAX_STATE_BYTES else None


def without_mirror(record: SessionRecord) -> SessionRecord:
    """The record with the detector's node mirror emptied: elements go unnamed until the next
    full snapshot, instead of the session stopping (a page too large to mirror)."""
    detector = dict(record.detector or {})
    detector["mirror"] = []
    return SessionRecord(
        next_seq=record.next_seq,
        detector=detector,
        issues=record.issues,
        user=record.user,
        timeline_bytes=record.timeline_bytes,
    )


def fit_state(record: SessionRecord) -> FittedState:
    """``record`` if its state fits an item, else without its mirror, encoded; PoisonBatch if
    neither does (the batch is then skipped and the previous state, which fitted, kept)."""
    blob = encode_state(record)
    if blob is None:
        record = without_mirror(record)
        blob = encode_state(record)
    if blob is None:
        raise PoisonBatch("state_too_large")
    return FittedState(record, blob)


def _iso(millis: int) -> str:
    return iso(millis)


# --- insights (functions/insights) ---------------------------------------------------------------


class InsightsStore:
    """Reads organizations and their issues, replaces an organization's derived insights."""

    def __init__(self, dynamodb: DynamoDBClient, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    def _query_all(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(pk), ":prefix": _s(prefix)},
        }
        while True:
            try:
                response = self._db.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise DetectionUnavailable("query failed") from exc
            items += response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def organizations(self) -> list[str]:
        return [i["org_id"]["S"] for i in self._query_all(ORGS_PK, "ORG#")]

    def issues(self, org_id: str) -> list[IssueRow]:
        rows = []
        for item in self._query_all(org_pk(org_id), "ISSUE#"):
            hours = item.get("occ_hours", {}).get("M", {})
            rows.append(
                IssueRow(
                    id=item["id"]["S"],
                    title=item["title"]["S"],
                    kind=item["kind"]["S"],
                    status=item["status"]["S"],
                    url=item["url"]["S"],
                    occurrences=int(item["occurrences"]["N"]),
                    sessions_affected=int(item["sessions_affected"]["N"]),
                    first_seen=item["first_seen"]["S"],
                    hours={k: int(v["N"]) for k, v in hours.items()},
                )
            )
        return rows

    def replace_derived(self, org_id: str, insights: Sequence[DerivedInsight]) -> int:
        """Write these insights and delete the derived ones they replace (seeded demo insights,
        which carry no ``derived`` attribute, stay). Returns how many were deleted."""
        keep = {i.id for i in insights}
        stale = [
            item["sk"]["S"]
            for item in self._query_all(org_pk(org_id), "INSIGHT#")
            if "derived" in item and item["id"]["S"] not in keep
        ]
        requests: list[Any] = [
            {"PutRequest": {"Item": _insight_item(org_id, insight)}} for insight in insights
        ]
        requests += [
            {"DeleteRequest": {"Key": {"pk": _s(org_pk(org_id)), "sk": _s(sk)}}} for sk in stale
        ]
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self._table: requests[start : start + 25]}
            while pending:
                try:
                    response = self._db.batch_write_item(RequestItems=pending)
                except (ClientError, BotoCoreError) as exc:
                    raise DetectionUnavailable("batch_write_item failed") from exc
                pending = dict(response.get("UnprocessedItems") or {})
        return len(stale)


def _insight_item(org_id: str, insight: DerivedInsight) -> dict[str, Any]:
    """The Data API's insight layout (lucent.issues.store.insight_item), marked derived."""
    return {
        "pk": _s(org_pk(org_id)),
        "sk": _s(f"INSIGHT#{insight.id}"),
        "entity": _s("insight"),
        "derived": {"BOOL": True},
        "id": _s(insight.id),
        "title": _s(insight.title),
        "summary": _s(insight.summary),
        "category": _s(insight.category),
        "impact": _s(insight.impact),
        "related_issue_ids": {"L": [_s(i) for i in insight.related_issue_ids]},
        "created_at": _s(insight.created_at),
    }
