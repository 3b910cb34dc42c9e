"""The tools' schemas: what each tool accepts (a pydantic model of its arguments, whose JSON
Schema is the tool's ``inputSchema``) and what it answers (the Data API's response model, whose
serialisation schema is its ``outputSchema``).

A call's arguments are validated by the tool's model. Every refusal is one sentence saying what
to change, which the model reads as a tool error: the first of pydantic's errors in the order an
agent fixes them (an unknown argument, a missing one, then each argument as sent), in words
that name the argument and its bounds (docs/mcp.md, "Tools").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic_core import ErrorDetails

from lucent.issues import models
from lucent.issues.models import (
    DEFAULT_PAGE_LIMIT,
    ISSUE_ID_PATTERN,
    MAX_CURSOR_LENGTH,
    MAX_PAGE_LIMIT,
    IssueKind,
    IssueStatus,
)

MAX_SESSION_ID_LENGTH = 128


class ToolArgumentError(Exception):
    """An argument the tool's model refuses; the message tells the model what to send."""


# --- arguments -----------------------------------------------------------------------------------

_CURSOR_HELP = (
    "The next_cursor of the previous page, to get the next one. Omit for the first page; pass it "
    "with the same filters."
)
_ISSUE_ID_HELP = "An issue id as returned by list_issues, e.g. iss_01J9Z3QW8N7X5V2K4M6P8R0T1Y."

IssueId = Annotated[str, StringConstraints(pattern=ISSUE_ID_PATTERN)]
SessionId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SESSION_ID_LENGTH)]
Cursor = Annotated[str, StringConstraints(max_length=MAX_CURSOR_LENGTH)]
ReplayMs = Annotated[int, Field(ge=0)]
# The enums are read from their JSON strings: strict mode would want enum members.
Status = Annotated[IssueStatus, Field(strict=False)]
Kind = Annotated[IssueKind, Field(strict=False)]


def _limit() -> Any:
    return Field(
        DEFAULT_PAGE_LIMIT,
        ge=1,
        le=MAX_PAGE_LIMIT,
        description=f"How many items to return, 1-{MAX_PAGE_LIMIT} (default {DEFAULT_PAGE_LIMIT}).",
    )


def _cursor(description: str = _CURSOR_HELP) -> Any:
    return Field(None, description=description)


_KIND_HELP = "Only this kind of problem."


class Arguments(BaseModel):
    """A tool's arguments: JSON types exactly (no "20" for 20), no member the tool does not
    name. The organization is never one: it is the token's."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ListIssuesArguments(Arguments):
    status: Status | None = Field(
        None,
        description="Only issues in this status: open (needs attention), resolved (fixed) or "
        "ignored (will not be fixed).",
    )
    kind: Kind | None = Field(None, description=_KIND_HELP)
    limit: int = _limit()
    cursor: Cursor | None = _cursor()


class GetIssueArguments(Arguments):
    issue_id: IssueId = Field(description=_ISSUE_ID_HELP)


class UpdateIssueStatusArguments(Arguments):
    issue_id: IssueId = Field(description=_ISSUE_ID_HELP)
    status: Status = Field(description="The new status: open, resolved or ignored.")


class ListSignalsArguments(Arguments):
    issue_id: IssueId | None = Field(None, description="Only signals of this issue.")
    session_id: SessionId | None = Field(None, description="Only signals of this recorded session.")
    kind: Kind | None = Field(None, description=_KIND_HELP)
    limit: int = _limit()
    cursor: Cursor | None = _cursor()


class ListInsightsArguments(Arguments):
    limit: int = _limit()
    cursor: Cursor | None = _cursor()


class GetSessionTimelineArguments(Arguments):
    session_id: SessionId = Field(
        description="The recorded session, e.g. the session_id of a signal."
    )
    from_ms: ReplayMs | None = Field(
        None,
        description="Only entries at or after this offset from the start of the replay, in "
        "milliseconds.",
    )
    to_ms: ReplayMs | None = Field(
        None,
        description="Only entries at or before this offset from the start of the replay, in "
        "milliseconds (inclusive).",
    )
    limit: int = _limit()
    cursor: Cursor | None = _cursor(
        "The next_cursor of the previous page, to get the next one. Omit for the first page; "
        "pass it with the same session_id, from_ms and to_ms."
    )


# --- the input schema of a model -----------------------------------------------------------------

# The order keywords are written in: the type, its constraints, then the default and the words.
_KEYWORDS = (
    "type",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "default",
    "description",
)


@cache
def input_schema(model: type[Arguments]) -> dict[str, Any]:
    """The model's JSON Schema as a tool's ``inputSchema``: each property inline (enums
    included), an optional argument as its type alone (null is "not given", not a value to
    offer), no titles."""
    generated = model.model_json_schema()
    definitions = generated.get("$defs", {})
    properties = {
        name: _property(spec, definitions) for name, spec in generated["properties"].items()
    }
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if generated.get("required"):
        schema["required"] = list(generated["required"])
    return schema


def _property(spec: Mapping[str, Any], definitions: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in spec.items() if k not in ("anyOf", "$ref")}
    variants = [v for v in spec.get("anyOf", [spec]) if v.get("type") != "null"]
    (variant,) = variants
    if "$ref" in variant:
        variant = definitions[variant["$ref"].rsplit("/", 1)[-1]]
    merged = {**variant, **merged}
    if "anyOf" in spec and merged.get("default", ...) is None:
        del merged["default"]
    unplaced = set(merged) - set(_KEYWORDS) - {"title"}
    if unplaced:  # a new constraint must be placed in _KEYWORDS, not dropped from the schema
        raise AssertionError(f"no place for {sorted(unplaced)} in an input schema")
    return {key: merged[key] for key in _KEYWORDS if key in merged}


# --- validation ----------------------------------------------------------------------------------


def validate_arguments(model: type[Arguments], arguments: Mapping[str, Any]) -> Arguments:
    """The arguments as the tool's model; ToolArgumentError with the sentence for the model."""
    # null is "not given": an optional argument takes its default, a required one is missing.
    given = {
        name: value
        for name, value in arguments.items()
        if value is not None or name not in model.model_fields
    }
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        raise ToolArgumentError(_message(model, given, exc.errors())) from None


