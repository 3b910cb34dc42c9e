"""The data table: issues, signals and insights, partitioned by organization (docs/storage.md).

The only module that reads or writes it. Every method takes the organization explicitly, and
every botocore error becomes ``ServiceUnavailable`` (a 503 with Retry-After).

Item layout and access patterns (docs/data-api.md):

=========  =========================  ===================  ==================================  =================
entity     pk                         sk                   gsi1pk                              gsi1sk
=========  =========================  ===================  ==================================  =================
issue      ``ORG#{org}``              ``ISSUE#{iss_id}``   ``ORG#{org}#STATUS#{status}``       ``ISSUE#{iss_id}``
signal     ``ORG#{org}``              ``SIGNAL#{sig_id}``  ``ORG#{org}#ISSUE#{iss_id}``        ``SIGNAL#{sig_id}``
insight    ``ORG#{org}``              ``INSIGHT#{ins_id}`` (none: not in gsi1)
=========  =========================  ===================  ==================================  =================

Every list is one Query, newest first (ids are time-ordered ULIDs). A page starts after the last
id of the previous one; its ``ExclusiveStartKey`` is rebuilt here from that id and the caller's
own organization, so no input can reach another organization's partition.
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

GSI1 = "gsi1"
ISSUE_PREFIX, SIGNAL_PREFIX, INSIGHT_PREFIX = "ISSUE#", "SIGNAL#", "INSIGHT#"


# --- keys ----------------------------------------------------------------------------------------


def org_pk(org_id: str) -> str:
    return f"ORG#{org_id}"


def status_gsi1pk(org_id: str, status: IssueStatus) -> str:
    return f"ORG#{org_id}#STATUS#{status.value}"


def issue_gsi1pk(org_id: str, issue_id: str) -> str:
    return f"ORG#{org_id}#ISSUE#{issue_id}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def isoformat(moment: datetime) -> str:
    """UTC, whole seconds, ``Z``: the form stored and served (``2026-11-29T16:20:00Z``)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --- items <-> records ---------------------------------------------------------------------------


def issue_item(org_id: str, issue: Issue) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": _s(org_pk(org_id)),
        "sk": _s(ISSUE_PREFIX + issue.id),
        "gsi1pk": _s(status_gsi1pk(org_id, issue.status)),
        "gsi1sk": _s(ISSUE_PREFIX + issue.id),
        "entity": _s("issue"),
        "id": _s(issue.id),
        "title": _s(issue.title),
        "kind": _s(issue.kind.value),
        "severity": _s(issue.severity.value),
        "status": _s(issue.status.value),
        "occurrences": _n(issue.occurrences),
        "sessions_affected": _n(issue.sessions_affected),
        "users_affected": _n(issue.users_affected),
        "first_seen": _s(isoformat(issue.first_seen)),
        "last_seen": _s(isoformat(issue.last_seen)),
        "url": _s(issue.url),
    }
    if issue.status_updated_at is not None:
        item["status_updated_at"] = _s(isoformat(issue.status_updated_at))
    if issue.status_updated_by is not None:
        item["status_updated_by"] = _s(issue.status_updated_by)
    if issue.selector is not None:
        item["selector"] = _s(issue.selector)
    if issue.regressed_at is not None:
        item["regressed_at"] = _s(isoformat(issue.regressed_at))
    return item


