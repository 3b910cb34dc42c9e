"""The RateLimitTable: one item per key, holding the key's recent admissions (docs/storage.md).

The only module that talks to the table. Attributes are named by clock minute, so one item holds
the current and the previous minute (all a 60-second window can overlap) and older ones are
removed by name:

* ``t<minute>`` (number set): the exact tier's admissions in that minute, each as its
  microsecond offset into the minute;
* ``k<minute>`` (number) and ``b<bucket>`` (number): the bounded tier's admissions in that minute
  and per bucket of ``window.BUCKET_US``;
* ``m<minute>`` (number): the old per-minute counters, read (conservatively) while they matter;
* ``expires_at``: TTL, two minutes after the last admission's minute began.

One admission is one ``UpdateItem``; for the exact tier::

    ADD #cur :stamp  SET expires_at = :ttl  REMOVE <older minutes>
    IF (attribute_not_exists(#cur) OR size(#cur) <= :cap) AND NOT contains(#cur, :at)
       AND <each other minute that can hold admissions in the window: absent, or at most :n>

The caller chooses ``:cap`` and the bounds so that admitting keeps fewer than ``limit`` in the
window whatever the item holds beyond what it knows. When the condition fails DynamoDB returns
the item (``ReturnValuesOnConditionCheckFailure=ALL_OLD``); on success, the new one
(``ALL_NEW``). Every other botocore error is ``RateLimiterUnavailable``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lucent.errors import RateLimiterUnavailable
from lucent.ratelimit.window import MINUTE_US

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

ATTRIBUTE = re.compile(r"([tkbm])(\d+)")
EXACT, BOUNDED_COUNT, BOUNDED_BUCKET, LEGACY = "t", "k", "b", "m"
_CONDITION_FAILED = "ConditionalCheckFailedException"


def attribute(family: str, number: int) -> str:
    return f"{family}{number}"


def bucket_attribute(at_us: int, bucket_us: int) -> str:
    """The bounded tier's bucket holding ``at_us``, named by its index (``at_us // bucket_us``,
    a short name: the width is a constant of the release, see window.BUCKET_US)."""
    return attribute(BOUNDED_BUCKET, at_us // bucket_us)


def attribute_minute(name: str, bucket_us: int) -> int | None:
    """The clock minute an attribute of the item records, None for other attributes."""
    match = ATTRIBUTE.fullmatch(name)
    if match is None:
        return None
    number = int(match.group(2))
    return number * bucket_us // MINUTE_US if match.group(1) == BOUNDED_BUCKET else number


@dataclass(frozen=True, slots=True)
class Guard:
    """One attribute the condition bounds: absent (``most`` None) or holding at most ``most``
    admissions (a set's size, or a counter's value)."""

    name: str
    most: int | None


@dataclass(frozen=True, slots=True)
class Admission:
    """One conditional write: record an admission in ``minute`` if the minute holds at most
    ``cap`` admissions already and every guard holds."""

    minute: int
    exact: bool
    at_us: int  # the admission's time: its offset into the minute is the stamp (exact tier)
    bucket_us: int  # the bounded tier's bucket width
    cap: int
    guards: tuple[Guard, ...]
    remove: tuple[str, ...]

    @property
    def current(self) -> str:
        return attribute(EXACT if self.exact else BOUNDED_COUNT, self.minute)

    @property
    def stamp(self) -> int:
        return self.at_us - self.minute * MINUTE_US


class ItemState:
    """The item as DynamoDB returned it, read lazily (a set may hold a thousand stamps)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    @property
    def names(self) -> list[str]:
        return [name for name in self._raw if ATTRIBUTE.fullmatch(name)]

    def size(self, name: str) -> int | None:
        """A set's size or a counter's value: what the condition bounds. None when absent."""
        value = self._raw.get(name)
        if value is None:
            return None
        if "NS" in value:
            return len(value["NS"])
        if "N" in value:
            return int(value["N"])
        return None

    def stamps(self, minute: int) -> list[int]:
        """The exact tier's admissions in ``minute``, as epoch microseconds, ascending."""
        value = self._raw.get(attribute(EXACT, minute))
        if value is None or "NS" not in value:
            return []
        base = minute * MINUTE_US
        return sorted(base + int(offset) for offset in value["NS"])

    def offsets(self, minute: int) -> set[int]:
        """The exact tier's stamps in ``minute`` as offsets into it, unsorted (cheaper)."""
        value = self._raw.get(attribute(EXACT, minute))
        if value is None or "NS" not in value:
            return set()
        return {int(offset) for offset in value["NS"]}

    def buckets(self, minute: int, bucket_us: int) -> list[tuple[int, int]]:
        """The bounded tier's buckets in ``minute``: (first microsecond, admissions), ascending."""
        first, last = minute * MINUTE_US, (minute + 1) * MINUTE_US
        found = []
        for name, value in self._raw.items():
            if name.startswith(BOUNDED_BUCKET) and (match := ATTRIBUTE.fullmatch(name)):
                start = int(match.group(2)) * bucket_us
                if first <= start < last and "N" in value:
                    found.append((start, int(value["N"])))
        found.sort()
        return found


class RateLimitStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def admit(self, key: str, admission: Admission) -> tuple[bool, ItemState]:
        """Record one admission of ``key`` if the condition holds. Returns (recorded, the item):
        after the write when recorded, as DynamoDB saw it when not."""
        names = {"#cur": admission.current}
        values: dict[str, Any] = {
            ":ttl": {"N": str((admission.minute + 2) * (MINUTE_US // 1_000_000))},
            ":cap": {"N": str(admission.cap)},
        }
        if admission.exact:
            names_update = "ADD #cur :stamp"
            values[":stamp"] = {"NS": [str(admission.stamp)]}
            values[":at"] = {"N": str(admission.stamp)}
            clauses = [
                "(attribute_not_exists(#cur) OR size(#cur) <= :cap)",
                "NOT contains(#cur, :at)",
            ]
        else:
            names["#bucket"] = bucket_attribute(admission.at_us, admission.bucket_us)
            names_update = "ADD #cur :one, #bucket :one"
            values[":one"] = {"N": "1"}
            clauses = ["(attribute_not_exists(#cur) OR #cur <= :cap)"]
        for index, guard in enumerate(admission.guards):
            placeholder = f"#g{index}"
            names[placeholder] = guard.name
            if guard.most is None:
                clauses.append(f"attribute_not_exists({placeholder})")
                continue
            values[f":g{index}"] = {"N": str(guard.most)}
            measured = placeholder if guard.name[0] != EXACT else f"size({placeholder})"
            clauses.append(f"(attribute_not_exists({placeholder}) OR {measured} <= :g{index})")
        update = f"{names_update} SET expires_at = :ttl"
        if admission.remove:
            removed = []
            for index, name in enumerate(admission.remove):
                names[f"#r{index}"] = name
                removed.append(f"#r{index}")
            update += f" REMOVE {', '.join(removed)}"
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression=update,
                ConditionExpression=" AND ".join(clauses),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                old: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
                return False, ItemState(old)
            raise RateLimiterUnavailable(str(exc)) from exc
        except BotoCoreError as exc:
            raise RateLimiterUnavailable(str(exc)) from exc
        return True, ItemState(dict(response.get("Attributes") or {}))
