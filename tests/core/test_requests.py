"""Tests of push_service.requests: REST request bodies checked into typed values."""

from __future__ import annotations

from typing import Any

import pytest

from push_service import jsonbody
from push_service.errors import ErrorCode, PushError
from push_service.requests import (
    NewChallenge,
    NewDevice,
    NewEnrollment,
    NewKey,
    parse_name,
    parse_token,
)
from tests.phone import Phone

PHONE = Phone()


def refused(action: Any) -> ErrorCode:
    with pytest.raises(PushError) as caught:
        action()
    return caught.value.code


# Challenges


def test_a_minimal_challenge_request_takes_the_documented_defaults() -> None:
    request = NewChallenge.parse({"user_id": "alice"})
    assert request == NewChallenge("alice", {}, 60, True, None)


def test_a_full_challenge_request_is_read_as_given() -> None:
    body = {
        "user_id": "alice",
        "context": {"action": "Sign in", "ip": "203.0.113.7", "location": "Berlin"},
        "ttl_seconds": 120,
        "number_matching": False,
        "callback_url": "https://app.example/hooks/push",
    }
    request = NewChallenge.parse(body)
    assert request == NewChallenge(
        "alice", body["context"], 120, False, "https://app.example/hooks/push"
    )


@pytest.mark.parametrize("ttl", [10, 300])
def test_ttl_at_the_documented_bounds_is_accepted(ttl: int) -> None:
    assert NewChallenge.parse({"user_id": "alice", "ttl_seconds": ttl}).ttl_seconds == ttl


@pytest.mark.parametrize("ttl", [9, 301, 0, -1, True, 60.0, "60"], ids=repr)
def test_ttl_out_of_range_or_mistyped_is_invalid_request(ttl: Any) -> None:
    body = {"user_id": "alice", "ttl_seconds": ttl}
    assert refused(lambda: NewChallenge.parse(body)) is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("flag", [1, 0, "false", [True]], ids=repr)
def test_number_matching_that_is_not_a_boolean_is_invalid_request(flag: Any) -> None:
    body = {"user_id": "alice", "number_matching": flag}
    assert refused(lambda: NewChallenge.parse(body)) is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "alice", "match_number": "042"},
        {"user_id": "alice", "app_id": "app_other"},
        {"user_id": "alice", "ttl": 60},
    ],
    ids=["match_number", "app_id", "ttl"],
)
def test_a_challenge_request_with_an_unknown_member_is_invalid_request(body: Any) -> None:
    assert refused(lambda: NewChallenge.parse(body)) is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    "user_id", [None, "", 42, True, ["alice"], "a" * 129, "al\u202eice", "al\nice"], ids=repr
)
def test_a_bad_user_id_is_invalid_request(user_id: Any) -> None:
    body = {"user_id": user_id}
    assert refused(lambda: NewChallenge.parse(body)) is ErrorCode.INVALID_REQUEST


def test_a_user_id_of_128_characters_is_accepted() -> None:
    assert NewChallenge.parse({"user_id": "a" * 128}).user_id == "a" * 128


def test_a_context_of_20_keys_with_256_character_values_is_accepted() -> None:
    context = {f"k{i}": "v" * 256 for i in range(20)}
    assert NewChallenge.parse({"user_id": "alice", "context": context}).context == context


@pytest.mark.parametrize(
    "context",
    [
        {f"k{i}": "v" for i in range(21)},
        {"action": "v" * 257},
        {"action": "Sign in \u202eevil"},
        {"action": "Sign in \u2066evil"},
        {"act\u202eion": "Sign in"},
        {"act\u2066ion": "Sign in"},
        {"action": "line\x00break"},
        {"ip\x1b": "203.0.113.7"},
        {"action": 1},
        ["action"],
    ],
    ids=[
        "21-keys",
        "257-chars",
        "value-rlo",
        "value-lri",
        "key-rlo",
        "key-lri",
        "value-nul",
        "key-escape",
        "number-value",
        "list",
    ],
)
def test_a_bad_context_is_invalid_request(context: Any) -> None:
    body = {"user_id": "alice", "context": context}
    assert refused(lambda: NewChallenge.parse(body)) is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    "url",
    ["http://app.example/hook", "ftp://app.example/hook", "app.example/hook", "javascript:x"],
)
def test_a_callback_url_that_is_not_https_is_callback_url_rejected(url: str) -> None:
    body = {"user_id": "alice", "callback_url": url}
    assert refused(lambda: NewChallenge.parse(body)) is ErrorCode.CALLBACK_URL_REJECTED