def _moment(text: str) -> datetime:
    """A stored time (``2026-11-29T16:20:00Z``); one without an offset is refused, as the
    pydantic model (``AwareDatetime``) refused it."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"stored time without an offset: {text!r}")
    return moment


def _optional_moment(item: Mapping[str, Any], name: str) -> datetime | None:
    text = item.get(name, {}).get("S")
    return _moment(text) if text is not None else None


def issue_from_item(item: Mapping[str, Any]) -> Issue:
    # Written by this module and by detection's (same layout): read without re-validating
    # every field; an unknown enum value or time still raises (a 500, as before).
    return Issue(
        id=item["id"]["S"],
        title=item["title"]["S"],
        kind=IssueKind(item["kind"]["S"]),
        severity=Severity(item["severity"]["S"]),
        status=IssueStatus(item["status"]["S"]),
        occurrences=int(item["occurrences"]["N"]),
        sessions_affected=int(item["sessions_affected"]["N"]),
        users_affected=int(item["users_affected"]["N"]),
        first_seen=_moment(item["first_seen"]["S"]),
        last_seen=_moment(item["last_seen"]["S"]),
        url=item["url"]["S"],
        status_updated_at=_optional_moment(item, "status_updated_at"),
        status_updated_by=item.get("status_updated_by", {}).get("S"),
        selector=item.get("selector", {}).get("S"),
        regressed_at=_optional_moment(item, "regressed_at"),
    )


def signal_item(org_id: str, signal: Signal) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": _s(org_pk(org_id)),
        "sk": _s(SIGNAL_PREFIX + signal.id),
        "gsi1pk": _s(issue_gsi1pk(org_id, signal.issue_id)),
        "gsi1sk": _s(SIGNAL_PREFIX + signal.id),
        "entity": _s("signal"),
        "id": _s(signal.id),
        "issue_id": _s(signal.issue_id),
        "kind": _s(signal.kind.value),
        "session_id": _s(signal.session_id),
        "replay_timestamp_ms": _n(signal.replay_timestamp_ms),
        "occurred_at": _s(isoformat(signal.occurred_at)),
        "url": _s(signal.url),
        "detail": _s(signal.detail),
    }
    if signal.selector is not None:
        item["selector"] = _s(signal.selector)
    if signal.text is not None:
        item["text"] = _s(signal.text)
    return item


def signal_from_item(item: Mapping[str, Any]) -> Signal:
    return Signal(
        id=item["id"]["S"],
        issue_id=item["issue_id"]["S"],
        kind=IssueKind(item["kind"]["S"]),
        session_id=item["session_id"]["S"],
        replay_timestamp_ms=int(item["replay_timestamp_ms"]["N"]),
        occurred_at=_moment(item["occurred_at"]["S"]),
        url=item["url"]["S"],
        selector=item.get("selector", {}).get("S"),
        text=item.get("text", {}).get("S"),
        detail=item["detail"]["S"],
    )


def insight_item(org_id: str, insight: Insight) -> dict[str, Any]:
    return {
        "pk": _s(org_pk(org_id)),
        "sk": _s(INSIGHT_PREFIX + insight.id),
        "entity": _s("insight"),
        "id": _s(insight.id),
        "title": _s(insight.title),
        "summary": _s(insight.summary),
        "category": _s(insight.category.value),
        "impact": _s(insight.impact.value),
        # A list, not a string set: sets cannot be empty and do not keep order.
        "related_issue_ids": {"L": [_s(i) for i in insight.related_issue_ids]},
        "created_at": _s(isoformat(insight.created_at)),
    }


def insight_from_item(item: Mapping[str, Any]) -> Insight:
    return Insight(
        id=item["id"]["S"],
        title=item["title"]["S"],
        summary=item["summary"]["S"],
        category=InsightCategory(item["category"]["S"]),
        impact=Impact(item["impact"]["S"]),
        related_issue_ids=[v["S"] for v in item.get("related_issue_ids", {}).get("L", [])],
        created_at=_moment(item["created_at"]["S"]),
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
            start_key = {"pk": _s(org_pk(org_id)), "sk": _s(sk_prefix + after_id)}
            if gsi1pk is not None:
                start_key.update(gsi1pk=_s(gsi1pk), gsi1sk=_s(sk_prefix + after_id))
        if gsi1pk is None:
            hash_name, hash_value, sk_name = "pk", org_pk(org_id), "sk"
        else:
            hash_name, hash_value, sk_name = "gsi1pk", gsi1pk, "gsi1sk"
        # One item more than asked tells whether another page exists, so the last page never
        # comes back empty with a cursor (a page costs the same read units either way).
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": f"{hash_name} = :h AND begins_with({sk_name}, :p)",
            "ExpressionAttributeValues": {":h": _s(hash_value), ":p": _s(sk_prefix)},
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
                Key={"pk": _s(org_pk(org_id)), "sk": _s(ISSUE_PREFIX + issue_id)},
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
        gsi1pk = status_gsi1pk(org_id, status) if status is not None else None
        page = self._query(org_id, ISSUE_PREFIX, gsi1pk=gsi1pk, after_id=after_id, limit=limit)
        return [issue_from_item(i) for i in page.items], page.has_more

    def update_issue_status(
        self, org_id: str, issue_id: str, status: IssueStatus, by: str, at: datetime
    ) -> Issue | None:
        """Set status, who and when; None if the organization has no such issue (none created)."""
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"pk": _s(org_pk(org_id)), "sk": _s(ISSUE_PREFIX + issue_id)},
                UpdateExpression=(
                    "SET #status = :status, gsi1pk = :gsi1pk, "
                    "status_updated_at = :at, status_updated_by = :by"
                ),
                ConditionExpression="attribute_exists(pk) AND entity = :issue",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":status": _s(status.value),
                    ":gsi1pk": _s(status_gsi1pk(org_id, status)),
                    ":at": _s(isoformat(at)),
                    ":by": _s(by),
                    ":issue": _s("issue"),
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
                Key={"pk": _s(org_pk(org_id)), "sk": _s(f"SESSION#{session_id}")},
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
        (lucent.detection.store.MAX_TIMELINE_BYTES), which bounds this read."""
        prefix = f"SESSION#{session_id}#TL#"
        values: dict[str, Any] = {":pk": _s(org_pk(org_id)), ":prefix": _s(prefix)}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": values,
        }
        lowest = max(from_ms or 0, after[0] if after is not None else 0)
        filters = []
        if lowest > 0:
            filters.append("t_last >= :from")
            values[":from"] = _n(lowest)
        if to_ms is not None:
            filters.append("t_first <= :to")
            values[":to"] = _n(to_ms)
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
                for position, entry in _timeline_entries(item, prefix)
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
    item: dict[str, Any], prefix: str
) -> list[tuple[tuple[int, int, int], dict[str, Any]]]:
    """A timeline part's entries with their positions. Parts (``…#TL#{seq}#{part}``) hold gzip
    JSON and the batch index of their first entry; a chunk written before parts existed
    (``…#TL#{seq}``) holds a whole batch's entries as JSON text."""
    sequence = int(item["sk"]["S"][len(prefix) : len(prefix) + 10])
    if "entries_gz" in item:
        entries = json.loads(zlib.decompress(item["entries_gz"]["B"], wbits=31))  # gzip
        first = int(item["i0"]["N"])
    else:
        entries = json.loads(item["entries"]["S"])
        first = 0
    return [
        ((int(entry.get("t", 0)), sequence, first + index), entry)
        for index, entry in enumerate(entries)
    ]
