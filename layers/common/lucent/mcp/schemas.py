"""The tools' schemas: what each tool accepts (its input schema, and the check of a call's
arguments against it) and what it answers (its output schema, the Data API's response shape).

A tool call's arguments are checked here (a small validator for exactly the keywords these
schemas use: type, enum, pattern, bounds, lengths, required, no extra members). Every refusal is
a sentence saying what to change, which the model reads as a tool error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from lucent.issues.records import (
    DEFAULT_PAGE_LIMIT,
    ISSUE_ID_PATTERN,
    MAX_CURSOR_LENGTH,
    MAX_PAGE_LIMIT,
    IssueKind,
    IssueStatus,
)

MAX_SESSION_ID_LENGTH = 128

_STATUSES = [s.value for s in IssueStatus]
_KINDS = [k.value for k in IssueKind]


class ToolArgumentError(Exception):
    """An argument the input schema refuses; the message tells the model what to send."""


# --- input schemas -------------------------------------------------------------------------------

_LIMIT = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_PAGE_LIMIT,
    "default": DEFAULT_PAGE_LIMIT,
    "description": f"How many items to return, 1-{MAX_PAGE_LIMIT} (default {DEFAULT_PAGE_LIMIT}).",
}
_CURSOR = {
    "type": "string",
    "maxLength": MAX_CURSOR_LENGTH,
    "description": "The next_cursor of the previous page, to get the next one. Omit for the "
    "first page; pass it with the same filters.",
}
_ISSUE_ID = {
    "type": "string",
    "pattern": ISSUE_ID_PATTERN,
    "description": "An issue id as returned by list_issues, e.g. iss_01J9Z3QW8N7X5V2K4M6P8R0T1Y.",
}
_STATUS_FILTER = {
    "type": "string",
    "enum": _STATUSES,
    "description": "Only issues in this status: open (needs attention), resolved (fixed) or "
    "ignored (will not be fixed).",
}
_KIND = {
    "type": "string",
    "enum": _KINDS,
    "description": "Only this kind of problem.",
}
_REPLAY_MS = {
    "type": "integer",
    "minimum": 0,
}


def _object(properties: Mapping[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": dict(properties),
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


LIST_ISSUES = _object({"status": _STATUS_FILTER, "kind": _KIND, "limit": _LIMIT, "cursor": _CURSOR})
GET_ISSUE = _object({"issue_id": _ISSUE_ID}, required=["issue_id"])
UPDATE_ISSUE_STATUS = _object(
    {
        "issue_id": _ISSUE_ID,
        "status": {
            "type": "string",
            "enum": _STATUSES,
            "description": "The new status: open, resolved or ignored.",
        },
    },
    required=["issue_id", "status"],
)
LIST_SIGNALS = _object(
    {
        "issue_id": {**_ISSUE_ID, "description": "Only signals of this issue."},
        "session_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_SESSION_ID_LENGTH,
            "description": "Only signals of this recorded session.",
        },
        "kind": _KIND,
        "limit": _LIMIT,
        "cursor": _CURSOR,
    }
)
LIST_INSIGHTS = _object({"limit": _LIMIT, "cursor": _CURSOR})
GET_SESSION_TIMELINE = _object(
    {
        "session_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_SESSION_ID_LENGTH,
            "description": "The recorded session, e.g. the session_id of a signal.",
        },
        "from_ms": {
            **_REPLAY_MS,
            "description": "Only entries at or after this offset from the start of the "
            "replay, in milliseconds.",
        },
        "to_ms": {
            **_REPLAY_MS,
            "description": "Only entries at or before this offset from the start of the "
            "replay, in milliseconds (inclusive).",
        },
        "limit": _LIMIT,
        "cursor": {
            **_CURSOR,
            "description": "The next_cursor of the previous page, to get the next one. "
            "Omit for the first page; pass it with the same session_id, from_ms and "
            "to_ms.",
        },
    },
    required=["session_id"],
)


def validate_arguments(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments, checked against one of the schemas above; ToolArgumentError otherwise."""
    properties: Mapping[str, Mapping[str, Any]] = schema["properties"]
    unknown = sorted(set(arguments) - set(properties))
    if unknown:
        hint = (
            " (tools act on the organization of your token)"
            if any("org" in name for name in unknown)
            else ""
        )
        raise ToolArgumentError(
            f"Unknown argument {unknown[0]!r}{hint}; accepted: {', '.join(properties) or 'none'}"
        )
    for name in schema.get("required", ()):
        if arguments.get(name) is None:
            raise ToolArgumentError(f"Missing required argument {name!r}")
    checked: dict[str, Any] = {}
    for name, value in arguments.items():
        if value is None:
            continue  # null is "not given" for an optional argument
        checked[name] = _check(name, properties[name], value)
    return checked


def _check(name: str, spec: Mapping[str, Any], value: Any) -> Any:
    kind = spec["type"]
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ToolArgumentError(f"Invalid argument {name!r}: must be an integer")
        low, high = spec.get("minimum"), spec.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ToolArgumentError(f"Invalid argument {name!r}: must be {bounds}")
        return value
    if not isinstance(value, str):
        raise ToolArgumentError(f"Invalid argument {name!r}: must be a string")
    if "enum" in spec and value not in spec["enum"]:
        raise ToolArgumentError(
            f"Invalid argument {name!r}: must be one of {', '.join(spec['enum'])}"
        )
    min_length = spec.get("minLength")
    if min_length is not None and len(value) < min_length:
        need = "must not be empty" if min_length == 1 else f"at least {min_length} characters"
        raise ToolArgumentError(f"Invalid argument {name!r}: {need}")
    max_length = spec.get("maxLength")
    if max_length is not None and len(value) > max_length:
        raise ToolArgumentError(
            f"Invalid argument {name!r}: at most {max_length} characters, got {len(value)}"
        )
    if "pattern" in spec and not re.fullmatch(spec["pattern"], value):
        raise ToolArgumentError(f"Invalid argument {name!r}: {spec['description']}")
    return value


# --- output schemas ------------------------------------------------------------------------------

# Generated from the pydantic response models by ``python -m lucent_dev.mcp_schemas`` and
# committed: building them here would import pydantic into MCP's cold start (~80 ms).
# tests/unit/test_mcp_output_schemas.py fails if the file is not what the models give.
OUTPUT_SCHEMAS_FILE = Path(__file__).with_name("output_schemas.json")


@cache
def output_schemas() -> dict[str, dict[str, Any]]:
    """Each response model's JSON Schema (serialisation mode), by model name."""
    schemas: dict[str, dict[str, Any]] = json.loads(OUTPUT_SCHEMAS_FILE.read_text("utf-8"))
    return schemas


def output_schema(model: str) -> dict[str, Any]:
    """The JSON Schema of a response model (the same shapes the REST API serialises)."""
    return output_schemas()[model]
