"""The Data API's access to the data table: issues, signals and insights, partitioned by
organization, and the session timelines detection writes (docs/storage.md).

Every method takes the organization explicitly, and every botocore error becomes
``ServiceUnavailable`` (a 503 with Retry-After). Keys and item layouts are ``lucent.datatable``'s;
the access patterns are docs/data-api.md's. Every list is one Query, newest first (ids are
time-ordered ULIDs). A page starts after the last id of the previous one; its
``ExclusiveStartKey`` is rebuilt here from that id and the caller's own organization, so no input
can reach another organization's partition.
"""

from __future__ import annotations

import heapq
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lucent import datatable as table
from lucent.datatable import (
    GSI1,
    INSIGHT_PREFIX,
    ISSUE_PREFIX,
    SIGNAL_PREFIX,
    attribute,
    issue_gsi1pk,
    org_pk,
    status_gsi1pk,
)
from lucent.errors import ServiceUnavailable
from lucent.issues.models import (
    Impact,
    Insight,
    InsightCategory,
    Issue,
    IssueKind,
    IssueStatus,
    Severity,
    Signal,
)
from lucent.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


def isoformat(moment: datetime) -> str:
    """UTC, whole seconds, ``Z``: the form stored and served (``2026-11-29T16:20:00Z``)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --- items <-> records ---------------------------------------------------------------------------


def issue_item(org_id: str, issue: Issue) -> dict[str, Any]:
    return table.issue_item(
        org_id,
        issue_id=issue.id,
        title=issue.title,
        kind=issue.kind.value,
        severity=issue.severity.value,
        status=issue.status.value,
        occurrences=issue.occurrences,
        sessions_affected=issue.sessions_affected,
        users_affected=issue.users_affected,
        first_seen=isoformat(issue.first_seen),
        last_seen=isoformat(issue.last_seen),
        url=issue.url,
        status_updated_at=_optional_iso(issue.status_updated_at),
        status_updated_by=issue.status_updated_by,
        selector=issue.selector,
        regressed_at=_optional_iso(issue.regressed_at),
    )


def _optional_iso(moment: datetime | None) -> str | None:
    return isoformat(moment) if moment is not None else None


def _moment(text: str) -> datetime:
    """A stored time (``2026-11-29T16:20:00Z``); one without an offset is refused, as the
    pydantic model (``AwareDatetime``) refused it."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"stored time without an offset: {text!r}")
    return moment


def _optional_moment(item: Mapping[str, Any], name: str) -> datetime | None:
    text = table.optional_text(item, name)
    return _moment(text) if text is not None else None


def issue_from_item(item: Mapping[str, Any]) -> Issue:
    # Written by this module and by detection's (same layout): read without re-validating
    # every field; an unknown enum value or time still raises (a 500, as before).
    return Issue.model_construct(
        id=table.text(item, "id"),
        title=table.text(item, "title"),
        kind=IssueKind(table.text(item, "kind")),
        severity=Severity(table.text(item, "severity")),
        status=IssueStatus(table.text(item, "status")),
        occurrences=table.number(item, "occurrences"),
        sessions_affected=table.number(item, "sessions_affected"),
        users_affected=table.number(item, "users_affected"),
        first_seen=_moment(table.text(item, "first_seen")),
        last_seen=_moment(table.text(item, "last_seen")),
        url=table.text(item, "url"),
        status_updated_at=_optional_moment(item, "status_updated_at"),
        status_updated_by=table.optional_text(item, "status_updated_by"),
        selector=table.optional_text(item, "selector"),
        regressed_at=_optional_moment(item, "regressed_at"),
    )


def signal_item(org_id: str, signal: Signal) -> dict[str, Any]:
    return table.signal_item(
        org_id,
        signal_id=signal.id,
        issue_id=signal.issue_id,
        kind=signal.kind.value,
        session_id=signal.session_id,
        replay_timestamp_ms=signal.replay_timestamp_ms,
        occurred_at=isoformat(signal.occurred_at),
        url=signal.url,
        detail=signal.detail,
        selector=signal.selector,
        text=signal.text,
    )


def signal_from_item(item: Mapping[str, Any]) -> Signal:
    return Signal.model_construct(
        id=table.text(item, "id"),
        issue_id=table.text(item, "issue_id"),
        kind=IssueKind(table.text(item, "kind")),
        session_id=table.text(item, "session_id"),
        replay_timestamp_ms=table.number(item, "replay_timestamp_ms"),
        occurred_at=_moment(table.text(item, "occurred_at")),
        url=table.text(item, "url"),
        selector=table.optional_text(item, "selector"),
        text=table.optional_text(item, "text"),
        detail=table.text(item, "detail"),
    )


def insight_item(org_id: str, insight: Insight) -> dict[str, Any]:
    return table.insight_item(
        org_id,
        insight_id=insight.id,
        title=insight.title,
        summary=insight.summary,
        category=insight.category.value,
        impact=insight.impact.value,
        related_issue_ids=insight.related_issue_ids,
        created_at=isoformat(insight.created_at),
    )


