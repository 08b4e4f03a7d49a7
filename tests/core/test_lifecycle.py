"""Tests of push_service.lifecycle: the challenge state machine and the judging of answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from push_service import lifecycle, tokens
from push_service.errors import ErrorCode, PushError
from push_service.ids import match_number
from push_service.lifecycle import TRANSITIONS, WEBHOOK_TYPES, Decision, Event
from push_service.models import Challenge, Device, Reason, Status
from push_service.tokens import Kind
from tests.core.helpers import (
    APP_ID,
    CHALLENGE_ID,
    ISSUER,
    NONCE,
    NOW,
    OTHER_APP_ID,
    make_challenge,
    make_device,
    phone_token,
    sign_raw,
)
from tests.phone import Phone, jwk

ALICE = Phone(device_id="dev_alice_phone_0001", user_id="alice")
ALICE_EVERYWHERE = Phone(device_id="dev_alice_operator01", user_id="alice")
ALICE_ELSEWHERE = Phone(device_id="dev_alice_otherapp01", user_id="alice")
BOB = Phone(device_id="dev_bob_phone_000001", user_id="bob")
NUMBER = "042"
TERMINAL = [Status.APPROVED, Status.DENIED, Status.EXPIRED, Status.CANCELLED]


def answer(
    phone: Phone = ALICE, decision: str = "approve", **extra: Any
) -> tuple[dict[str, Any], str]:
    """A response token from `phone` and the claims the verifier gives for it."""
    claims = {"cid": CHALLENGE_ID, "nonce": NONCE, "decision": decision} | extra
    value = phone_token(phone, **claims)
    checked = tokens.verify_device_token(
        tokens.peek(value),
        jwk(phone.key)["x"],
        device_id=phone.device_id,
        issuer=ISSUER,
        now=NOW,
        kind=Kind.RESPONSE,
    )
    return checked, value


def judge(
    claims_and_token: tuple[dict[str, Any], str],
    *,
    challenge: Challenge | None = None,
    device: Device | None = None,
    expected: str | None = NUMBER,
    now: float = NOW + 1,
) -> Decision:
    claims, value = claims_and_token
    return lifecycle.judge_response(
        claims, value, challenge or make_challenge(), device or make_device(ALICE), expected, now
    )


def judge_refusal(claims_and_token: tuple[dict[str, Any], str], **kwargs: Any) -> ErrorCode:
    with pytest.raises(PushError) as caught:
        judge(claims_and_token, **kwargs)
    return caught.value.code


# The transition table

DOCUMENTED = {
    Event.APPROVE: (Status.APPROVED, None),
    Event.NUMBER_MISMATCH: (Status.DENIED, Reason.NUMBER_MISMATCH),
    Event.DENY: (Status.DENIED, Reason.USER_DENIED),
    Event.FRAUD: (Status.DENIED, Reason.FRAUD_REPORTED),
    Event.EXPIRE: (Status.EXPIRED, None),
    Event.CANCEL: (Status.CANCELLED, None),
}


def test_the_transition_table_is_the_documented_one() -> None:
    assert TRANSITIONS == DOCUMENTED


@pytest.mark.parametrize("event", list(Event))
def test_every_event_from_pending_gives_its_documented_status_and_reason(event: Event) -> None:
    status, reason = DOCUMENTED[event]
    ended = lifecycle.apply(make_challenge(), Decision(event, "dev_x", "tok"), NOW + 5)
    assert (ended.status, ended.reason) == (status, reason)
    assert ended.decided_at == NOW + 5
    assert (ended.device_id, ended.response_token) == ("dev_x", "tok")


def test_applying_keeps_everything_but_the_outcome() -> None:
    before = make_challenge()
    ended = lifecycle.apply(before, Decision(Event.CANCEL), NOW + 5)
    unchanged = ("challenge_id", "app_id", "user_id", "context", "nonce", "expires_at")
    assert all(getattr(ended, name) == getattr(before, name) for name in unchanged)
    assert before.pending  # the input is not modified


@pytest.mark.parametrize("status", TERMINAL)
@pytest.mark.parametrize("event", list(Event))
def test_every_event_from_every_terminal_state_is_challenge_not_pending(
    status: Status, event: Event
) -> None:
    ended = make_challenge(status=status, decided_at=NOW + 1)
    with pytest.raises(PushError) as caught:
        lifecycle.apply(ended, Decision(event, "dev_x", "tok"), NOW + 2)
    assert caught.value.code is ErrorCode.CHALLENGE_NOT_PENDING
    assert status.value in caught.value.message


@pytest.mark.parametrize("status", TERMINAL)
def test_every_terminal_state_has_its_webhook_type(status: Status) -> None:
    assert WEBHOOK_TYPES[status] == f"challenge.{status.value}"


def test_pending_has_no_webhook_type() -> None:
    assert Status.PENDING not in WEBHOOK_TYPES


def test_ensure_open_lets_a_pending_challenge_before_its_deadline_through() -> None:
    assert lifecycle.ensure_open(make_challenge(ttl=60), NOW + 59.999) is None


@pytest.mark.parametrize("now", [NOW + 60, NOW + 61], ids=["at-deadline", "after"])
def test_ensure_open_refuses_a_pending_challenge_past_its_deadline_as_expired(now: float) -> None:
    with pytest.raises(PushError) as caught:
        lifecycle.ensure_open(make_challenge(ttl=60), now)
    assert caught.value.code is ErrorCode.CHALLENGE_NOT_PENDING
    assert "expired" in caught.value.message


@pytest.mark.parametrize("status", TERMINAL)
def test_ensure_open_refuses_every_terminal_state(status: Status) -> None:
    with pytest.raises(PushError) as caught:
        lifecycle.ensure_open(make_challenge(status=status), NOW)
    assert caught.value.code is ErrorCode.CHALLENGE_NOT_PENDING


# Judging a response


def test_approve_with_the_right_number_is_approve() -> None:
    decision = judge(answer(number=NUMBER))
    assert decision.event is Event.APPROVE
    assert decision.device_id == ALICE.device_id


def test_the_decision_carries_the_token_as_received() -> None:
    claims, value = answer(number=NUMBER)
    assert judge((claims, value)).response_token == value


@pytest.mark.parametrize("number", ["043", "42", "0420", "000", None], ids=repr)
def test_approve_with_a_wrong_or_missing_number_is_number_mismatch(number: str | None) -> None:
    assert judge(answer(number=number)).event is Event.NUMBER_MISMATCH


def test_deny_is_deny() -> None:
    assert judge(answer(decision="deny")).event is Event.DENY


@pytest.mark.parametrize("number", [NUMBER, "999", None], ids=repr)
def test_deny_does_not_depend_on_the_number(number: str | None) -> None:
    assert judge(answer(decision="deny", number=number)).event is Event.DENY


def test_deny_with_fraud_is_fraud() -> None:
    assert judge(answer(decision="deny", fraud=True)).event is Event.FRAUD


def test_deny_with_fraud_false_is_a_plain_deny() -> None:
    assert judge(answer(decision="deny", fraud=False)).event is Event.DENY


@pytest.mark.parametrize("number", [NUMBER, "999", None], ids=repr)
def test_the_number_is_ignored_when_number_matching_is_off(number: str | None) -> None:
    challenge = make_challenge(number_matching=False)
    decision = judge(answer(number=number), challenge=challenge, expected=None)
    assert decision.event is Event.APPROVE


def test_a_device_of_another_user_is_forbidden() -> None:
    device = make_device(BOB, app_ids=None)
    assert judge_refusal(answer(BOB, number=NUMBER), device=device) is ErrorCode.FORBIDDEN


def test_a_device_scoped_to_another_app_is_forbidden() -> None:
    device = make_device(ALICE_ELSEWHERE, app_ids=(OTHER_APP_ID,))
    refusal = judge_refusal(answer(ALICE_ELSEWHERE, number=NUMBER), device=device)
    assert refusal is ErrorCode.FORBIDDEN


def test_a_device_enrolled_by_an_operator_for_every_app_may_answer() -> None:
    device = make_device(ALICE_EVERYWHERE, app_ids=None)
    decision = judge(answer(ALICE_EVERYWHERE, number=NUMBER), device=device)
    assert decision.event is Event.APPROVE
    assert decision.device_id == ALICE_EVERYWHERE.device_id


def test_a_device_scoped_to_several_apps_including_this_one_may_answer() -> None:
    device = make_device(ALICE, app_ids=(OTHER_APP_ID, APP_ID))
    assert judge(answer(number=NUMBER), device=device).event is Event.APPROVE


def test_a_cid_naming_another_challenge_is_invalid_request() -> None:
    refusal = judge_refusal(answer(cid="ch_someone_else_0001", number=NUMBER))
    assert refusal is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("nonce", ["nonce-wrong", NONCE[:-1], NONCE + "x", NONCE.upper()])
def test_a_nonce_not_matching_the_challenge_is_invalid_request(nonce: str) -> None:
    assert judge_refusal(answer(nonce=nonce, number=NUMBER)) is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    "now", [NOW + 60, NOW + 60.001, NOW + 3600], ids=["at", "just-after", "long-after"]
)
def test_an_answer_at_or_after_the_deadline_is_challenge_not_pending(now: float) -> None:
    refusal = judge_refusal(answer(number=NUMBER), challenge=make_challenge(ttl=60), now=now)
    assert refusal is ErrorCode.CHALLENGE_NOT_PENDING


def test_an_answer_just_before_the_deadline_is_judged() -> None:
    decision = judge(answer(number=NUMBER), challenge=make_challenge(ttl=60), now=NOW + 59.999)
    assert decision.event is Event.APPROVE


@pytest.mark.parametrize("status", TERMINAL)
def test_an_answer_to_an_ended_challenge_is_challenge_not_pending(status: Status) -> None:
    challenge = make_challenge(status=status, decided_at=NOW)
    refusal = judge_refusal(answer(number=NUMBER), challenge=challenge)
    assert refusal is ErrorCode.CHALLENGE_NOT_PENDING


@pytest.mark.parametrize("status", TERMINAL)
def test_another_users_device_answering_an_ended_challenge_is_forbidden_first(
    status: Status,
) -> None:
    challenge = make_challenge(status=status, decided_at=NOW)
    device = make_device(BOB, app_ids=None)
    refusal = judge_refusal(answer(BOB, number=NUMBER), challenge=challenge, device=device)
    assert refusal is ErrorCode.FORBIDDEN


def test_another_users_device_answering_an_expired_challenge_is_forbidden_first() -> None:
    device = make_device(BOB, app_ids=None)
    refusal = judge_refusal(answer(BOB, number=NUMBER), device=device, now=NOW + 3600)
    assert refusal is ErrorCode.FORBIDDEN


def test_a_device_of_another_app_answering_an_ended_challenge_is_forbidden_first() -> None:
    challenge = make_challenge(status=Status.APPROVED, decided_at=NOW)
    device = make_device(ALICE_ELSEWHERE, app_ids=(OTHER_APP_ID,))
    refusal = judge_refusal(answer(ALICE_ELSEWHERE), challenge=challenge, device=device)
    assert refusal is ErrorCode.FORBIDDEN


# The state machine under any sequence of events and answers

MATCH_KEY = b"match-key-for-the-core-tests-000"
IMPOSTOR = Phone(device_id=ALICE.device_id, user_id="alice")  # claims Alice's id, own key
REVOKED = Phone(device_id="dev_alice_revoked001", user_id="alice")
ACTORS = {
    "alice": ALICE,
    "alice-everywhere": ALICE_EVERYWHERE,
    "alice-elsewhere": ALICE_ELSEWHERE,
    "bob": BOB,
    "impostor": IMPOSTOR,
    "revoked": REVOKED,
}
ACTIVE = {
    ALICE.device_id: make_device(ALICE, app_ids=(APP_ID,)),
    ALICE_EVERYWHERE.device_id: make_device(ALICE_EVERYWHERE, app_ids=None),
    ALICE_ELSEWHERE.device_id: make_device(ALICE_ELSEWHERE, app_ids=(OTHER_APP_ID,)),
    BOB.device_id: make_device(BOB, app_ids=None),
}


@dataclass(frozen=True)
class Answer:
    actor: str
    decision: str
    number: str
    fraud: bool | None
    cid_ok: bool
    nonce_ok: bool
    iat_offset: int
    lifetime: int


@dataclass(frozen=True)
class Issued:
    """A response token as sent, with what went into it."""

    actor: str
    claims: dict[str, Any]
    token: str


answers = st.builds(
    Answer,
    actor=st.sampled_from(sorted(ACTORS)),
    decision=st.sampled_from(["approve", "approve", "deny", "maybe"]),
    number=st.sampled_from(["right", "right", "wrong", "missing", "longer", "integer"]),
    fraud=st.sampled_from([None, None, True, False]),
    cid_ok=st.sampled_from([True, True, True, False]),
    nonce_ok=st.sampled_from([True, True, True, False]),
    iat_offset=st.sampled_from([0, 0, -30, 45, -90, 90]),
    lifetime=st.sampled_from([60, 60, 300, 301]),
)
likely_valid_answers = st.builds(
    Answer,
    actor=st.sampled_from(["alice", "alice-everywhere"]),
    decision=st.sampled_from(["approve", "approve", "deny"]),
    number=st.sampled_from(["right", "right", "wrong", "missing"]),
    fraud=st.sampled_from([None, True, False]),
    cid_ok=st.just(True),
    nonce_ok=st.just(True),
    iat_offset=st.sampled_from([0, -30, 45]),
    lifetime=st.sampled_from([60, 300]),
)
steps = st.lists(
    st.one_of(
        answers,
        answers,
        answers,
        likely_valid_answers,
        st.tuples(st.just("tick"), st.integers(0, 120)),
        st.tuples(st.just("expire")),
        st.tuples(st.just("cancel")),
        st.tuples(st.just("replay"), st.integers(0, 20)),
        st.tuples(st.just("garbage"), st.text(max_size=40)),
    ),
    max_size=14,
)


def issue(step: Answer, now: int, serial: int, right_number: str) -> Issued:
    phone = ACTORS[step.actor]
    numbers: dict[str, Any] = {
        "right": right_number,
        "wrong": f"{(int(right_number) + 1) % 10 ** len(right_number):0{len(right_number)}d}",
        "longer": right_number + "0",
        "integer": int(right_number),
    }
    claims: dict[str, Any] = {
        "iss": phone.device_id,
        "aud": ISSUER,
        "iat": now + step.iat_offset,
        "exp": now + step.iat_offset + step.lifetime,
        "jti": f"jti-{serial:016d}",
        "cid": CHALLENGE_ID if step.cid_ok else "ch_another_challenge",
        "nonce": NONCE if step.nonce_ok else "nonce-of-another-one",
        "decision": step.decision,
    }
    if step.number in numbers:
        claims["number"] = numbers[step.number]
    if step.fraud is not None:
        claims["fraud"] = step.fraud
    header = json.dumps({"alg": "EdDSA", "kid": phone.device_id})
    return Issued(step.actor, claims, sign_raw(phone.key, header, json.dumps(claims)))


def respond(
    value: str, challenge: Challenge, now: int, seen: set[str], expected: str | None
) -> Challenge:
    """What the service does with a response token, minus storage: verify, judge, apply."""
    unverified = tokens.peek(value)
    device = ACTIVE.get(unverified.kid)
    if device is None:
        raise PushError(ErrorCode.INVALID_TOKEN, "unknown device")
    claims = tokens.verify_device_token(
        unverified,
        device.public_key,
        device_id=device.device_id,
        issuer=ISSUER,
        now=now,
        kind=Kind.RESPONSE,
    )
    if claims["jti"] in seen:
        raise PushError(ErrorCode.INVALID_TOKEN, "replayed jti")
    seen.add(claims["jti"])
    decision = lifecycle.judge_response(claims, value, challenge, device, expected, now)
    lifecycle.ensure_open(challenge, now)
    return lifecycle.apply(challenge, decision, now)


def attempt(
    value: str, challenge: Challenge, now: int, seen: set[str], expected: str | None
) -> Challenge | PushError:
    try:
        return respond(value, challenge, now, seen, expected)
    except PushError as exc:
        return exc


def cancel(challenge: Challenge, now: int) -> Challenge:
    """What the service does to cancel: refuse unless open, then apply."""
    lifecycle.ensure_open(challenge, now)
    return lifecycle.apply(challenge, Decision(Event.CANCEL), now)


def signed_by_active_device(issued: Issued) -> Device | None:
    phone = ACTORS[issued.actor]
    device = ACTIVE.get(phone.device_id)
    if device is None or device.public_key != jwk(phone.key)["x"]:
        return None
    return device


def token_is_valid(issued: Issued, now: int, seen: set[str]) -> bool:
    """The contract's token rules, written out from the claims that went in."""
    claims = issued.claims
    number, fraud = claims.get("number"), claims.get("fraud")
    return (
        signed_by_active_device(issued) is not None
        and abs(now - claims["iat"]) <= 60
        and claims["exp"] - claims["iat"] <= 300
        and now < claims["exp"]
        and claims["jti"] not in seen
        and claims["decision"] in ("approve", "deny")
        and (number is None or (isinstance(number, str) and number.isdigit()))
        and not (fraud is True and claims["decision"] != "deny")
    )


