"""An in-memory RateLimitTable for the accuracy bench: a DynamoDB client with one method.

``MemoryDynamoDB.update_item`` takes the very keyword arguments ``RateLimitStore`` sends to boto3
and evaluates its ``ConditionExpression`` and ``UpdateExpression`` itself, with DynamoDB's rules
for the forms the store emits: ``AND``/``OR``/``NOT`` and parentheses; ``attribute_exists``,
``attribute_not_exists``, ``contains``, ``size``; comparisons (a missing attribute compares false);
``ADD`` to a number or a number set, ``SET path = :value``, ``REMOVE``. It answers like the client:
``Attributes`` (``ALL_NEW``) on success, ``ClientError`` ConditionalCheckFailedException with
``Item`` (``ALL_OLD``) on failure, and it rejects unused or undefined placeholders as DynamoDB
does. It exists only because 1.5 M requests through moto would take hours: the bench checks on
every run that it decides exactly like moto on >= 20,000 requests (``ratelimit_accuracy``).

It also keeps the write units DynamoDB would charge, from the documented item-size rules
(CapacityUnitCalculations): a number is 1 byte per two significant digits + 1; a set's elements
are counted like a list's (+1 byte each: an upper estimate, the documentation gives list and map
overheads only); a write costs 1 WCU per started KB of the larger of the item before and after,
a failed conditional write 1 per started KB of the item as it stands (at least 1).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

Value = int | str | set[int]
Item = dict[str, Value]
_TOKEN = re.compile(r"\s*(<=|>=|<>|[(),=<>]|[#:][A-Za-z0-9_]+|[A-Za-z_][A-Za-z0-9_.]*)")


def number_bytes(value: int) -> int:
    digits = len(str(abs(value)).rstrip("0")) or 1
    return (digits + 1) // 2 + 1


def value_bytes(value: Value) -> int:
    if isinstance(value, set):
        return sum(number_bytes(v) + 1 for v in value)
    if isinstance(value, int):
        return number_bytes(value)
    return len(value.encode())


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _validation(f"Syntax error near: {text[position:]!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def _validation(message: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": message}}, "UpdateItem")


class _Parser:
    """Condition grammar (DynamoDB's precedence: NOT, then AND, then OR)."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0
        self.names: set[str] = set()
        self.values: set[str] = set()

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token.upper() != expected):
            raise _validation(f"expected {expected}, got {token}")
        self.position += 1
        return token

    def parse(self) -> Callable[[Item, dict[str, Any]], bool]:
        condition = self.disjunction()
        if self.peek() is not None:
            raise _validation(f"unexpected {self.peek()}")
        return condition

    def disjunction(self) -> Callable[[Item, dict[str, Any]], bool]:
        parts = [self.conjunction()]
        while (self.peek() or "").upper() == "OR":
            self.take()
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda item, values: any(part(item, values) for part in parts)

    def conjunction(self) -> Callable[[Item, dict[str, Any]], bool]:
        parts = [self.negation()]
        while (self.peek() or "").upper() == "AND":
            self.take()
            parts.append(self.negation())
        if len(parts) == 1:
            return parts[0]
        return lambda item, values: all(part(item, values) for part in parts)

    def negation(self) -> Callable[[Item, dict[str, Any]], bool]:
        if (self.peek() or "").upper() == "NOT":
            self.take()
            inner = self.negation()
            return lambda item, values: not inner(item, values)
        return self.primary()

    def primary(self) -> Callable[[Item, dict[str, Any]], bool]:
        word = self.peek()
        if word == "(":
            self.take()
            inner = self.disjunction()
            self.take(")")
            return inner
        if word in ("attribute_exists", "attribute_not_exists"):
            self.take()
            self.take("(")
            path = self.path()
            self.take(")")
            if word == "attribute_exists":
                return lambda item, values: path in item
            return lambda item, values: path not in item
        if word == "contains":
            self.take()
            self.take("(")
            path = self.path()
            self.take(",")
            operand = self.operand()
            self.take(")")

            def contains(item: Item, values: dict[str, Any]) -> bool:
                held, wanted = item.get(path), operand(item, values)
                if isinstance(held, set):
                    return wanted in held
                if isinstance(held, str) and isinstance(wanted, str):
                    return wanted in held
                return False

            return contains
        left = self.operand()
        comparator = self.take()
        right = self.operand()
        compare = _COMPARATORS.get(comparator)
        if compare is None:
            raise _validation(f"unknown comparator {comparator}")

        def comparison(item: Item, values: dict[str, Any]) -> bool:
            a, b = left(item, values), right(item, values)
            if a is None or b is None or type(a) is not type(b) or isinstance(a, set):
                return False  # a missing attribute, or operands of different types
            return bool(compare(a, b))

        return comparison

    def path(self) -> str:
        token = self.take()
        if not token.startswith("#"):
            raise _validation(f"the store names every attribute by placeholder, got {token}")
        self.names.add(token)
        return token

    def operand(self) -> Callable[[Item, dict[str, Any]], Any]:
        if self.peek() == "size":
            self.take()
            self.take("(")
            path = self.path()
            self.take(")")

            def size(item: Item, values: dict[str, Any]) -> int | None:
                held = item.get(path)
                if held is None:
                    return None
                if isinstance(held, (set, str)):
                    return len(held)
                raise _validation("Invalid operand type for size: N")

            return size
        token = self.take()
        if token.startswith(":"):
            self.values.add(token)
            return lambda item, values: values[token]
        if token.startswith("#"):
            self.names.add(token)
            return lambda item, values: item.get(token)
        raise _validation(f"unexpected operand {token}")