def insight_from_item(item: Mapping[str, Any]) -> Insight:
    return Insight.model_construct(
        id=table.text(item, "id"),
        title=table.text(item, "title"),
        summary=table.text(item, "summary"),
        category=InsightCategory(table.text(item, "category")),
        impact=Impact(table.text(item, "impact")),
        related_issue_ids=table.texts(item, "related_issue_ids"),
        created_at=_moment(table.text(item, "created_at")),
    )


# --- storage -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StorePage:
    """Items of one Query, and whether more exist after them."""

    items: list[dict[str, Any]]
    has_more: bool


class DataStore:
    """DynamoDB access to the data table. Every method takes the organization explicitly."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _query(
        self,
        org_id: str,
        sk_prefix: str,
        *,
        gsi1pk: str | None,
        after_id: str | None,
        limit: int,
    ) -> StorePage:
        """One page of an organization's items of one kind, newest first: from the table's
        partition, or from gsi1 (``gsi1pk``) for a filtered list. ``after_id`` is the last id of
        the previous page; its start key is rebuilt here, always within ``org_id``."""
        start_key: dict[str, Any] | None = None
        if after_id is not None:
            start_key = table.key(org_id, sk_prefix + after_id)
            if gsi1pk is not None:
                start_key.update(gsi1pk=attribute(gsi1pk), gsi1sk=attribute(sk_prefix + after_id))
        if gsi1pk is None:
            hash_name, hash_value, sk_name = "pk", org_pk(org_id), "sk"
        else:
            hash_name, hash_value, sk_name = "gsi1pk", gsi1pk, "gsi1sk"
        # One item more than asked tells whether another page exists, so the last page never
        # comes back empty with a cursor (a page costs the same read units either way).
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": f"{hash_name} = :h AND begins_with({sk_name}, :p)",
            "ExpressionAttributeValues": {":h": attribute(hash_value), ":p": attribute(sk_prefix)},
            "ScanIndexForward": False,
            "Limit": limit + 1,
            "ReturnConsumedCapacity": "TOTAL",
        }
        index = None if gsi1pk is None else GSI1
        if index is not None:
            kwargs["IndexName"] = index
        if start_key is not None:
            kwargs["ExclusiveStartKey"] = start_key
        try:
            response = self._client.query(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            logger.exception("data table query failed", extra={"index": index})
            raise ServiceUnavailable() from exc
        items = response.get("Items", [])
        logger.debug(
            "data table query",
            extra={
                "index": index,
                "count": response.get("Count"),
                "scanned_count": response.get("ScannedCount"),
                "consumed_capacity": response.get("ConsumedCapacity", {}).get("CapacityUnits"),
            },
        )
        return StorePage(items=items[:limit], has_more=len(items) > limit)

    # issues

    def get_issue(self, org_id: str, issue_id: str) -> Issue | None:
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key=table.key(org_id, table.issue_sk(issue_id)),
                # Read-your-writes after a PATCH.
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            logger.exception("data table get_item failed")
            raise ServiceUnavailable() from exc
        item = response.get("Item")
        return issue_from_item(item) if item else None

    def query_issues(
        self, org_id: str, status: IssueStatus | None, after_id: str | None, limit: int
    ) -> tuple[list[Issue], bool]:
        gsi1pk = status_gsi1pk(org_id, status.value) if status is not None else None
        page = self._query(org_id, ISSUE_PREFIX, gsi1pk=gsi1pk, after_id=after_id, limit=limit)
        return [issue_from_item(i) for i in page.items], page.has_more

    def update_issue_status(
        self, org_id: str, issue_id: str, status: IssueStatus, by: str, at: datetime
    ) -> Issue | None:
        """Set status, who and when; None if the organization has no such issue (none created)."""
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=table.key(org_id, table.issue_sk(issue_id)),
                UpdateExpression=(
                    "SET #status = :status, gsi1pk = :gsi1pk, "
                    "status_updated_at = :at, status_updated_by = :by"
                ),
                ConditionExpression="attribute_exists(pk) AND entity = :issue",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":status": attribute(status.value),
                    ":gsi1pk": attribute(status_gsi1pk(org_id, status.value)),
                    ":at": attribute(isoformat(at)),
                    ":by": attribute(by),
                    ":issue": attribute("issue"),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            logger.exception("data table update_item failed")
            raise ServiceUnavailable() from exc
        except BotoCoreError as exc:
            logger.exception("data table update_item failed")
            raise ServiceUnavailable() from exc
        return issue_from_item(response["Attributes"])

    # signals and insights

    def query_signals(
        self, org_id: str, issue_id: str | None, after_id: str | None, limit: int
    ) -> tuple[list[Signal], bool]:
        gsi1pk = issue_gsi1pk(org_id, issue_id) if issue_id is not None else None
        page = self._query(org_id, SIGNAL_PREFIX, gsi1pk=gsi1pk, after_id=after_id, limit=limit)
        return [signal_from_item(i) for i in page.items], page.has_more

    def query_insights(
        self, org_id: str, after_id: str | None, limit: int
    ) -> tuple[list[Insight], bool]:
        page = self._query(org_id, INSIGHT_PREFIX, gsi1pk=None, after_id=after_id, limit=limit)
        return [insight_from_item(i) for i in page.items], page.has_more

    # session timelines (written by detection, lucent.detection.store)

    def session_exists(self, org_id: str, session_id: str) -> bool:
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key=table.key(org_id, table.session_sk(session_id)),
                ProjectionExpression="pk",
            )
        except (ClientError, BotoCoreError) as exc:
            logger.exception("data table get_item failed")
            raise ServiceUnavailable() from exc
        return "Item" in response

    def query_timeline(
        self,
        org_id: str,
        session_id: str,
        after: tuple[int, int, int] | None,
        *,
        from_ms: int | None,
        to_ms: int | None,
        limit: int,
    ) -> tuple[list[tuple[tuple[int, int, int], dict[str, Any]]], bool]:
        """The first ``limit`` entries after position ``after`` within [from_ms, to_ms], in
        timeline order: by ``t`` (replay ms), ties in the order detection emitted them
        (sequence, then index in the batch). Positions are ``(t, sequence, index)``.

        Detection emits an entry when it decides it (a signal at the click that completes a
        burst, pointing back at the first), so no stored order is time order: every part that
        may hold an entry of the page is read (a filter on its ``t_first``/``t_last`` leaves the
        others out) and the smallest positions kept. Detection bounds what one session stores
        (lucent.detection.store.sessions.MAX_TIMELINE_BYTES), which bounds this read."""
        prefix = table.timeline_prefix(session_id)
        values: dict[str, Any] = {":pk": attribute(org_pk(org_id)), ":prefix": attribute(prefix)}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": values,
        }
        lowest = max(from_ms or 0, after[0] if after is not None else 0)
        filters = []
        if lowest > 0:
            filters.append("t_last >= :from")
            values[":from"] = attribute(lowest)
        if to_ms is not None:
            filters.append("t_first <= :to")
            values[":to"] = attribute(to_ms)
        if filters:
            kwargs["FilterExpression"] = " AND ".join(filters)

        def wanted(position: tuple[int, int, int]) -> bool:
            t = position[0]
            if (from_ms is not None and t < from_ms) or (to_ms is not None and t > to_ms):
                return False
            return after is None or position > after

        best: list[tuple[tuple[int, int, int], dict[str, Any]]] = []
        while True:
            try:
                response = self._client.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                logger.exception("data table query failed")
                raise ServiceUnavailable() from exc
            found = [
                (position, entry)
                for item in response.get("Items", [])
                for position, entry in _timeline_entries(item, session_id)
                if wanted(position)
            ]
            best = heapq.nsmallest(limit + 1, best + found, key=lambda pair: pair[0])
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return best[:limit], len(best) > limit

    # loading (demo data, migrations): never used by the API function

    def put_all(
        self,
        org_id: str,
        issues: Sequence[Issue] = (),
        signals: Sequence[Signal] = (),
        insights: Sequence[Insight] = (),
    ) -> None:
        items = (
            [issue_item(org_id, i) for i in issues]
            + [signal_item(org_id, s) for s in signals]
            + [insight_item(org_id, i) for i in insights]
        )
        for start in range(0, len(items), 25):
            requests: list[Any] = [
                {"PutRequest": {"Item": item}} for item in items[start : start + 25]
            ]
            pending: dict[str, Any] = {self._table: requests}
            while pending:
                try:
                    response = self._client.batch_write_item(RequestItems=pending)
                except (ClientError, BotoCoreError) as exc:
                    raise ServiceUnavailable() from exc
                pending = dict(response.get("UnprocessedItems") or {})


def _timeline_entries(
    item: dict[str, Any], session_id: str
) -> list[tuple[tuple[int, int, int], dict[str, Any]]]:
    """A timeline part's entries with their positions. Parts (``…#TL#{seq}#{part}``) hold gzip
    JSON and the batch index of their first entry; a chunk written before parts existed
    (``…#TL#{seq}``) holds a whole batch's entries as JSON text."""
    sequence = table.timeline_sequence(table.text(item, "sk"), session_id)
    if "entries_gz" in item:
        entries = json.loads(zlib.decompress(table.binary(item, "entries_gz"), wbits=31))  # gzip
        first = table.number(item, "i0")
    else:
        entries = json.loads(table.text(item, "entries"))
        first = 0
    return [
        ((int(entry.get("t", 0)), sequence, first + index), entry)
        for index, entry in enumerate(entries)
    ]
