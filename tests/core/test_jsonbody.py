"""Tests of push_service.jsonbody: strict JSON parsing of bodies and token segments."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from push_service import jsonbody
from push_service.errors import ErrorCode, PushError


def refused(raw: bytes | str, **kwargs: Any) -> PushError:
    with pytest.raises(PushError) as caught:
        jsonbody.loads(raw, **kwargs)
    return caught.value


def nested_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"user_id": "alice", "ttl_seconds": 60}', {"user_id": "alice", "ttl_seconds": 60}),
        ('{"ctx": {"ip": "203.0.113.7"}}', {"ctx": {"ip": "203.0.113.7"}}),
        (b'[1, 2.5, true, false, null, "x"]', [1, 2.5, True, False, None, "x"]),
        ('"caf\u00e9"'.encode(), "caf\u00e9"),
        (b"  42  ", 42),
    ],
)
def test_well_formed_json_is_parsed_to_the_same_value(raw: bytes | str, expected: Any) -> None:
    assert jsonbody.loads(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "a": 1}',
        b'{"a": 1, "b": 2, "a": 3}',
        b'{"outer": {"x": 1, "x": 2}}',
        b'[{"ok": 1}, {"k": 1, "k": 1}]',
        b'{"a": {"b": {"c": {"d": 1, "d": 1}}}}',
    ],
    ids=["same-value", "different-value", "nested-object", "object-in-array", "deeply-nested"],
)
def test_duplicate_member_names_are_invalid_request(raw: bytes) -> None:
    assert refused(raw).code is ErrorCode.INVALID_REQUEST


def test_same_name_in_sibling_objects_is_not_a_duplicate() -> None:
    assert jsonbody.loads(b'{"a": {"x": 1}, "b": {"x": 2}}') == {"a": {"x": 1}, "b": {"x": 2}}


@pytest.mark.parametrize(
    "raw",
    [
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b'{"ttl_seconds": NaN}',
        b'{"ttl_seconds": Infinity}',
        b'{"ttl_seconds": -Infinity}',
        b"[1, NaN]",
    ],
)
def test_nan_and_infinity_literals_are_invalid_request(raw: bytes) -> None:
    assert refused(raw).code is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "\xff"}',
        b'{"name": "\xc3"}',
        b'{"name": "\xed\xa0\x80"}',
        b'{"name": "\xc0\xaf"}',
        b"\xfe\xff\x00{\x00}",
    ],
    ids=["invalid-byte", "truncated-sequence", "encoded-surrogate", "overlong", "utf16"],
)
def test_invalid_utf8_is_invalid_request(raw: bytes) -> None:
    assert refused(raw).code is ErrorCode.INVALID_REQUEST


def test_escaped_lone_surrogate_is_invalid_request() -> None:
    # JSON's \ud800 escape names half of a UTF-16 pair: no UTF-8 text can carry it, and a
    # string holding it cannot be written back into any JSON answer or frame.
    assert refused(b'{"user_id": "\\ud800"}').code is ErrorCode.INVALID_REQUEST


def test_escaped_surrogate_pair_is_one_character() -> None:
    assert jsonbody.loads(b'"\\ud83d\\ude00"') == "\U0001f600"


@pytest.mark.parametrize(
    "raw", [nested_arrays(100_000), nested_objects(100_000)], ids=["arrays", "objects"]
)
def test_extremely_deep_nesting_is_invalid_request_not_recursion_error(raw: str) -> None:
    assert refused(raw).code is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("build", [nested_arrays, nested_objects], ids=["arrays", "objects"])
def test_nesting_at_the_depth_limit_is_accepted(build: Any) -> None:
    assert jsonbody.loads(build(16)) == json.loads(build(16))
    assert jsonbody.loads(build(4), max_depth=4) == json.loads(build(4))


@pytest.mark.parametrize("build", [nested_arrays, nested_objects], ids=["arrays", "objects"])
def test_nesting_one_level_over_the_limit_is_invalid_request(build: Any) -> None:
    assert refused(build(17)).code is ErrorCode.INVALID_REQUEST
    assert refused(build(5), max_depth=4).code is ErrorCode.INVALID_REQUEST


def test_depth_counts_the_deepest_branch_not_the_first() -> None:
    raw = "[1, " + nested_arrays(16) + "]"
    assert refused(raw).code is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[" * 16 + "1" + "]" * 16, json.loads("[" * 16 + "1" + "]" * 16)),
        (
            '{"a":' * 15 + '{"k": "v"}' + "}" * 15,
            json.loads('{"a":' * 15 + '{"k": "v"}' + "}" * 15),
        ),
    ],
    ids=["arrays", "objects"],
)
def test_values_inside_the_deepest_allowed_container_do_not_add_a_level(
    raw: str, expected: Any
) -> None:
    # Sixteen empty containers are accepted; the same sixteen holding a scalar must be too.
    assert jsonbody.loads(raw, max_depth=16) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"{",
        b'{"a": 1,}',
        b"{'a': 1}",
        b'{"a": 1} {"b": 2}',
        b"undefined",
        b"<xml/>",
        b'{"a": 01}',
        b'{"a": "tab\there"}',
        b"\xef\xbb\xbf{}",
    ],
    ids=[
        "empty",
        "blank",
        "unterminated",
        "trailing-comma",
        "single-quotes",
        "two-documents",
        "undefined",
        "xml",
        "leading-zero",
        "raw-control-in-string",
        "utf8-bom",
    ],
)
def test_non_json_is_invalid_request(raw: bytes) -> None:
    assert refused(raw).code is ErrorCode.INVALID_REQUEST


def test_huge_integer_literal_is_invalid_request() -> None:
    # An out-of-range value must be refused as a bad request, not escape as a ValueError.
    assert refused(b'{"ttl_seconds": ' + b"1" * 5000 + b"}").code is ErrorCode.INVALID_REQUEST


def test_dumps_is_compact_and_keeps_non_ascii_text() -> None:
    assert jsonbody.dumps({"a": [1, "\u00e9"]}) == '{"a":[1,"\u00e9"]}'


def test_dumps_refuses_nan_rather_than_writing_invalid_json() -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        jsonbody.dumps({"a": float("nan")})


texts = st.text(st.characters(exclude_categories=["Cs"]))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.binary()))
def test_arbitrary_input_is_parsed_or_refused_with_invalid_request(raw: str | bytes) -> None:
    assert outcome(raw) in ("parsed", ErrorCode.INVALID_REQUEST)


def outcome(raw: str | bytes) -> str | ErrorCode:
    try:
        jsonbody.loads(raw)
    except PushError as exc:
        return exc.code
    return "parsed"


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_anything_dumps_writes_is_read_back_unchanged(value: Any) -> None:
    assert jsonbody.loads(jsonbody.dumps(value), max_depth=64) == value
