"""The one JSON reader for request bodies, shared by ingest and the Data API (docs/limits.md).

``json.loads`` is not enough for a body that is validated and then stored byte for byte:

* **Duplicate keys.** ``json.loads`` keeps the last value of a repeated key silently, so
  ``{"session_id": "../x", ..., "session_id": "ok"}`` validates as ``"ok"`` while the stored bytes
  still say ``"../x"`` to every later reader (which may keep the first value). A duplicate key
  anywhere in the document is refused, so the JSON validated is the JSON stored.
* **Nesting.** The standard library parser recurses once per level and stops at a limit that
  depends on the interpreter (about 1,000 levels minus the caller's stack on 3.11, about 1,500 on
  3.12, about 10,000 on 3.13) with a ``RecursionError`` that nothing else expects. Depth is bounded
  here by an explicit ``max_depth``, chosen per API below what every supported interpreter can
  parse; the ``RecursionError`` is still caught, for documents deeper than the parser can go.
* ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259), though Python writes and reads
  them.

Every failure is an ``InvalidJson`` carrying the client-facing message and a metric reason; each
API turns it into its own 400. Costs (docs/limits.md, "JSON bodies"): duplicate keys are found by
an ``object_pairs_hook`` that builds the dict and compares lengths (one Python call per object);
depth is measured after parsing, breadth first, with ``gc.get_referents`` doing the per-value work
in C (a Python walk cost twice as much).
"""

from __future__ import annotations

import gc
import json
from itertools import compress
from typing import Any, NoReturn

NOT_JSON = "Body is not valid JSON"
NOT_UTF8 = "Body is not valid JSON: it is not UTF-8"
TOO_DEEP = "Body is not valid JSON: nested too deeply"

# Metric reasons (ingest's RejectedByReason dimension).
INVALID_JSON = "invalid_json"
DUPLICATE_KEY = "duplicate_key"
NESTED_TOO_DEEPLY = "too_deep"

_SHOWN_KEY_CHARS = 100
_IS_CONTAINER = frozenset((dict, list)).__contains__


class InvalidJson(ValueError):
    """A body that is not the strict JSON the APIs read: ``message`` for the client."""

    def __init__(self, message: str, reason: str = INVALID_JSON) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


def media_type(content_type: str | None) -> str | None:
    """The media type of a Content-Type header, lower case, parameters dropped; None if absent.

    ``"Application/JSON; charset=utf-8"`` is ``"application/json"``; an empty or blank header is
    no header.
    """
    if content_type is None or not content_type.strip():
        return None
    return content_type.split(";", 1)[0].strip().lower()


def duplicate_key_message(key: str) -> str:
    shown = key if len(key) <= _SHOWN_KEY_CHARS else key[:_SHOWN_KEY_CHARS] + "..."
    return f"{NOT_JSON}: duplicate key {json.dumps(shown)}"


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Called by the C scanner for every object; building the dict is what the scanner would do
    # anyway, so a duplicate costs nothing more to find than comparing two lengths.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        _refuse_duplicate(pairs)
    return obj


def _refuse_duplicate(pairs: list[tuple[str, Any]]) -> NoReturn:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise InvalidJson(duplicate_key_message(key), DUPLICATE_KEY)
        seen.add(key)
    raise AssertionError("unreachable: the lengths differed")  # pragma: no cover


def _reject_constant(name: str) -> NoReturn:
    raise InvalidJson(NOT_JSON)


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_reject_constant)


def depth(value: Any) -> int:
    """Levels of nested objects and arrays: 0 for a scalar, 1 for ``{}`` or ``[1]``."""
    return _depth(value, None)


def _depth(value: Any, limit: int | None) -> int:
    # Breadth first, one level at a time: gc.get_referents lists the keys and values of every
    # dict and the items of every list of the level in C, and compress/map keep the containers
    # in C too, so Python runs once per level rather than once per value. The parser only makes
    # dicts and lists, so exact types suffice. Stops one level past ``limit``.
    level = [value] if _IS_CONTAINER(type(value)) else []
    levels = 0
    while level:
        levels += 1
        if limit is not None and levels > limit:
            break
        children = gc.get_referents(*level)
        level = list(compress(children, map(_IS_CONTAINER, map(type, children))))
    return levels


def loads(document: bytes | str, *, max_depth: int) -> Any:
    """Parse a request body strictly, or raise ``InvalidJson``.

    ``document`` is the body's bytes (UTF-8 required) or its text. Refused: a syntax error, a BOM,
    ``NaN``/``Infinity``, an integer over Python's digit limit, a duplicate key in any object, and
    nesting deeper than ``max_depth`` objects and arrays.
    """
    if isinstance(document, bytes | bytearray):
        try:
            text = document.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidJson(NOT_UTF8) from None
    else:
        text = document
    try:
        parsed = _DECODER.decode(text)
    except InvalidJson:
        raise
    except RecursionError:  # deeper than this interpreter's parser goes: past max_depth anyway
        raise InvalidJson(TOO_DEEP, NESTED_TOO_DEEPLY) from None
    except ValueError:  # JSONDecodeError, and integers over Python's digit limit
        raise InvalidJson(NOT_JSON) from None
    if _depth(parsed, max_depth) > max_depth:
        raise InvalidJson(TOO_DEEP, NESTED_TOO_DEEPLY)
    return parsed