@pytest.mark.parametrize("url", [42, True, ["https://x.example"]], ids=repr)
def test_a_callback_url_that_is_not_a_string_is_invalid_request(url: Any) -> None:
    body = {"user_id": "alice", "callback_url": url}
    assert refused(lambda: NewChallenge.parse(body)) is ErrorCode.INVALID_REQUEST


def test_a_challenge_body_with_duplicate_members_is_invalid_request() -> None:
    raw = b'{"user_id": "alice", "user_id": "mallory"}'
    assert refused(lambda: NewChallenge.parse(jsonbody.loads(raw))) is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("body", [None, [], "alice", 1], ids=repr)
def test_a_challenge_body_that_is_not_an_object_is_invalid_request(body: Any) -> None:
    assert refused(lambda: NewChallenge.parse(body)) is ErrorCode.INVALID_REQUEST


# Enrollments


def test_an_app_enrollment_takes_only_a_user_id() -> None:
    assert NewEnrollment.parse({"user_id": "alice"}, operator=False) == NewEnrollment("alice", None)


def test_an_app_may_not_choose_app_ids() -> None:
    body = {"user_id": "alice", "app_ids": ["app_other"]}
    assert refused(lambda: NewEnrollment.parse(body, operator=False)) is ErrorCode.INVALID_REQUEST


def test_an_operator_may_narrow_an_enrollment_to_app_ids() -> None:
    body = {"user_id": "alice", "app_ids": ["app_a", "app_b", "app_a"]}
    assert NewEnrollment.parse(body, operator=True) == NewEnrollment("alice", ("app_a", "app_b"))


@pytest.mark.parametrize("app_ids", [[], "app_a", [1], [""]], ids=repr)
def test_an_operator_enrollment_with_bad_app_ids_is_invalid_request(app_ids: Any) -> None:
    body = {"user_id": "alice", "app_ids": app_ids}
    assert refused(lambda: NewEnrollment.parse(body, operator=True)) is ErrorCode.INVALID_REQUEST


# Devices and keys


def test_a_device_registration_is_read_as_given() -> None:
    body = {"code": "c0de", "public_key": PHONE.jwk, "name": "pixel", "proof": "a.b.c"}
    assert NewDevice.parse(body) == NewDevice("c0de", PHONE.jwk, "pixel", "a.b.c")


def test_a_device_without_a_name_is_called_device() -> None:
    body = {"code": "c0de", "public_key": PHONE.jwk, "proof": "a.b.c"}
    assert NewDevice.parse(body).name == "device"


@pytest.mark.parametrize("missing", ["code", "public_key", "proof"])
def test_a_device_registration_missing_a_member_is_invalid_request(missing: str) -> None:
    body = {"code": "c0de", "public_key": PHONE.jwk, "name": "pixel", "proof": "a.b.c"}
    del body[missing]
    assert refused(lambda: NewDevice.parse(body)) is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    "change",
    [{"name": "p" * 65}, {"name": "pix\u202eel"}, {"code": 1234}, {"d": "secret"}],
    ids=["long-name", "bidi-name", "numeric-code", "unknown"],
)
def test_a_bad_device_registration_is_invalid_request(change: dict[str, Any]) -> None:
    body = {"code": "c0de", "public_key": PHONE.jwk, "proof": "a.b.c"} | change
    assert refused(lambda: NewDevice.parse(body)) is ErrorCode.INVALID_REQUEST


def test_a_key_rotation_is_read_as_given() -> None:
    assert NewKey.parse({"public_key": PHONE.jwk, "proof": "a.b.c"}) == NewKey(PHONE.jwk, "a.b.c")


@pytest.mark.parametrize(
    "body",
    [{"public_key": PHONE.jwk}, {"proof": "a.b.c"}, {"public_key": {}, "proof": "p", "x": 1}],
)
def test_a_bad_key_rotation_is_invalid_request(body: Any) -> None:
    assert refused(lambda: NewKey.parse(body)) is ErrorCode.INVALID_REQUEST


# Small bodies


def test_an_app_name_is_read() -> None:
    assert parse_name({"name": "Intranet"}) == "Intranet"


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "n" * 129}, {"name": "x", "id": 1}])
def test_a_bad_app_name_is_invalid_request(body: Any) -> None:
    assert refused(lambda: parse_name(body)) is ErrorCode.INVALID_REQUEST


def test_a_response_body_token_is_read() -> None:
    assert parse_token({"token": "a.b.c"}) == "a.b.c"


@pytest.mark.parametrize("body", [{}, {"token": 1}, {"token": "t" * 8193}, {"token": "a", "x": 1}])
def test_a_bad_response_body_is_invalid_request(body: Any) -> None:
    assert refused(lambda: parse_token(body)) is ErrorCode.INVALID_REQUEST
