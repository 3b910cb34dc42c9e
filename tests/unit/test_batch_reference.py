"""The batch validator against a reference: a strict pydantic model of the same schema.

Ingest validates batches with plain typed code (``lucent.ingest.batch.validate_batch``) to keep
pydantic out of its cold start. This holds that code to what pydantic, in strict mode, decides
for the schema of docs/openapi-ingest.yaml: on generated documents, both accept, or both refuse
with the same first message (pydantic's, in JSON's words).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from lucent.errors import InvalidBatch
from lucent.ingest.batch import MAX_SEQUENCE, SESSION_ID, SESSION_ID_RULE, validate_batch


def _integral(value: Any) -> Any:
    if type(value) is float and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral)]


class ReferenceEvent(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")

    type: JsonInt
    timestamp: JsonInt
    data: dict[str, Any]


class ReferenceBatch(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")

    session_id: str
    sequence: Annotated[JsonInt, Field(ge=0, le=MAX_SEQUENCE)]
    events: Annotated[list[ReferenceEvent], Field(min_length=1)]
    window_id: Annotated[str, Field(max_length=256)] | None = None
    sent_at: Any = None
    metadata: dict[str, Any] | None = None

    @field_validator("session_id")
    @classmethod
    def _session_id(cls, value: str) -> str:
        if SESSION_ID.fullmatch(value) is None:
            raise PydanticCustomError("session_id", SESSION_ID_RULE)
        return value

    @field_validator("sent_at")
    @classmethod
    def _sent_at(cls, value: Any) -> Any:
        value = _integral(value)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise PydanticCustomError(
            "sent_at", "Input should be an integer (epoch milliseconds) or a string"
        )


_JSON_WORDING = (
    (
        re.compile(r"^Input should be a valid dictionary( or instance of \w+)?"),
        "Input should be an object",
    ),
    (re.compile(r"^Input should be a valid list"), "Input should be an array"),
)


def reference_verdict(document: Any) -> str | None:
    """None when the reference accepts, else its first message as the API words it."""
    try:
        ReferenceBatch.model_validate(document)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        message = str(first["msg"])
        for pattern, words in _JSON_WORDING:
            message = pattern.sub(words, message)
        where = ".".join(str(part) for part in first["loc"])
        return f"Invalid batch: {where}: {message}" if where else f"Invalid batch: {message}"
    return None


def verdict(document: Any) -> str | None:
    try:
        validate_batch(document)
    except InvalidBatch as exc:
        return exc.message
    return None


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 3.0, -1.0, 1e3, 1.5, 9_999_999_999.0, 10_000_000_000.0]),
    st.text(max_size=8),
    st.sampled_from(["s1", "ok-id_2", "bad id", "", "a" * 129, "x\n"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
events = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "type": json_values,
            "timestamp": json_values,
            "data": st.one_of(json_values, st.just({})),
            "extra": json_values,
        },
    ),
    st.fixed_dictionaries(
        {"type": st.integers(0, 6), "timestamp": st.integers(0, 2**41), "data": st.just({})}
    ),
)
documents = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "session_id": st.one_of(json_values, st.sampled_from(["s1", "sess-9"])),
            "sequence": st.one_of(json_values, st.integers(-2, MAX_SEQUENCE + 2)),
            "events": st.one_of(json_values, st.lists(events, max_size=4)),
            "window_id": st.one_of(json_values, st.text(max_size=300)),
            "sent_at": json_values,
            "metadata": json_values,
            "other": json_values,
        },
    ),
)


@settings(max_examples=3000, deadline=None)
@given(documents)
def test_the_validator_decides_as_the_strict_reference_model(document: Any) -> None:
    assert verdict(document) == reference_verdict(document)


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"session_id": "s", "sequence": True, "events": [{"type": 1, "timestamp": 1, "data": {}}]},
        {"session_id": "s", "sequence": 1.5, "events": [{"type": 1, "timestamp": 1, "data": {}}]},
        {"session_id": "s", "sequence": 1, "events": [{"type": 1.0, "timestamp": 2e0, "data": {}}]},
        {"session_id": "s", "sequence": 1, "events": [{"type": 1, "timestamp": 1, "data": []}]},
        {"session_id": "s", "sequence": 1, "events": [{"type": 1, "timestamp": 1}, 5]},
        {
            "session_id": "s",
            "sequence": 1,
            "events": [{"type": 1, "timestamp": 1, "data": {}}],
            "window_id": "w" * 257,
        },
        {
            "session_id": "s",
            "sequence": 1,
            "events": [{"type": 1, "timestamp": 1, "data": {}}],
            "sent_at": False,
        },
        {
            "session_id": "s",
            "sequence": 1,
            "events": [{"type": 1, "timestamp": 1, "data": {}}],
            "metadata": [],
        },
    ],
)
def test_known_edges_agree(document: Any) -> None:
    assert verdict(document) == reference_verdict(document)
