"""Tests of push_service.fields: member-by-member checks of request objects."""

from __future__ import annotations

from typing import Any

import pytest

from push_service.errors import ErrorCode, PushError
from push_service.fields import Fields

ALLOWED = {"user_id", "ttl_seconds", "number_matching", "context", "app_ids"}


def refused(action: Any) -> PushError:
    with pytest.raises(PushError) as caught:
        action()
    return caught.value


def fields(**data: Any) -> Fields:
    return Fields(data, ALLOWED)


# The object itself


def test_an_object_with_only_allowed_members_is_accepted() -> None:
    assert fields(user_id="alice", ttl_seconds=60).text("user_id") == "alice"


@pytest.mark.parametrize("unknown", ["userId", "admin", "", "user_id "])
def test_an_unknown_member_is_invalid_request(unknown: str) -> None:
    error = refused(lambda: Fields({"user_id": "alice", unknown: 1}, ALLOWED))
    assert error.code is ErrorCode.INVALID_REQUEST


def test_the_refusal_names_every_unknown_member() -> None:
    error = refused(lambda: Fields({"zeta": 1, "alpha": 2}, ALLOWED))
    assert "alpha" in error.message
    assert "zeta" in error.message


@pytest.mark.parametrize("body", [[], "text", 1, None, True, [{"user_id": "a"}]])
def test_a_body_that_is_not_an_object_is_invalid_request(body: Any) -> None:
    assert refused(lambda: Fields(body, ALLOWED)).code is ErrorCode.INVALID_REQUEST


# Strings


@pytest.mark.parametrize("value", [123, 1.5, True, None, ["alice"], {"a": "b"}])
def test_a_non_string_where_a_string_is_expected_is_invalid_request(value: Any) -> None:
    assert refused(lambda: fields(user_id=value).text("user_id")).code is ErrorCode.INVALID_REQUEST


def test_a_missing_required_string_is_invalid_request() -> None:
    assert refused(lambda: fields().text("user_id")).code is ErrorCode.INVALID_REQUEST


def test_strings_at_the_length_bounds_are_accepted() -> None:
    assert fields(user_id="a").text("user_id", max_len=3) == "a"
    assert fields(user_id="abc").text("user_id", max_len=3) == "abc"


@pytest.mark.parametrize("value", ["", "abcd"])
def test_strings_outside_the_length_bounds_are_invalid_request(value: str) -> None:
    error = refused(lambda: fields(user_id=value).text("user_id", max_len=3))
    assert error.code is ErrorCode.INVALID_REQUEST


def test_length_counts_characters_not_bytes() -> None:
    assert fields(user_id="\u00e9\u00e9\u00e9").text("user_id", max_len=3) == "\u00e9\u00e9\u00e9"


UNSAFE = {
    "nul": "\x00",
    "newline": "\n",
    "escape": "\x1b",
    "delete": "\x7f",
    "c1-csi": "\x9b",
    "lrm": "\u200e",
    "rlm": "\u200f",
    "lre": "\u202a",
    "rlo": "\u202e",
    "lri": "\u2066",
    "pdi": "\u2069",
}


@pytest.mark.parametrize("char", UNSAFE.values(), ids=UNSAFE.keys())
def test_control_and_bidi_characters_in_a_string_are_invalid_request(char: str) -> None:
    error = refused(lambda: fields(user_id=f"ali{char}ce").text("user_id"))
    assert error.code is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    "value", ["J\u00fcrgen", "\u5f20\u4f1f", "\u0645\u062d\u0645\u062f", "a b"]
)
def test_printable_text_in_any_script_is_accepted(value: str) -> None:
    assert fields(user_id=value).text("user_id") == value


def test_optional_text_absent_or_null_is_none() -> None:
    assert fields().optional_text("user_id") is None
    assert fields(user_id=None).optional_text("user_id") is None


def test_optional_text_present_is_checked_like_text() -> None:
    assert fields(user_id="bob").optional_text("user_id") == "bob"
    error = refused(lambda: fields(user_id=5).optional_text("user_id"))
    assert error.code is ErrorCode.INVALID_REQUEST


# Integers


def test_an_integer_in_range_is_accepted() -> None:
    assert fields(ttl_seconds=10).integer("ttl_seconds", low=10, high=300, default=60) == 10
    assert fields(ttl_seconds=300).integer("ttl_seconds", low=10, high=300, default=60) == 300


def test_an_absent_integer_takes_its_default() -> None:
    assert fields().integer("ttl_seconds", low=10, high=300, default=60) == 60


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_where_an_integer_is_expected_is_invalid_request(value: bool) -> None:
    # True == 1 in Python; JSON true must still not pass for a number.
    error = refused(
        lambda: fields(ttl_seconds=value).integer("ttl_seconds", low=0, high=9, default=5)
    )
    assert error.code is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("value", [60.0, 60.5, "60", [60], {"s": 60}])
