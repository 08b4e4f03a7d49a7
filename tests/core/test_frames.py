"""Tests of push_service.frames: the stream's server frames and strict parsing of device frames."""

from __future__ import annotations

import json
from typing import Any

import pytest

from push_service import frames
from push_service.errors import ErrorCode, PushError
from tests.core.helpers import APP_ID, CHALLENGE_ID, NONCE, NOW, make_challenge


def test_hello_carries_the_nonce() -> None:
    assert json.loads(frames.hello("n0nce")) == {"type": "hello", "nonce": "n0nce"}


def test_ready_names_the_device() -> None:
    assert json.loads(frames.ready("dev_1")) == {"type": "ready", "device_id": "dev_1"}


def test_a_challenge_frame_carries_the_device_view_and_never_the_match_number() -> None:
    frame = json.loads(frames.challenge(make_challenge(context={"ip": "203.0.113.7"})))
    assert frame["type"] == "challenge"
    view = frame["challenge"]
    assert set(view) == {
        "challenge_id",
        "user_id",
        "app",
        "context",
        "number_matching",
        "nonce",
        "created_at",
        "expires_at",
    }
    assert view["challenge_id"] == CHALLENGE_ID
    assert view["nonce"] == NONCE
    assert view["app"] == {"app_id": APP_ID, "name": "Intranet"}
    assert view["expires_at"].endswith("Z")


def test_the_challenge_frame_shows_the_registry_app_name() -> None:
    frame = json.loads(frames.challenge(make_challenge(app_name="Payroll")))
    assert frame["challenge"]["app"]["name"] == "Payroll"


def test_result_and_resolved_carry_id_and_status() -> None:
    assert json.loads(frames.result("ch_1", "approved")) == {
        "type": "result",
        "challenge_id": "ch_1",
        "status": "approved",
    }
    assert json.loads(frames.resolved("ch_1", "expired")) == {
        "type": "resolved",
        "challenge_id": "ch_1",
        "status": "expired",
    }


def test_an_error_frame_carries_code_message_and_optional_challenge_id() -> None:
    exc = PushError(ErrorCode.CHALLENGE_NOT_PENDING, "The challenge is already approved.")
    assert json.loads(frames.error(exc)) == {
        "type": "error",
        "code": "challenge_not_pending",
        "message": "The challenge is already approved.",
    }
    assert json.loads(frames.error(exc, "ch_1"))["challenge_id"] == "ch_1"


def test_server_frames_are_compact_single_line_json() -> None:
    text = frames.challenge(make_challenge(created_at=NOW))
    assert "\n" not in text
    assert ": " not in text


def test_an_auth_frame_is_parsed() -> None:
    assert frames.parse('{"type": "auth", "token": "a.b.c"}', {"auth"}) == ("auth", "a.b.c")


def test_a_response_frame_is_parsed() -> None:
    text = '{"type": "response", "token": "a.b.c"}'
    assert frames.parse(text, {"response"}) == ("response", "a.b.c")


def refusal(text: str, expected: set[str] | None = None) -> ErrorCode:
    with pytest.raises(PushError) as caught:
        frames.parse(text, expected or {"auth"})
    return caught.value.code


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type": "response", "token": "a.b.c"}', {"auth"}),
        ('{"type": "auth", "token": "a.b.c"}', {"response"}),
        ('{"type": "hello", "token": "a.b.c"}', {"auth", "response"}),
        ('{"type": "AUTH", "token": "a.b.c"}', {"auth"}),
    ],
    ids=["response-before-auth", "auth-after-auth", "server-type", "case"],
)
def test_an_unexpected_frame_type_is_invalid_request(text: str, expected: set[str]) -> None:
    assert refusal(text, expected) is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "auth"}',
        '{"token": "a.b.c"}',
        '{"type": "auth", "token": 5}',
        '{"type": "auth", "token": ""}',
        '{"type": "auth", "token": "a.b.c", "extra": 1}',
        '{"type": "auth", "token": "a.b.c", "token": "d.e.f"}',
        '{"type": "auth", "token": "' + "t" * 8193 + '"}',
        '["auth", "a.b.c"]',
        "auth a.b.c",
        '{"type": "auth", "token": NaN}',
        '{"type": "auth", "token": "a.b.c", "x": [[[[1]]]]}',
    ],
    ids=[
        "no-token",
        "no-type",
        "token-number",
        "token-empty",
        "unknown-member",
        "duplicate-token",
        "token-too-long",
        "array",
        "not-json",
        "nan",
        "too-deep",
    ],
)
def test_a_malformed_device_frame_is_invalid_request(text: str) -> None:
    assert refusal(text) is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    "text", ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000]
)
def test_a_deeply_nested_frame_is_invalid_request(text: str) -> None:
    assert refusal(text) is ErrorCode.INVALID_REQUEST


def test_a_frame_with_a_huge_number_is_invalid_request() -> None:
    assert refusal('{"type": "auth", "token": ' + "9" * 5000 + "}") is ErrorCode.INVALID_REQUEST


def frame(**members: Any) -> str:
    return json.dumps(members)


def test_a_frame_with_a_control_character_in_the_type_is_invalid_request() -> None:
    assert refusal(frame(type="auth\x00", token="a.b.c")) is ErrorCode.INVALID_REQUEST