_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class _Update:
    add: tuple[tuple[str, str], ...]
    set: tuple[tuple[str, str], ...]
    remove: tuple[str, ...]
    names: frozenset[str]
    values: frozenset[str]


def _parse_update(text: str) -> _Update:
    tokens = _tokens(text)
    add: list[tuple[str, str]] = []
    assign: list[tuple[str, str]] = []
    remove: list[str] = []
    section = None
    position = 0
    while position < len(tokens):
        word = tokens[position]
        if word.upper() in ("ADD", "SET", "REMOVE"):
            section = word.upper()
            position += 1
            continue
        if word == ",":
            position += 1
            continue
        if section == "ADD":
            add.append((word, tokens[position + 1]))
            position += 2
        elif section == "SET":
            if tokens[position + 1] != "=":
                raise _validation("SET supports path = :value only")
            assign.append((word, tokens[position + 2]))
            position += 3
        elif section == "REMOVE":
            remove.append(word)
            position += 1
        else:
            raise _validation(f"unexpected {word}")
    paths = [p for p, _ in add] + [p for p, _ in assign] + remove
    resolved = [p for p in paths if p.startswith("#")]
    if len(set(paths)) != len(paths):
        raise _validation("Two document paths overlap with each other")
    return _Update(
        tuple(add),
        tuple(assign),
        tuple(remove),
        frozenset(resolved),
        frozenset(v for _, v in add + assign),
    )


def _from_wire(value: dict[str, Any]) -> Value:
    if "N" in value:
        return int(value["N"])
    if "NS" in value:
        return {int(v) for v in value["NS"]}
    if "S" in value:
        return str(value["S"])
    raise _validation(f"the store sends numbers, number sets and strings only: {value}")


def _to_wire(value: Value) -> dict[str, Any]:
    if isinstance(value, set):
        return {"NS": [str(v) for v in value]}
    if isinstance(value, int):
        return {"N": str(value)}
    return {"S": value}


@dataclass
class Ledger:
    """What the table was asked to do, and what DynamoDB would have charged for it."""

    writes: int = 0
    failed_writes: int = 0
    write_units: int = 0