def test_a_non_integer_where_an_integer_is_expected_is_invalid_request(value: Any) -> None:
    error = refused(
        lambda: fields(ttl_seconds=value).integer("ttl_seconds", low=10, high=300, default=60)
    )
    assert error.code is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("value", [9, 301, 0, -60, 10**30])
def test_an_integer_out_of_range_is_invalid_request(value: int) -> None:
    error = refused(
        lambda: fields(ttl_seconds=value).integer("ttl_seconds", low=10, high=300, default=60)
    )
    assert error.code is ErrorCode.INVALID_REQUEST


# Flags


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_flag_is_accepted(value: bool) -> None:
    assert fields(number_matching=value).flag("number_matching", default=not value) is value


def test_an_absent_flag_takes_its_default() -> None:
    assert fields().flag("number_matching", default=True) is True


@pytest.mark.parametrize("value", [1, 0, "true", "false", [True]])
def test_a_non_boolean_flag_is_invalid_request(value: Any) -> None:
    error = refused(lambda: fields(number_matching=value).flag("number_matching", default=True))
    assert error.code is ErrorCode.INVALID_REQUEST


# Raw members


def test_raw_returns_a_present_member_unchanged() -> None:
    assert fields(context={"k": "v"}).raw("context") == {"k": "v"}


def test_raw_of_a_missing_member_is_invalid_request() -> None:
    assert refused(lambda: fields().raw("context")).code is ErrorCode.INVALID_REQUEST


# String maps (challenge context)


def context(value: Any) -> dict[str, str]:
    return fields(context=value).string_map("context", max_items=20, max_len=256)


def test_a_context_of_twenty_keys_with_256_character_values_is_accepted() -> None:
    value = {f"key{i}": "v" * 256 for i in range(20)}
    assert context(value) == value


def test_a_context_with_an_empty_value_is_accepted() -> None:
    assert context({"action": ""}) == {"action": ""}


def test_an_absent_context_is_empty() -> None:
    assert fields().string_map("context", max_items=20, max_len=256) == {}


def test_a_context_with_21_keys_is_invalid_request() -> None:
    value = {f"key{i}": "v" for i in range(21)}
    assert refused(lambda: context(value)).code is ErrorCode.INVALID_REQUEST


def test_a_context_value_of_257_characters_is_invalid_request() -> None:
    assert refused(lambda: context({"action": "v" * 257})).code is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("value", [["ip"], "ip=1", 5, True])
def test_a_context_that_is_not_an_object_is_invalid_request(value: Any) -> None:
    assert refused(lambda: context(value)).code is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("value", [5, None, True, ["x"], {"nested": "x"}])
def test_a_context_value_that_is_not_a_string_is_invalid_request(value: Any) -> None:
    assert refused(lambda: context({"action": value})).code is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("char", UNSAFE.values(), ids=UNSAFE.keys())
def test_control_and_bidi_characters_in_a_context_value_are_invalid_request(char: str) -> None:
    error = refused(lambda: context({"browser": f"Firefox{char}"}))
    assert error.code is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("char", UNSAFE.values(), ids=UNSAFE.keys())
def test_control_and_bidi_characters_in_a_context_key_are_invalid_request(char: str) -> None:
    error = refused(lambda: context({f"loc{char}ation": "Berlin"}))
    assert error.code is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("key", ["", "k" * 65])
def test_a_context_key_that_is_empty_or_too_long_is_invalid_request(key: str) -> None:
    assert refused(lambda: context({key: "v"})).code is ErrorCode.INVALID_REQUEST


def test_a_context_key_of_64_characters_is_accepted() -> None:
    assert context({"k" * 64: "v"}) == {"k" * 64: "v"}


# String lists (enrollment app_ids)


def test_a_string_list_is_returned_without_duplicates_in_order() -> None:
    result = fields(app_ids=["b", "a", "b"]).string_list("app_ids", max_items=100)
    assert result == ("b", "a")


def test_an_absent_string_list_is_none() -> None:
    assert fields().string_list("app_ids", max_items=100) is None


@pytest.mark.parametrize(
    "value",
    [[], "app_1", ["app"] * 101, [1], [""], ["a" * 129], [None], {"app_1": True}],
    ids=["empty", "string", "too-many", "number", "empty-item", "long-item", "null", "object"],
)
def test_a_bad_string_list_is_invalid_request(value: Any) -> None:
    error = refused(lambda: fields(app_ids=value).string_list("app_ids", max_items=100))
    assert error.code is ErrorCode.INVALID_REQUEST