def _message(model: type[Arguments], given: Mapping[str, Any], errors: list[ErrorDetails]) -> str:
    fields = list(model.model_fields)
    unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
    if unknown:
        hint = (
            " (tools act on the organization of your token)"
            if any("org" in name for name in unknown)
            else ""
        )
        return f"Unknown argument {unknown[0]!r}{hint}; accepted: {', '.join(fields) or 'none'}"
    missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing"]
    if missing:
        return f"Missing required argument {min(missing, key=fields.index)!r}"
    order = list(given)
    first = min(errors, key=lambda e: order.index(str(e["loc"][0])))
    name = str(first["loc"][0])
    return f"Invalid argument {name!r}: {_problem(input_schema(model)['properties'][name], first)}"


def _problem(spec: Mapping[str, Any], error: ErrorDetails) -> str:
    """What is wrong with one argument, in the words of its input schema."""
    kind, value = error["type"], error["input"]
    if spec["type"] == "integer":
        if kind not in ("greater_than_equal", "less_than_equal"):
            return "must be an integer"
        low, high = spec.get("minimum"), spec.get("maximum")
        return (
            f"must be between {low} and {high}" if high is not None else f"must be at least {low}"
        )
    if not isinstance(value, str):
        return "must be a string"
    # A constraint without words here is a KeyError: a new constraint needs its sentence.
    return _STRING_PROBLEMS[kind](spec, value)


_STRING_PROBLEMS: Mapping[str, Callable[[Mapping[str, Any], str], str]] = {
    "enum": lambda spec, _: f"must be one of {', '.join(spec['enum'])}",
    "string_too_short": lambda spec, _: (
        "must not be empty"
        if spec["minLength"] == 1
        else f"at least {spec['minLength']} characters"
    ),
    "string_too_long": lambda spec, value: (
        f"at most {spec['maxLength']} characters, got {len(value)}"
    ),
    "string_pattern_mismatch": lambda spec, _: str(spec["description"]),
    # A lone surrogate (JSON can escape one): no id, session or cursor of ours holds one.
    "string_unicode": lambda spec, _: "must be valid Unicode text",
}


# --- output schemas ------------------------------------------------------------------------------

# What each tool answers: the response model the Data API serialises for the same request.
OUTPUT_MODELS: Mapping[str, type[BaseModel]] = {
    "Issue": models.Issue,
    "IssuePage": models.IssuePage,
    "SignalPage": models.SignalPage,
    "InsightPage": models.InsightPage,
    "TimelinePage": models.TimelinePage,
}


@cache
def output_schema(model: str) -> dict[str, Any]:
    """The JSON Schema of a response model (serialisation mode: the shape the REST API sends)."""
    return OUTPUT_MODELS[model].model_json_schema(mode="serialization")
