"""Device tokens and proofs carry exactly the contract's claims, with the contract's types."""

from __future__ import annotations

import base64
import time
from typing import Any

import jwt
import pytest

from client_sdk import (
    DeviceKey,
    device_token,
    enrollment_proof,
    response_token,
    rotation_proof,
    stream_auth_token,
)

ISSUER = "push-approval"
DEVICE = "dev_123"


def _verify(token: str, key: DeviceKey, **options: Any) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token, key.public_key, algorithms=["EdDSA"], audience=ISSUER, **options
    )
    return claims


@pytest.fixture
def key() -> DeviceKey:
    return DeviceKey.generate()


def test_device_token_has_exactly_iss_aud_iat_exp_jti_with_contract_types(key: DeviceKey) -> None:
    before = int(time.time())
    token = device_token(key, DEVICE, ISSUER)
    claims = _verify(token, key)
    assert set(claims) == {"iss", "aud", "iat", "exp", "jti"}
    assert claims["iss"] == DEVICE
    assert claims["aud"] == ISSUER
    assert isinstance(claims["aud"], str)
    assert type(claims["iat"]) is int
    assert type(claims["exp"]) is int
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 60


def test_device_token_header_is_eddsa_with_the_device_id_as_kid(key: DeviceKey) -> None:
    header = jwt.get_unverified_header(device_token(key, DEVICE, ISSUER))
    assert header == {"alg": "EdDSA", "kid": DEVICE}


def test_jti_carries_at_least_128_random_bits_and_is_fresh_each_time(key: DeviceKey) -> None:
    jtis = {_verify(device_token(key, DEVICE, ISSUER), key)["jti"] for _ in range(50)}
    assert len(jtis) == 50
    for jti in jtis:
        assert len(base64.urlsafe_b64decode(jti + "=" * (-len(jti) % 4))) >= 16


def test_token_uses_the_given_time_for_iat(key: DeviceKey) -> None:
    claims = _verify(device_token(key, DEVICE, ISSUER, now=time.time() - 10.7), key)
    assert claims["iat"] == int(time.time() - 10.7)


def test_extra_claims_cannot_override_the_standard_ones(key: DeviceKey) -> None:
    with pytest.raises(ValueError, match="aud"):
        device_token(key, DEVICE, ISSUER, extra={"aud": "elsewhere"})


def test_stream_auth_token_adds_only_the_hello_nonce(key: DeviceKey) -> None:
    claims = _verify(stream_auth_token(key, DEVICE, ISSUER, "n0nce"), key)
    assert set(claims) == {"iss", "aud", "iat", "exp", "jti", "nonce"}
    assert claims["nonce"] == "n0nce"


def test_approve_response_token_carries_cid_nonce_decision_and_number_string(
    key: DeviceKey,
) -> None:
    token = response_token(
        key, DEVICE, ISSUER, challenge_id="ch_1", nonce="cn", decision="approve", number="042"
    )
    claims = _verify(token, key)
    assert set(claims) == {"iss", "aud", "iat", "exp", "jti", "cid", "nonce", "decision", "number"}
    assert (claims["cid"], claims["nonce"], claims["decision"]) == ("ch_1", "cn", "approve")
    assert claims["number"] == "042"


def test_response_token_leaves_number_and_fraud_out_unless_given(key: DeviceKey) -> None:
    token = response_token(key, DEVICE, ISSUER, challenge_id="c", nonce="n", decision="deny")
    claims = _verify(token, key)
    assert "number" not in claims
    assert "fraud" not in claims
    assert claims["decision"] == "deny"


def test_fraud_report_is_a_deny_with_fraud_true(key: DeviceKey) -> None:
    token = response_token(
        key, DEVICE, ISSUER, challenge_id="c", nonce="n", decision="deny", fraud=True
    )
    claims = _verify(token, key)
    assert claims["decision"] == "deny"
    assert claims["fraud"] is True


def test_fraud_with_approve_is_refused(key: DeviceKey) -> None:
    with pytest.raises(ValueError, match="fraud"):
        response_token(
            key, DEVICE, ISSUER, challenge_id="c", nonce="n", decision="approve", fraud=True
        )


@pytest.mark.parametrize("number", ["12a", "", " 12", "١٢٣", "-1"])
def test_match_number_must_be_ascii_digits(key: DeviceKey, number: str) -> None:
    with pytest.raises(ValueError, match="digits"):
        response_token(
            key, DEVICE, ISSUER, challenge_id="c", nonce="n", decision="approve", number=number
        )


def test_unknown_decision_is_refused(key: DeviceKey) -> None:
    with pytest.raises(ValueError, match="decision"):
        response_token(key, DEVICE, ISSUER, challenge_id="c", nonce="n", decision="maybe")  # type: ignore[arg-type]


def test_enrollment_proof_has_exactly_code_and_integer_iat(key: DeviceKey) -> None:
    proof = enrollment_proof(key, "the-code")
    claims = jwt.decode(proof, key.public_key, algorithms=["EdDSA"])
    assert set(claims) == {"code", "iat"}
    assert claims["code"] == "the-code"
    assert type(claims["iat"]) is int
    assert jwt.get_unverified_header(proof)["alg"] == "EdDSA"


def test_rotation_proof_is_signed_by_the_new_key_over_device_id_and_iat(key: DeviceKey) -> None:
    new_key = DeviceKey.generate()
    proof = rotation_proof(new_key, DEVICE)
    claims = jwt.decode(proof, new_key.public_key, algorithms=["EdDSA"])
    assert set(claims) == {"device_id", "iat"}
    assert claims["device_id"] == DEVICE
    assert type(claims["iat"]) is int
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(proof, key.public_key, algorithms=["EdDSA"])
