"""The insights function's storage: organizations with detected data, their issues, and their
derived insights, replaced on each run (docs/detection.md). Layouts from ``lucent.datatable``;
every botocore error becomes ``DetectionUnavailable``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lucent import datatable
from lucent.aws import dynamodb_client
from lucent.detection.insights import DerivedInsight, IssueRow
from lucent.errors import DetectionUnavailable
from lucent.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class InsightsStore:
    """Reads organizations and their issues, replaces an organization's derived insights."""

    def __init__(self, dynamodb: DynamoDBClient, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    @classmethod
    def from_settings(cls, settings: Settings) -> InsightsStore:
        return cls(dynamodb_client(settings), settings.require("data_table"))

    def _query_all(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": datatable.attribute(pk),
                ":prefix": datatable.attribute(prefix),
            },
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
        items = self._query_all(datatable.ORGS_PK, datatable.ORG_PREFIX)
        return [datatable.text(i, "org_id") for i in items]

    def issues(self, org_id: str) -> list[IssueRow]:
        return [
            IssueRow(
                id=datatable.text(item, "id"),
                title=datatable.text(item, "title"),
                kind=datatable.text(item, "kind"),
                status=datatable.text(item, "status"),
                url=datatable.text(item, "url"),
                occurrences=datatable.number(item, "occurrences"),
                sessions_affected=datatable.number(item, "sessions_affected"),
                first_seen=datatable.text(item, "first_seen"),
                hours=datatable.counts(item, "occ_hours") or {},
            )
            for item in self._query_all(datatable.org_pk(org_id), datatable.ISSUE_PREFIX)
        ]

    def replace_derived(self, org_id: str, insights: Sequence[DerivedInsight]) -> int:
        """Write these insights and delete the derived ones they replace (seeded demo insights,
        which carry no ``derived`` attribute, stay). Returns how many were deleted."""
        keep = {i.id for i in insights}
        stale = [
            datatable.text(item, "sk")
            for item in self._query_all(datatable.org_pk(org_id), datatable.INSIGHT_PREFIX)
            if "derived" in item and datatable.text(item, "id") not in keep
        ]
        requests: list[Any] = [
            {"PutRequest": {"Item": _insight_item(org_id, insight)}} for insight in insights
        ]
        requests += [{"DeleteRequest": {"Key": datatable.key(org_id, sk)}} for sk in stale]
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
    return datatable.insight_item(
        org_id,
        insight_id=insight.id,
        title=insight.title,
        summary=insight.summary,
        category=insight.category,
        impact=insight.impact,
        related_issue_ids=insight.related_issue_ids,
        created_at=insight.created_at,
        derived=True,
    )
