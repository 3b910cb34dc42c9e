"""The RateLimitTable: one item per key, counting its requests per minute (docs/storage.md).

The only module that talks to the table. Attributes ``m<minute>`` count the current and the
previous minute's requests, so a single condition can see both; ``expires_at`` lets TTL remove an
idle key's item. One request is one ``UpdateItem``::

    ADD #cur :one SET expires_at = :ttl REMOVE #older
    IF (attribute_not_exists(#cur) OR #cur <= :cap)
       AND (attribute_not_exists(#prev) OR #prev <= :prev)

When the condition fails DynamoDB returns the item (``ReturnValuesOnConditionCheckFailure``), so
the caller learns the exact counts without a read. Every other botocore error is
``RateLimiterUnavailable``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lucent.errors import RateLimiterUnavailable
from lucent.ratelimit.window import SECONDS_PER_MINUTE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

COUNTER_ATTRIBUTE = re.compile(r"m(\d+)")
_CONDITION_FAILED = "ConditionalCheckFailedException"


class RateLimitStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def count_if_below(
        self,
        key: str,
        *,
        minute: int,
        cap: int,
        prev_assumed: int,
        stale_counters: Sequence[str] = (),
    ) -> tuple[bool, dict[str, Any]]:
        """Count one request of ``key`` in ``minute`` if its count is at most ``cap`` and the
        previous minute's at most ``prev_assumed``. Returns (counted, the item's counters as
        ints): after the write when counted, as DynamoDB saw them when not."""
        names = {"#cur": f"m{minute}", "#prev": f"m{minute - 1}", "#older": f"m{minute - 2}"}
        removed = ["#older"]
        for index, name in enumerate(stale_counters):
            names[f"#s{index}"] = name
            removed.append(f"#s{index}")
        # With a negative cap nothing is admitted, not even into an empty minute: the condition
        # then fails on purpose and DynamoDB returns the counts the Retry-After needs.
        cur_ok = "(attribute_not_exists(#cur) OR #cur <= :cap)" if cap >= 0 else "#cur <= :cap"
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression=(
                    f"ADD #cur :one SET expires_at = :ttl REMOVE {', '.join(removed)}"
                ),
                ConditionExpression=(
                    f"{cur_ok} AND (attribute_not_exists(#prev) OR #prev <= :prev)"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":ttl": {"N": str((minute + 2) * SECONDS_PER_MINUTE)},
                    ":cap": {"N": str(cap)},
                    ":prev": {"N": str(prev_assumed)},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                old: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
                return False, _plain(old)
            raise RateLimiterUnavailable(str(exc)) from exc
        except BotoCoreError as exc:
            raise RateLimiterUnavailable(str(exc)) from exc
        return True, _plain(dict(response.get("Attributes") or {}))


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """Counter attributes of a low-level DynamoDB item as ints (other attributes kept raw)."""
    out: dict[str, Any] = {}
    for name, value in item.items():
        if COUNTER_ATTRIBUTE.fullmatch(name) and isinstance(value, Mapping) and "N" in value:
            out[name] = int(value["N"])
        else:
            out[name] = value
    return out