class MemoryDynamoDB:
    """One table, keyed by ``pk``; items are plain Python values (sets of ints, ints, strings).

    Each attribute's size and wire form are kept up to date as it changes, so that a call costs
    the same whether a set holds ten stamps or a thousand.
    """

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self.ledger = Ledger()
        self._bytes: dict[str, dict[str, int]] = {}
        self._wire_strings: dict[str, dict[str, list[str]]] = {}
        self._conditions: dict[str, tuple[Callable[[Item, dict[str, Any]], bool], _Parser]] = {}
        self._updates: dict[str, _Update] = {}

    def item_bytes(self, key: str) -> int:
        sizes = self._bytes.get(key)
        if sizes is None:
            return 0
        return 2 + len(key.encode()) + sum(sizes.values())

    def _set(self, key: str, name: str, value: Value) -> None:
        self.items.setdefault(key, {})[name] = value
        self._bytes.setdefault(key, {})[name] = len(name.encode()) + value_bytes(value)
        strings = self._wire_strings.setdefault(key, {})
        if isinstance(value, set):
            strings[name] = [str(v) for v in value]
        else:
            strings.pop(name, None)

    def _remove(self, key: str, name: str) -> None:
        self.items.get(key, {}).pop(name, None)
        self._bytes.get(key, {}).pop(name, None)
        self._wire_strings.get(key, {}).pop(name, None)

    def copy_item(self, key: str, into: MemoryDynamoDB) -> None:
        """The key's item as it stands, into another table (cheaper than get_item + put_item)."""
        if key not in self.items:
            return
        into.items[key] = {
            n: set(v) if isinstance(v, set) else v for n, v in self.items[key].items()
        }
        into._bytes[key] = dict(self._bytes[key])
        into._wire_strings[key] = {n: list(v) for n, v in self._wire_strings[key].items()}

    def put_item(self, *, TableName: str, Item: dict[str, Any]) -> dict[str, Any]:
        key = Item["pk"]["S"]
        self.items[key], self._bytes[key], self._wire_strings[key] = {}, {}, {}
        for name, value in Item.items():
            if name != "pk":
                self._set(key, name, _from_wire(value))
        return {}

    def get_item(self, *, TableName: str, Key: dict[str, Any]) -> dict[str, Any]:
        key = Key["pk"]["S"]
        if key not in self.items:
            return {}
        return {"Item": self._wire(key)}

    def _wire(self, key: str) -> dict[str, Any]:
        strings = self._wire_strings.get(key, {})
        out: dict[str, Any] = {"pk": {"S": key}}
        for name, value in self.items[key].items():
            if isinstance(value, set):
                out[name] = {"NS": list(strings[name])}  # a copy: the caller keeps it
            else:
                out[name] = _to_wire(value)
        return out

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        key = kwargs["Key"]["pk"]["S"]
        names: dict[str, str] = kwargs.get("ExpressionAttributeNames", {})
        wire_values: dict[str, Any] = kwargs.get("ExpressionAttributeValues", {})
        values = {k: _from_wire(v) for k, v in wire_values.items()}
        update, condition = self._compile(
            kwargs["UpdateExpression"], kwargs.get("ConditionExpression"), names, wire_values
        )
        stored = self.items.get(key)
        # Placeholders resolved once: the condition reads the item through them.
        view = {p: stored[n] for p, n in names.items() if stored is not None and n in stored}
        before = self.item_bytes(key)
        self.ledger.writes += 1
        if condition is not None and not condition(view, values):
            self.ledger.failed_writes += 1
            self.ledger.write_units += max(1, -(-before // 1024))
            error: dict[str, Any] = {
                "Error": {
                    "Code": "ConditionalCheckFailedException",
                    "Message": "The conditional request failed",
                }
            }
            wanted = kwargs.get("ReturnValuesOnConditionCheckFailure")
            if stored is not None and wanted == "ALL_OLD":
                error["Item"] = self._wire(key)
            raise ClientError(error, "UpdateItem")  # type: ignore[arg-type]
        self._apply(key, update, names, values)
        self.ledger.write_units += max(1, -(-max(before, self.item_bytes(key)) // 1024))
        if kwargs.get("ReturnValues") == "ALL_NEW":
            return {"Attributes": self._wire(key)}
        return {}

    def _compile(
        self,
        update_text: str,
        condition_text: str | None,
        names: dict[str, str],
        wire_values: dict[str, Any],
    ) -> tuple[_Update, Callable[[Item, dict[str, Any]], bool] | None]:
        update = self._updates.get(update_text)
        if update is None:
            update = self._updates[update_text] = _parse_update(update_text)
        used_names, used_values = set(update.names), set(update.values)
        condition = None
        if condition_text:
            cached = self._conditions.get(condition_text)
            if cached is None:
                parser = _Parser(_tokens(condition_text))
                cached = self._conditions[condition_text] = (parser.parse(), parser)
            condition = cached[0]
            used_names |= cached[1].names
            used_values |= cached[1].values
        if used_names != set(names):
            raise _validation(f"unused or undefined names: {used_names ^ set(names)}")
        if used_values != set(wire_values):
            raise _validation(f"unused or undefined values: {used_values ^ set(wire_values)}")
        return update, condition

    def _apply(
        self, key: str, update: _Update, names: dict[str, str], values: dict[str, Value]
    ) -> None:
        if key not in self.items:
            self.items[key], self._bytes[key], self._wire_strings[key] = {}, {}, {}
        item = self.items[key]
        for path, value in update.add:
            name = names[path] if path.startswith("#") else path
            operand = values[value]
            held = item.get(name)
            if held is None:
                self._set(key, name, set(operand) if isinstance(operand, set) else operand)
            elif isinstance(operand, set) and isinstance(held, set):
                new = operand - held
                held |= new
                self._bytes[key][name] += sum(number_bytes(v) + 1 for v in new)
                self._wire_strings[key][name].extend(str(v) for v in new)
            elif isinstance(operand, int) and isinstance(held, int):
                self._set(key, name, held + operand)
            else:
                raise _validation("An operand in the update expression has an incorrect type")
        for path, value in update.set:
            operand = values[value]
            name = names[path] if path.startswith("#") else path
            self._set(key, name, set(operand) if isinstance(operand, set) else operand)
        for path in update.remove:
            self._remove(key, names[path] if path.startswith("#") else path)
