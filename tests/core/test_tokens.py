"""Tests of push_service.tokens: device tokens, proofs of possession and JWK parsing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from push_service import signatures, tokens
from push_service.errors import ErrorCode, PushError
from push_service.tokens import Kind
from tests.core.helpers import ISSUER, NOW, SMALL_ORDER, b64url, b64url_text, sign_raw
from tests.phone import Phone, forge, jwk, raw_public, sign

DEVICE_ID = "dev_alice_000000000001"
PHONE = Phone(device_id=DEVICE_ID, user_id="alice")
X = jwk(PHONE.key)["x"]
STRANGER = Phone(device_id=DEVICE_ID, user_id="alice")  # same id, another key
HEADER = {"alg": "EdDSA", "kid": DEVICE_ID}
RESPONSE = {"cid": "ch_1234567890", "nonce": "n" * 22, "decision": "approve", "number": "042"}
JTI = "jti-0123456789abcdef"


def good_claims(**extra: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": DEVICE_ID,
        "aud": ISSUER,
        "iat": NOW,
        "exp": NOW + 60,
        "jti": JTI,
    }
    claims.update(extra)
    return {k: v for k, v in claims.items() if v is not None}


def token(**extra: Any) -> str:
    """A token signed by PHONE with the good claims, changed by `extra` (None removes one)."""
    return sign_raw(PHONE.key, json.dumps(HEADER), json.dumps(good_claims(**extra)))


def verify(value: Any, *, kind: Kind = Kind.PLAIN, now: float = NOW, x: str = X) -> dict[str, Any]:
    unverified = tokens.peek(value)
    return tokens.verify_device_token(
        unverified, x, device_id=DEVICE_ID, issuer=ISSUER, now=now, kind=kind
    )


def refusal(value: Any, *, kind: Kind = Kind.PLAIN, now: float = NOW) -> ErrorCode:
    with pytest.raises(PushError) as caught:
        verify(value, kind=kind, now=now)
    return caught.value.code


def segments(value: str) -> list[str]:
    return value.split(".")


# Accepted device tokens


def test_a_plain_device_token_is_accepted_with_its_claims() -> None:
    assert verify(token()) == good_claims()


def test_a_stream_auth_token_with_a_nonce_is_accepted() -> None:
    assert verify(token(nonce="hello-nonce"), kind=Kind.STREAM_AUTH)["nonce"] == "hello-nonce"


def test_an_approving_response_token_is_accepted() -> None:
    claims = verify(token(**RESPONSE), kind=Kind.RESPONSE)
    assert {k: claims[k] for k in RESPONSE} == RESPONSE


def test_a_denying_response_token_reporting_fraud_is_accepted() -> None:
    value = token(**RESPONSE | {"decision": "deny", "fraud": True})
    assert verify(value, kind=Kind.RESPONSE)["fraud"] is True


@pytest.mark.parametrize(
    "extra",
    [{"number": None}, {"decision": "deny", "number": None}, {"fraud": False}],
    ids=["approve-without-number", "deny-without-number", "approve-with-fraud-false"],
)
def test_response_tokens_with_optional_claims_left_out_are_accepted(extra: dict[str, Any]) -> None:
    assert verify(token(**RESPONSE | extra), kind=Kind.RESPONSE)["cid"] == RESPONSE["cid"]


def test_a_token_made_by_the_phone_helper_is_accepted() -> None:
    value = PHONE.token(iat=NOW, exp=NOW + 300)
    assert verify(value)["iss"] == DEVICE_ID


def test_peek_reads_kid_and_claims_without_a_key() -> None:
    unverified = tokens.peek(token())
    assert unverified.kid == DEVICE_ID
    assert unverified.claims == good_claims()


@pytest.mark.parametrize("header", [{"alg": "EdDSA"}, {"alg": "EdDSA", "kid": 7}])
def test_peek_gives_an_empty_kid_when_it_is_missing_or_not_a_string(header: dict[str, Any]) -> None:
    assert tokens.peek(forge(header, good_claims())).kid == ""


@pytest.mark.parametrize(
    ("iat", "exp", "now"),
    [
        (NOW - 60, NOW + 10, NOW),
        (NOW + 60, NOW + 120, NOW),
        (NOW, NOW + 300, NOW),
        (NOW, NOW + 60, NOW + 59),
        (NOW, NOW + 60, NOW + 59.999),
    ],
    ids=["iat-60s-ago", "iat-60s-ahead", "lifetime-300s", "1s-before-exp", "just-before-exp"],
)
def test_times_at_the_edges_of_the_rules_are_accepted(iat: int, exp: int, now: float) -> None:
    assert verify(token(iat=iat, exp=exp), now=now)["exp"] == exp


@pytest.mark.parametrize("length", [16, 128])
def test_a_jti_of_16_or_128_characters_is_accepted(length: int) -> None:
    assert len(verify(token(jti="j" * length))["jti"]) == length


# Refused: algorithm and header


def test_an_unsigned_alg_none_token_is_refused() -> None:
    value = forge({"alg": "none", "kid": DEVICE_ID}, good_claims(), signature=b"")
    assert refusal(value) is ErrorCode.INVALID_TOKEN


def test_an_alg_none_header_over_a_real_signature_is_refused() -> None:
    real = segments(token())
    value = ".".join([b64url_text(json.dumps({"alg": "none", "kid": DEVICE_ID})), *real[1:]])
    assert refusal(value) is ErrorCode.INVALID_TOKEN


def test_hs256_signed_with_the_public_key_bytes_is_refused() -> None:
    secret = raw_public(PHONE.key)
    value = jwt.encode(good_claims(), secret, algorithm="HS256", headers={"kid": DEVICE_ID})
    assert jwt.get_unverified_header(value)["alg"] == "HS256"
    assert refusal(value) is ErrorCode.INVALID_TOKEN


def test_an_hmac_signature_under_an_eddsa_header_is_refused() -> None:
    signing_input = f"{b64url_text(json.dumps(HEADER))}.{b64url_text(json.dumps(good_claims()))}"
    mac = hmac.new(raw_public(PHONE.key), signing_input.encode(), hashlib.sha256).digest()
    assert refusal(f"{signing_input}.{b64url(mac)}") is ErrorCode.INVALID_TOKEN


def test_an_rs256_token_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    value = jwt.encode(good_claims(), key, algorithm="RS256", headers={"kid": DEVICE_ID})
    assert refusal(value) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize(
    "alg", ["eddsa", "EDDSA", "Ed25519", "ES256", "HS256", "", None, ["EdDSA"], 1]
)
def test_any_alg_other_than_eddsa_is_refused_even_with_a_valid_signature(alg: Any) -> None:
    header = json.dumps({"alg": alg, "kid": DEVICE_ID})
    assert refusal(sign_raw(PHONE.key, header, json.dumps(good_claims()))) is (
        ErrorCode.INVALID_TOKEN
    )


def test_a_header_without_alg_is_refused() -> None:
    value = sign_raw(PHONE.key, json.dumps({"kid": DEVICE_ID}), json.dumps(good_claims()))
    assert refusal(value) is ErrorCode.INVALID_TOKEN


def test_a_crit_header_is_refused() -> None:
    header = json.dumps(HEADER | {"crit": ["exp"]})
    assert refusal(sign_raw(PHONE.key, header, json.dumps(good_claims()))) is (
        ErrorCode.INVALID_TOKEN
    )


def test_an_unencoded_payload_header_is_refused() -> None:
    header = json.dumps(HEADER | {"b64": False, "crit": ["b64"]})
    assert refusal(sign_raw(PHONE.key, header, json.dumps(good_claims()))) is (
        ErrorCode.INVALID_TOKEN
    )


# Refused: claims


@pytest.mark.parametrize(
    "aud",
    ["other-issuer", "PUSH-APPROVAL", [ISSUER], {"aud": ISSUER}, 1, None],
    ids=["other", "case", "list", "object", "number", "missing"],
)
def test_an_aud_that_is_not_the_issuer_string_is_refused(aud: Any) -> None:
    assert refusal(token(aud=aud)) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize("iss", ["dev_other", DEVICE_ID.upper(), "", [DEVICE_ID], None], ids=repr)
def test_an_iss_that_is_not_the_device_id_is_refused(iss: Any) -> None:
    assert refusal(token(iss=iss)) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize(
    "iat",
    [True, False, float(NOW), NOW + 0.5, str(NOW), [NOW], None],
    ids=["true", "false", "float", "fraction", "string", "list", "missing"],
)
def test_an_iat_that_is_not_an_integer_is_refused(iat: Any) -> None:
    assert refusal(token(iat=iat)) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize(
    "exp",
    [True, float(NOW + 60), str(NOW + 60), None],
    ids=["true", "float", "string", "missing"],
)
def test_an_exp_that_is_not_an_integer_is_refused(exp: Any) -> None:
    assert refusal(token(exp=exp)) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize(
    "offset", [-61, 61, -299, 3600], ids=["61s-ago", "61s-ahead", "299s-ago", "1h-ahead"]
)
def test_an_iat_more_than_60s_from_now_is_refused(offset: int) -> None:
    # exp = iat + 300 keeps every other rule satisfied, so only the skew can refuse.
    assert refusal(token(iat=NOW + offset, exp=NOW + offset + 300)) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize("exp", [NOW, NOW - 1], ids=["equal", "before"])
def test_an_exp_not_after_iat_is_refused(exp: int) -> None:
    assert refusal(token(exp=exp), now=NOW - 10) is ErrorCode.INVALID_TOKEN


def test_a_lifetime_over_300s_is_refused() -> None:
    assert refusal(token(exp=NOW + 301)) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize("now", [NOW + 30, NOW + 30.5], ids=["at-exp", "after-exp"])
def test_an_expired_token_is_refused(now: float) -> None:
    assert refusal(token(iat=NOW, exp=NOW + 30), now=now) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize(
    "jti", [None, "j" * 15, "", "j" * 129, 1234567890123456789, ["j" * 16]], ids=repr
)
def test_a_missing_short_long_or_mistyped_jti_is_refused(jti: Any) -> None:
    assert refusal(token(jti=jti)) is ErrorCode.INVALID_TOKEN


# Refused: signature and encoding


def test_a_token_signed_by_another_key_is_refused() -> None:
    value = sign(STRANGER.key, good_claims(), kid=DEVICE_ID)
    assert refusal(value) is ErrorCode.INVALID_TOKEN


def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = segments(token(**RESPONSE | {"decision": "deny"}))
    payload = b64url_text(json.dumps(good_claims(**RESPONSE)))
    assert refusal(f"{header}.{payload}.{signature}", kind=Kind.RESPONSE) is (
        ErrorCode.INVALID_TOKEN
    )


def test_a_tampered_header_is_refused() -> None:
    _, payload, signature = segments(token())
    header = b64url_text(json.dumps(HEADER | {"typ": "JWT"}))
    assert refusal(f"{header}.{payload}.{signature}") is ErrorCode.INVALID_TOKEN


def test_a_flipped_signature_bit_is_refused() -> None:
    header, payload, signature = segments(token())
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 1
    assert refusal(f"{header}.{payload}.{b64url(bytes(raw))}") is ErrorCode.INVALID_TOKEN


def test_raw_signing_helper_makes_tokens_that_are_accepted() -> None:
    value = sign_raw(PHONE.key, json.dumps(HEADER), json.dumps(good_claims()))
    assert verify(value) == good_claims()


@pytest.mark.parametrize(
    "header",
    [
        f'{{"alg": "EdDSA", "kid": "{DEVICE_ID}", "kid": "{DEVICE_ID}"}}',
        f'{{"alg": "none", "alg": "EdDSA", "kid": "{DEVICE_ID}"}}',
    ],
    ids=["kid-twice", "alg-twice"],
)
def test_duplicate_member_names_in_the_header_are_refused(header: str) -> None:
    value = sign_raw(PHONE.key, header, json.dumps(good_claims()))
    assert refusal(value) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize(
    "duplicate",
    ['"aud": "elsewhere"', '"decision": "deny"', '"jti": "jti-fedcba9876543210"'],
    ids=["aud", "decision", "jti"],
)
def test_duplicate_member_names_in_the_payload_are_refused(duplicate: str) -> None:
    body = json.dumps(good_claims(**RESPONSE))
    payload = body[:-1] + ", " + duplicate + "}"
    value = sign_raw(PHONE.key, json.dumps(HEADER), payload)
    assert refusal(value, kind=Kind.RESPONSE) is ErrorCode.INVALID_TOKEN


def with_spare_bits() -> str:
    """A valid token whose header and payload segments each end with unused bits."""
    header, payload = json.dumps(HEADER), json.dumps(good_claims())
    header += " " * ((1 - len(header)) % 3)
    payload += " " * ((1 - len(payload)) % 3)
    return sign_raw(PHONE.key, header, payload)


def non_canonical(segment: str) -> str:
    """The same bytes as `segment`, with the unused low bits of the last character set."""
    assert len(segment) % 4 in (2, 3)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare = 0b1111 if len(segment) % 4 == 2 else 0b11
    last = alphabet[alphabet.index(segment[-1]) | spare]
    result = segment[:-1] + last
    assert result != segment
    assert base64.urlsafe_b64decode(result + "==") == base64.urlsafe_b64decode(segment + "==")
    return result


def test_the_spare_bits_token_is_accepted_as_made() -> None:
    assert verify(with_spare_bits()) == good_claims()


@pytest.mark.parametrize("index", [0, 1, 2], ids=["header", "payload", "signature"])
@pytest.mark.parametrize(
    "mutation",
    [
        lambda s: s + "==",
        lambda s: s + "=",
        lambda s: s[:4] + "+" + s[4:],
        lambda s: s[:4] + "/" + s[4:],
        lambda s: s[:4] + "!" + s[4:],
        lambda s: s[:4] + " " + s[4:],
        lambda s: s[:4] + "\u00e9" + s[4:],
        lambda s: s + "A",
        non_canonical,
    ],
    ids=[
        "padding",
        "one-pad",
        "plus",
        "slash",
        "bang",
        "space",
        "non-ascii",
        "bad-length",
        "non-canonical",
    ],
)
def test_a_segment_that_is_not_strict_base64url_is_refused(index: int, mutation: Any) -> None:
    parts = segments(with_spare_bits())
    parts[index] = mutation(parts[index])
    assert refusal(".".join(parts)) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize("count", [1, 2, 4, 5])
def test_a_token_without_exactly_three_segments_is_refused(count: int) -> None:
    parts = segments(token())
    value = ".".join((parts * 2)[:count])
    assert refusal(value) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize(
    "value",
    [None, 123, token().encode(), [token()], {"token": token()}, ""],
    ids=["none", "int", "bytes", "list", "dict", "empty"],
)
def test_a_token_that_is_not_a_non_empty_string_is_refused(value: Any) -> None:
    assert refusal(value) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize("value", ["..", "a.b.c", "e30.e30.", ".e30.e30"])
def test_a_token_with_empty_or_garbage_segments_is_refused(value: str) -> None:
    assert refusal(value) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize("payload", ["[]", '"text"', "1", "null"])
def test_a_payload_that_is_not_an_object_is_refused(payload: str) -> None:
    assert refusal(sign_raw(PHONE.key, json.dumps(HEADER), payload)) is ErrorCode.INVALID_TOKEN


def token_of_length(length: int) -> str:
    """A valid token of exactly `length` characters, padded with a claim and whitespace."""
    header, base = json.dumps(HEADER), good_claims(pad="")
    fixed = len(b64url_text(header)) + 2 + 86
    for spaces in range(3):
        for pad in range(length):
            payload = json.dumps(base | {"pad": "p" * pad}) + " " * spaces
            if fixed + len(b64url_text(payload)) == length:
                return sign_raw(PHONE.key, header, payload)
            if fixed + len(b64url_text(payload)) > length:
                break
    raise AssertionError(f"no token of length {length}")


def test_a_token_of_exactly_the_size_limit_is_accepted() -> None:
    value = token_of_length(tokens.MAX_TOKEN_BYTES)
    assert len(value) == tokens.MAX_TOKEN_BYTES
    assert verify(value)["iss"] == DEVICE_ID


def test_an_oversized_token_is_refused() -> None:
    value = token_of_length(tokens.MAX_TOKEN_BYTES + 1)
    assert refusal(value) is ErrorCode.INVALID_TOKEN


# Refused: extra claims by kind


@pytest.mark.parametrize("nonce", [None, "", 123, ["n"]], ids=repr)
def test_a_stream_auth_token_without_a_nonce_string_is_refused(nonce: Any) -> None:
    assert refusal(token(nonce=nonce), kind=Kind.STREAM_AUTH) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize("name", ["cid", "nonce", "decision"])
@pytest.mark.parametrize("value", [None, "", 7, True], ids=repr)
def test_a_response_token_without_a_required_string_claim_is_refused(name: str, value: Any) -> None:
    value_token = token(**RESPONSE | {name: value})
    assert refusal(value_token, kind=Kind.RESPONSE) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize("decision", ["maybe", "APPROVE", "Deny", "approved", " approve"])
def test_a_response_decision_other_than_approve_or_deny_is_refused(decision: str) -> None:
    value = token(**RESPONSE | {"decision": decision})
    assert refusal(value, kind=Kind.RESPONSE) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize(
    "number",
    [123, 42.0, True, "", "12a", "-12", "12 3", " 123", "1" * 13, ["123"]],
    ids=repr,
)
def test_a_response_number_that_is_not_a_digit_string_is_refused(number: Any) -> None:
    value = token(**RESPONSE | {"number": number})
    assert refusal(value, kind=Kind.RESPONSE) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize(
    "number",
    ["\u00b2\u00b3\u2074", "\u0661\u0662\u0663", "\uff11\uff12\uff13"],
    ids=["superscript", "arabic-indic", "fullwidth"],
)
def test_a_response_number_of_non_ascii_digits_is_refused(number: str) -> None:
    # The match number the app shows is ASCII digits; a "digit" in another script never matches
    # it and is a mistyped claim.
    value = token(**RESPONSE | {"number": number})
    assert refusal(value, kind=Kind.RESPONSE) is ErrorCode.INVALID_TOKEN


def test_fraud_true_with_approve_is_refused() -> None:
    value = token(**RESPONSE | {"fraud": True})
    assert refusal(value, kind=Kind.RESPONSE) is ErrorCode.INVALID_TOKEN


@pytest.mark.parametrize("fraud", ["true", 1, "yes", [True]], ids=repr)
def test_fraud_that_is_not_a_boolean_is_refused(fraud: Any) -> None:
    value = token(**RESPONSE | {"decision": "deny", "fraud": fraud})
    assert refusal(value, kind=Kind.RESPONSE) is ErrorCode.INVALID_TOKEN


def test_a_plain_token_is_not_enough_where_a_response_is_expected() -> None:
    assert refusal(token(), kind=Kind.RESPONSE) is ErrorCode.INVALID_TOKEN


# Proofs of possession

CODE = "enrollment-code-0123456789"


def proof(key: Ed25519PrivateKey = PHONE.key, **claims: Any) -> str:
    body: dict[str, Any] = {"code": CODE, "iat": NOW}
    body.update(claims)
    return sign(key, {k: v for k, v in body.items() if v is not None})


def proof_refusal(value: Any, *, expected: dict[str, str] | None = None) -> ErrorCode:
    with pytest.raises(PushError) as caught:
        tokens.verify_proof(value, X, claims=expected or {"code": CODE}, now=NOW)
    return caught.value.code


@pytest.mark.parametrize("iat", [NOW, NOW - 60, NOW + 60])
def test_a_fresh_enrollment_proof_is_accepted(iat: int) -> None:
    assert tokens.verify_proof(proof(iat=iat), X, claims={"code": CODE}, now=NOW) is None


def test_the_phone_helper_proof_is_accepted() -> None:
    assert (
        tokens.verify_proof(PHONE.proof(CODE, iat=NOW), X, claims={"code": CODE}, now=NOW) is None
    )


def test_a_key_rotation_proof_is_accepted() -> None:
    value = proof(code=None, device_id=DEVICE_ID)
    assert tokens.verify_proof(value, X, claims={"device_id": DEVICE_ID}, now=NOW) is None


@pytest.mark.parametrize("code", ["wrong-code", CODE + "x", CODE[:-1], CODE.upper(), ""])
def test_a_proof_over_a_different_code_is_refused(code: str) -> None:
    assert proof_refusal(proof(code=code)) is ErrorCode.INVALID_PROOF


@pytest.mark.parametrize("code", [None, 1234, [CODE]], ids=repr)
def test_a_proof_without_the_code_as_a_string_is_refused(code: Any) -> None:
    assert proof_refusal(proof(code=code)) is ErrorCode.INVALID_PROOF


@pytest.mark.parametrize("iat", [NOW - 61, NOW + 61, NOW - 86400], ids=["stale", "future", "old"])
def test_a_proof_with_an_iat_too_far_from_now_is_refused(iat: int) -> None:
    assert proof_refusal(proof(iat=iat)) is ErrorCode.INVALID_PROOF


@pytest.mark.parametrize("iat", [None, True, float(NOW), str(NOW)], ids=repr)
def test_a_proof_without_an_integer_iat_is_refused(iat: Any) -> None:
    assert proof_refusal(proof(iat=iat)) is ErrorCode.INVALID_PROOF


@pytest.mark.parametrize(
    "extra",
    [{"exp": NOW + 60}, {"aud": ISSUER}, {"device_id": DEVICE_ID}, {"d": "secret"}],
    ids=["exp", "aud", "device_id", "d"],
)
def test_a_proof_with_extra_claims_is_refused(extra: dict[str, Any]) -> None:
    assert proof_refusal(proof(**extra)) is ErrorCode.INVALID_PROOF


def test_a_rotation_proof_is_not_an_enrollment_proof() -> None:
    value = proof(code=None, device_id=DEVICE_ID)
    assert proof_refusal(value) is ErrorCode.INVALID_PROOF


def test_a_proof_signed_by_a_different_key_is_refused() -> None:
    assert proof_refusal(proof(key=STRANGER.key)) is ErrorCode.INVALID_PROOF


@pytest.mark.parametrize(
    "value",
    [
        None,
        42,
        "",
        "not-a-jws",
        forge({"alg": "none"}, {"code": CODE, "iat": NOW}, signature=b""),
        jwt.encode({"code": CODE, "iat": NOW}, raw_public(PHONE.key), algorithm="HS256"),
    ],
    ids=["none", "int", "empty", "garbage", "alg-none", "hs256"],
)
def test_a_proof_that_is_not_an_eddsa_jws_is_refused(value: Any) -> None:
    assert proof_refusal(value) is ErrorCode.INVALID_PROOF


def test_a_proof_with_a_padded_signature_segment_is_refused() -> None:
    assert proof_refusal(proof() + "==") is ErrorCode.INVALID_PROOF


def test_a_proof_with_a_duplicated_code_is_refused() -> None:
    payload = f'{{"code": "wrong-code", "code": "{CODE}", "iat": {NOW}}}'
    value = sign_raw(PHONE.key, '{"alg": "EdDSA"}', payload)
    assert proof_refusal(value) is ErrorCode.INVALID_PROOF


# Public JWKs


def test_a_proper_jwk_is_accepted_and_its_x_returned() -> None:
    assert tokens.parse_jwk(PHONE.jwk) == X


def test_a_jwk_with_optional_public_members_is_accepted() -> None:
    assert tokens.parse_jwk(PHONE.jwk | {"kid": "k1", "use": "sig", "alg": "EdDSA"}) == X


def test_the_accepted_x_verifies_the_phones_signatures() -> None:
    x = tokens.parse_jwk(PHONE.jwk)
    assert signatures.verify(x, PHONE.key.sign(b"message"), b"message")


def jwk_refusal(value: Any) -> ErrorCode:
    with pytest.raises(PushError) as caught:
        tokens.parse_jwk(value)
    return caught.value.code


def test_a_jwk_with_the_private_d_is_refused() -> None:
    private = PHONE.key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    assert jwk_refusal(PHONE.jwk | {"d": b64url(private)}) is ErrorCode.INVALID_KEY


@pytest.mark.parametrize(
    "change",
    [
        {"kty": "EC"},
        {"kty": "oct"},
        {"kty": "okp"},
        {"crv": "X25519"},
        {"crv": "Ed448"},
        {"crv": "P-256"},
    ],
    ids=lambda c: f"{next(iter(c))}={next(iter(c.values()))}",
)
def test_a_jwk_of_the_wrong_kty_or_crv_is_refused(change: dict[str, str]) -> None:
    assert jwk_refusal(PHONE.jwk | change) is ErrorCode.INVALID_KEY


@pytest.mark.parametrize("name", ["kty", "crv", "x"])
def test_a_jwk_missing_a_member_is_refused(name: str) -> None:
    value = {k: v for k, v in PHONE.jwk.items() if k != name}
    assert jwk_refusal(value) is ErrorCode.INVALID_KEY


@pytest.mark.parametrize("length", [31, 33, 0, 64])
def test_a_jwk_x_of_the_wrong_length_is_refused(length: int) -> None:
    raw = (raw_public(PHONE.key) * 2)[:length]
    assert jwk_refusal(PHONE.jwk | {"x": b64url(raw)}) is ErrorCode.INVALID_KEY


def jwk_x_with(char_from: str, char_to: str) -> str:
    """x of a fresh key whose base64url holds `char_from`, with it replaced by `char_to`."""
    while True:
        x = jwk(Ed25519PrivateKey.generate())["x"]
        if char_from in x:
            return x.replace(char_from, char_to)


@pytest.mark.parametrize(
    "x",
    [
        X + "=",
        X + "==",
        jwk_x_with("-", "+"),
        jwk_x_with("_", "/"),
        X[:10] + " " + X[10:],
        non_canonical(X),
        base64.b16encode(raw_public(PHONE.key)).decode(),
    ],
    ids=["padded", "double-padded", "plus", "slash", "space", "non-canonical", "hex"],
)
def test_a_jwk_x_that_is_not_strict_base64url_is_refused(x: str) -> None:
    assert jwk_refusal(PHONE.jwk | {"x": x}) is ErrorCode.INVALID_KEY


@pytest.mark.parametrize("x", [None, 42, [X], {"x": X}], ids=repr)
def test_a_jwk_x_that_is_not_a_string_is_refused(x: Any) -> None:
    assert jwk_refusal(PHONE.jwk | {"x": x}) is ErrorCode.INVALID_KEY


@pytest.mark.parametrize("encoded", SMALL_ORDER.values(), ids=SMALL_ORDER.keys())
def test_a_jwk_with_a_small_order_x_is_refused(encoded: str) -> None:
    assert jwk_refusal(PHONE.jwk | {"x": b64url(bytes.fromhex(encoded))}) is ErrorCode.INVALID_KEY


@pytest.mark.parametrize("value", [X, [PHONE.jwk], None, json.dumps(PHONE.jwk)], ids=repr)
def test_a_jwk_that_is_not_an_object_is_refused(value: Any) -> None:
    assert jwk_refusal(value) is ErrorCode.INVALID_KEY


# Properties

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
headers = st.one_of(
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    st.fixed_dictionaries(
        {"alg": st.sampled_from(["EdDSA", "none", "HS256", "ES256"])},
        optional={"kid": st.one_of(st.just(DEVICE_ID), json_values), "crit": json_values},
    ),
)
payloads = st.one_of(
    st.text(max_size=200),
    json_values,
    st.fixed_dictionaries(
        {
            "iss": st.just(DEVICE_ID),
            "aud": st.just(ISSUER),
            "iat": st.integers(NOW - 70, NOW + 70),
            "exp": st.integers(NOW - 10, NOW + 400),
            "jti": st.just(JTI),
        },
        optional={k: json_values for k in ("cid", "nonce", "decision", "number", "fraud")},
    ),
)
kinds = st.sampled_from(list(Kind))
quick = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@quick
@given(st.one_of(st.text(), st.text(alphabet="AZaz09-_.=+/ "), json_values), kinds)
def test_arbitrary_input_is_refused_with_invalid_token_only(value: Any, kind: Kind) -> None:
    assert refusal(value, kind=kind) is ErrorCode.INVALID_TOKEN


@quick
@given(headers, payloads, st.binary(max_size=80), kinds)
def test_forged_tokens_are_refused_with_invalid_token_only(
    header: dict[str, Any], payload: Any, signature: bytes, kind: Kind
) -> None:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    assert refusal(forge(header, text, signature), kind=kind) is ErrorCode.INVALID_TOKEN


MISSING = object()


def maybe(good: Any, *bad: Any) -> st.SearchStrategy[Any]:
    """Mostly `good`; otherwise one of `bad` or the claim left out."""
    wrong = st.sampled_from([*bad, MISSING])
    return st.sampled_from([True] * 9 + [False]).flatmap(lambda ok: st.just(good) if ok else wrong)


@st.composite
def near_valid_claims(draw: st.DrawFn) -> dict[str, Any]:
    iat = draw(maybe(draw(st.integers(NOW - 65, NOW + 65)), True, float(NOW)))
    base = iat if isinstance(iat, int) and not isinstance(iat, bool) else NOW
    claims = {
        "iss": draw(maybe(DEVICE_ID, "dev_other", "")),
        "aud": draw(maybe(ISSUER, [ISSUER], "other")),
        "iat": iat,
        "exp": draw(maybe(draw(st.integers(base - 2, base + 305)), str(base + 60), True)),
        "jti": draw(maybe(JTI, "short", "j" * 129, 12345678901234567)),
        "cid": draw(maybe("ch_1", "", 5)),
        "nonce": draw(maybe("n" * 22, "", None)),
        "decision": draw(maybe("approve", "deny", "maybe", True)),
        "number": draw(maybe("042", "", "4x2", 42, "1" * 13)),
        "fraud": draw(maybe(False, True, "true", 1)),
    }
    return {k: v for k, v in claims.items() if v is not MISSING}


def contract_allows(claims: dict[str, Any], kind: Kind, now: int) -> bool:
    """The contract's rules for a device token, written out independently of the code."""

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    def is_text(v: Any) -> bool:
        return isinstance(v, str) and v != ""

    iat, exp = claims.get("iat"), claims.get("exp")
    if not (is_int(iat) and is_int(exp)):
        return False
    base = (
        claims.get("iss") == DEVICE_ID
        and claims.get("aud") == ISSUER
        and abs(now - iat) <= 60
        and iat < exp <= iat + 300
        and now < exp
        and isinstance(claims.get("jti"), str)
        and 16 <= len(claims["jti"]) <= 128
    )
    # Claims of another purpose are refused, so an answer cannot be reused as another token.
    purpose = {"cid", "decision", "nonce", "number", "fraud"}
    own = {Kind.PLAIN: set(), Kind.STREAM_AUTH: {"nonce"}, Kind.RESPONSE: purpose}[kind]
    if not base or (purpose & claims.keys()) - own:
        return False
    if kind is Kind.PLAIN:
        return True
    if not is_text(claims.get("nonce")):
        return False
    if kind is Kind.STREAM_AUTH:
        return True
    decision, number, fraud = claims.get("decision"), claims.get("number"), claims.get("fraud")
    return (
        is_text(claims.get("cid"))
        and decision in ("approve", "deny")
        and (
            "number" not in claims
            or (
                isinstance(number, str)
                and number.isascii()
                and number.isdigit()
                and len(number) <= 12
            )
        )
        and ("fraud" not in claims or isinstance(fraud, bool))
        and not (fraud is True and decision != "deny")
    )


@quick
@given(near_valid_claims(), kinds, st.integers(-5, 5))
def test_a_token_signed_by_the_device_key_is_accepted_exactly_when_the_contract_allows(
    claims: dict[str, Any], kind: Kind, drift: int
) -> None:
    now = NOW + drift
    value = sign_raw(PHONE.key, json.dumps(HEADER), json.dumps(claims))
    allowed = contract_allows(claims, kind, now)
    event(f"{kind.name} {'allowed' if allowed else 'refused'}")
    if allowed:
        assert verify(value, kind=kind, now=now) == claims
    else:
        assert refusal(value, kind=kind, now=now) is ErrorCode.INVALID_TOKEN


@quick
@given(near_valid_claims(), kinds)
def test_a_token_signed_by_any_other_key_is_never_accepted(
    claims: dict[str, Any], kind: Kind
) -> None:
    for key in (STRANGER.key, Ed25519PrivateKey.generate()):
        value = sign_raw(key, json.dumps(HEADER), json.dumps(claims))
        assert refusal(value, kind=kind) is ErrorCode.INVALID_TOKEN
