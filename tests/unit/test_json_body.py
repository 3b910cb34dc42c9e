"""lucent.json_body: the strict reader every API uses. Duplicate keys anywhere, an explicit depth
bound, and nothing but ``InvalidJson`` escaping it, whatever the bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lucent import json_body
from lucent.json_body import (
    DUPLICATE_KEY,
    INVALID_JSON,
    NESTED_TOO_DEEPLY,
    NOT_JSON,
    NOT_UTF8,
    TOO_DEEP,
    InvalidJson,
    depth,
    loads,
)


def refused(document: bytes | str, max_depth: int = 50) -> InvalidJson:
    with pytest.raises(InvalidJson) as caught:
        loads(document, max_depth=max_depth)
    return caught.value


def nested_arrays(levels: int) -> str:
    return "[" * levels + "]" * levels


def nested_objects(levels: int) -> str:
    return '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)


# --- duplicate keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "key"),
    [
        ('{"session_id": "../../x", "events": [], "session_id": "ok"}', "session_id"),
        ('{"a": 1, "b": 2, "a": 1}', "a"),  # the same value twice is still two keys
        ('{"events": [{"type": 3, "data": {"x": 1, "x": 2}}]}', "x"),
        ('[[{"ok": 1}], [{"k": 1, "k": 1}]]', "k"),
        ('{"": 1, "": 2}', ""),
        ('{"\\u0073": 1, "s": 2}', "s"),  # escapes decode to the same key: a duplicate
        ('{"quo\\"te": 1, "quo\\"te": 2}', 'quo"te'),
    ],
)
def test_a_duplicate_key_anywhere_is_refused_and_named(document: str, key: str) -> None:
    error = refused(document)
    assert error.message == f"Body is not valid JSON: duplicate key {json.dumps(key)}"
    assert error.reason == DUPLICATE_KEY


def test_the_duplicate_named_is_the_first_one_repeated() -> None:
    assert refused('{"b": 1, "a": 1, "a": 2, "b": 2}').message == (
        'Body is not valid JSON: duplicate key "a"'
    )


def test_a_long_duplicate_key_is_shortened_in_the_message() -> None:
    key = "k" * 5000
    error = refused(json.dumps({key: 1})[:-1] + f', "{key}": 2}}')
    assert error.message == f'Body is not valid JSON: duplicate key "{"k" * 100}..."'


def test_keys_that_differ_only_in_case_or_escaping_of_other_keys_are_fine() -> None:
    assert loads('{"a": 1, "A": 2, "a ": 3, "\\u00e9": 4}', max_depth=1) == {
        "a": 1,
        "A": 2,
        "a ": 3,
        "é": 4,
    }


# --- depth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [nested_arrays, nested_objects])
def test_depth_is_refused_one_level_past_the_bound(build: Any) -> None:
    assert depth(loads(build(40), max_depth=40)) == 40
    error = refused(build(41), max_depth=40)
    assert (error.message, error.reason) == (TOO_DEEP, NESTED_TOO_DEEPLY)


@pytest.mark.parametrize(
    "document",
    [
        "[" * 100_000,  # the body: unbalanced, deeper than any interpreter's parser goes
        nested_arrays(100_000),
        nested_objects(50_000),
        '{"a": [' * 50_000 + "]}" * 50_000,
    ],
)
def test_bodies_deeper_than_the_parser_goes_are_too_deep_not_a_crash(document: str) -> None:
    error = refused(document, max_depth=800)
    assert (error.message, error.reason) == (TOO_DEEP, NESTED_TOO_DEEPLY)


def test_the_deepest_branch_counts_not_the_first() -> None:
    document = '{"shallow": 1, "wide": [1, 2, {"x": 3}], "deep": [[[[{"y": [5]}]]]]}'
    assert depth(loads(document, max_depth=7)) == 7
    assert refused(document, max_depth=6).message == TOO_DEEP


@pytest.mark.parametrize(
    ("value", "levels"),
    [
        (1, 0),
        ("s", 0),
        (None, 0),
        ([], 1),
        ({}, 1),
        ([1, "a", None], 1),
        ({"a": {"b": [[]]}}, 4),
        ([{}, [{}], [[[]]]], 4),
    ],
)
def test_depth_counts_objects_and_arrays(value: Any, levels: int) -> None:
    assert depth(value) == levels


def _reference_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_reference_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_reference_depth(v) for v in value), default=0)
    return 0


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_depth_and_round_trip_match_a_plain_recursive_reader(value: Any) -> None:
    text = json.dumps(value)
    levels = _reference_depth(value)
    assert depth(value) == levels
    if levels:
        assert refused(text, max_depth=levels - 1).reason == NESTED_TOO_DEEPLY
    assert loads(text, max_depth=max(levels, 1)) == json.loads(text)
    assert loads(text.encode(), max_depth=max(levels, 1)) == json.loads(text)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_parse_or_raise_invalid_json_only(data: bytes) -> None:
    error: InvalidJson | None = None
    try:
        loads(data, max_depth=5)
    except InvalidJson as exc:  # anything else fails the test
        error = exc
    if error is not None:
        assert error.message.startswith(NOT_JSON)
        assert error.reason in (INVALID_JSON, DUPLICATE_KEY, NESTED_TOO_DEEPLY)


# --- what json.loads takes and JSON does not --------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{", NOT_JSON),
        (b"", NOT_JSON),
        (b"[NaN]", NOT_JSON),
        (b'{"a": Infinity}', NOT_JSON),
        (b"[-Infinity]", NOT_JSON),
        (b"\xef\xbb\xbf{}", NOT_JSON),  # a UTF-8 byte order mark
        (b"{} {}", NOT_JSON),
        (b"[" + b"9" * 5000 + b"]", NOT_JSON),  # over Python's integer digit limit
        (b'{"a": "\xff"}', NOT_UTF8),
        ('{"a": 1,}', NOT_JSON),
    ],
)
def test_not_json(document: bytes | str, message: str) -> None:
    error = refused(document)
    assert (error.message, error.reason) == (message, INVALID_JSON)


def test_text_and_bytes_read_alike() -> None:
    document = '{"é": [1, 2.5, true, null, "\\ud83d\\ude00"]}'
    assert loads(document, max_depth=2) == loads(document.encode(), max_depth=2)
    assert loads(document, max_depth=2) == {"é": [1, 2.5, True, None, "😀"]}


def test_invalid_json_is_a_value_error_with_its_message() -> None:
    error = refused(b"{")
    assert isinstance(error, ValueError)
    assert str(error) == NOT_JSON
    assert json_body.duplicate_key_message("k") == 'Body is not valid JSON: duplicate key "k"'