def expected_refusals(
    issued: Issued, challenge: Challenge, now: int, seen: set[str]
) -> set[ErrorCode]:
    if not token_is_valid(issued, now, seen):
        return {ErrorCode.INVALID_TOKEN}
    device = signed_by_active_device(issued)
    assert device is not None
    refusals = set()
    if device.user_id != challenge.user_id or not device.serves(challenge.app_id):
        refusals.add(ErrorCode.FORBIDDEN)
    if not challenge.pending or now >= challenge.expires_at:
        refusals.add(ErrorCode.CHALLENGE_NOT_PENDING)
    if issued.claims["cid"] != challenge.challenge_id or issued.claims["nonce"] != NONCE:
        refusals.add(ErrorCode.INVALID_REQUEST)
    return refusals


def expected_outcome(issued: Issued, challenge: Challenge, right: str) -> tuple[Status, Any]:
    claims = issued.claims
    if claims["decision"] == "deny":
        fraud = claims.get("fraud") is True
        return Status.DENIED, Reason.FRAUD_REPORTED if fraud else Reason.USER_DENIED
    if not challenge.number_matching or claims.get("number") == right:
        return Status.APPROVED, None
    return Status.DENIED, Reason.NUMBER_MISMATCH


def may_approve(issued: Issued, challenge: Challenge, right: str) -> bool:
    """The safety rule: only an active device of the user, scoped to the app, with the number."""
    device = signed_by_active_device(issued)
    return (
        device is not None
        and device.user_id == challenge.user_id
        and device.serves(challenge.app_id)
        and issued.claims["decision"] == "approve"
        and (not challenge.number_matching or issued.claims.get("number") == right)
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.booleans(), st.integers(10, 300), st.integers(2, 6))
def test_no_sequence_approves_without_a_valid_answer_and_terminal_states_never_change(
    sequence: list[Any], number_matching: bool, ttl: int, digits: int
) -> None:
    challenge = make_challenge(number_matching=number_matching, ttl=ttl)
    right = match_number(MATCH_KEY, CHALLENGE_ID, digits)
    expected_number = right if number_matching else None
    now, seen, issued_so_far = NOW, set(), []
    approved_by: Issued | None = None

    for serial, step in enumerate(sequence):
        before = challenge
        issued: Issued | None = None
        if isinstance(step, Answer):
            issued = issue(step, now, serial, right)
            issued_so_far.append(issued)
        elif step[0] == "replay" and issued_so_far:
            issued = issued_so_far[step[1] % len(issued_so_far)]
        elif step[0] == "tick":
            now += step[1]
            continue

        if issued is not None:
            refusals = expected_refusals(issued, before, now, seen)
            result = attempt(issued.token, before, now, seen, expected_number)
            if isinstance(result, PushError):
                assert refusals, f"a valid answer was refused: {result!r}"
                assert result.code in refusals
                if ErrorCode.FORBIDDEN in refusals:
                    assert result.code is not ErrorCode.CHALLENGE_NOT_PENDING
            else:
                challenge = result
                assert not refusals, f"accepted although {refusals}"
                assert (challenge.status, challenge.reason) == expected_outcome(
                    issued, before, right
                )
                assert challenge.device_id == ACTORS[issued.actor].device_id
                assert challenge.response_token == issued.token
                if challenge.status is Status.APPROVED:
                    assert may_approve(issued, before, right)
                    approved_by = issued
        elif step[0] == "garbage":
            with pytest.raises(PushError) as caught:
                respond(step[1], before, now, seen, expected_number)
            assert caught.value.code is ErrorCode.INVALID_TOKEN
        elif step[0] == "expire":
            if not before.pending:
                with pytest.raises(PushError) as caught:
                    lifecycle.apply(before, Decision(Event.EXPIRE), now)
                assert caught.value.code is ErrorCode.CHALLENGE_NOT_PENDING
            elif now >= before.expires_at:
                challenge = lifecycle.apply(before, Decision(Event.EXPIRE), now)
                assert challenge.status is Status.EXPIRED
        elif step[0] == "cancel":
            if before.pending and now < before.expires_at:
                challenge = cancel(before, now)
                assert challenge.status is Status.CANCELLED
            else:
                with pytest.raises(PushError) as caught:
                    cancel(before, now)
                assert caught.value.code is ErrorCode.CHALLENGE_NOT_PENDING

        if not before.pending:
            assert challenge == before, "a terminal challenge changed"

    event(f"ended {challenge.status.value}")
    if challenge.status is Status.APPROVED:
        assert approved_by is not None
        assert challenge.response_token == approved_by.token
