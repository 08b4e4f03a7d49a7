"""Each request body's JSON Schema in /openapi.json accepts exactly what its parser accepts.

Bodies are generated near the rules (lengths at their bounds, control and bidi characters, wrong
types, null, unknown members) and given both to the schema and to the parser in requests.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from push_service import tokens
from push_service.errors import ErrorCode, PushError
from push_service.ids import b64url_decode
from push_service.openapi import document
from push_service.requests import (
    NewChallenge,
    NewDevice,
    NewEnrollment,
    NewKey,
    parse_name,
    parse_token,
)
from tests.conftest import make_settings
from tests.phone import jwk, sign

DESCRIPTION = document(make_settings())
EXAMPLES = settings(max_examples=200, deadline=None)


def validator(name: str) -> Any:
    root = {"$ref": f"#/components/schemas/{name}", "components": DESCRIPTION["components"]}
    return jsonschema_rs.Draft202012Validator(root)


def accepts(parse: Callable[[Any], object], body: Any) -> bool:
    try:
        parse(body)
    except PushError:
        return False
    return True


# Values near the rules. Surrogates are left out: the JSON parser refuses them before any rule.
CHARS = st.characters(exclude_categories=("Cs",))
PLAIN = st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\u200e\u200f\u202e")
ODD = st.sampled_from(["", " ", "\x00", "\x1f", "\x7f", "\x85", "\u200e", "\u202e", "\u2069", "é"])
OTHER_TYPES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@dataclass(frozen=True)
class Member:
    """Values a member usually has (`good`), and values at and past its rules (`near`)."""

    good: st.SearchStrategy[Any]
    near: st.SearchStrategy[Any]


def text(max_len: int) -> Member:
    good = st.one_of(st.text(PLAIN, min_size=1, max_size=8), st.just("y" * max_len))
    at_bounds = st.integers(max_len - 1, max_len + 1).map(lambda n: "x" * n)
    odd = st.one_of(ODD, st.tuples(ODD, ODD).map("a{0[0]}{0[1]}b".format))
    return Member(good, st.one_of(st.text(CHARS, max_size=8), at_bounds, odd, OTHER_TYPES))


def choice(good: st.SearchStrategy[Any], near: st.SearchStrategy[Any]) -> Member:
    return Member(good, st.one_of(near, near, OTHER_TYPES))


@st.composite
def bodies(draw: st.DrawFn, members: dict[str, Member], required: set[str]) -> Any:
    """A valid-looking object with at most one thing wrong: a member near or past its rules,
    a required member missing, an unknown member, or no object at all."""
    body = {
        name: draw(member.good)
        for name, member in members.items()
        if name in required or draw(st.booleans())
    }
    change = draw(st.sampled_from(["none", "near", "near", "near", "drop", "unknown", "other"]))
    name = draw(st.sampled_from(sorted(members)))
    if change == "near":
        body[name] = draw(members[name].near)
    elif change == "drop":
        body.pop(name, None)
    elif change == "unknown":
        body[draw(st.sampled_from(["extra", "d", "User_id"]))] = draw(OTHER_TYPES)
    elif change == "other":
        return draw(OTHER_TYPES)
    return body


SAFE_CONTEXT = st.dictionaries(
    st.text(PLAIN, min_size=1, max_size=5), st.text(PLAIN, max_size=5), max_size=3
)
CONTEXT = choice(
    SAFE_CONTEXT,
    st.one_of(
        st.integers(19, 21).map(lambda n: {f"k{i}": "v" for i in range(n)}),
        st.tuples(text(64).near, text(256).good).map(lambda kv: {str(kv[0]): kv[1]}),
        st.tuples(text(64).good, text(256).near).map(lambda kv: {kv[0]: kv[1]}),
        st.sampled_from([{"": "v"}, {"k": ""}, {"k" * 64: "v" * 256}, {"k" * 65: "v"}]),
    ),
)
CALLBACK = choice(
    st.sampled_from(["https://hooks.example/x", "HTTPS://a", "hTtPs://"]),
    st.one_of(
        st.sampled_from(["http://a", "ftp://a", "https:/a", " https://a", "https://\u202e"]),
        st.integers(2047, 2049).map(lambda n: "https://" + "a" * (n - 8)),
        text(40).near.filter(lambda t: isinstance(t, str)).map("https://{}".format),
    ),
)
APP_IDS = choice(
    st.lists(text(128).good, min_size=1, max_size=3),
    st.one_of(
        st.just([]),
        st.integers(99, 101).map(lambda n: ["app"] * n),
        st.lists(text(128).near, min_size=1, max_size=2),
    ),
)
CHALLENGE = {
    "user_id": text(128),
    "context": CONTEXT,
    "ttl_seconds": choice(st.integers(10, 300), st.sampled_from([9, 10, 300, 301, 0, -1])),
    "number_matching": choice(st.booleans(), st.sampled_from([0, 1, "true"])),
    "callback_url": CALLBACK,
}


@EXAMPLES
@given(bodies(CHALLENGE, {"user_id"}))
def test_a_new_challenge_is_accepted_exactly_when_its_schema_allows_it(body: Any) -> None:
    assert validator("CreateChallenge").is_valid(body) == accepts(NewChallenge.parse, body), body


@EXAMPLES
@given(bodies({"user_id": text(128), "app_ids": APP_IDS}, {"user_id"}))
def test_an_operator_enrollment_is_accepted_exactly_when_its_schema_allows_it(body: Any) -> None:
    def parse(value: Any) -> object:
        return NewEnrollment.parse(value, operator=True)

    assert validator("CreateEnrollment").is_valid(body) == accepts(parse, body), body


def test_an_app_may_not_name_app_ids_though_an_operator_may() -> None:
    body = {"user_id": "alice", "app_ids": ["app_1"]}
    assert accepts(lambda b: NewEnrollment.parse(b, operator=True), body)
    assert not accepts(lambda b: NewEnrollment.parse(b, operator=False), body)


@EXAMPLES
@given(bodies({"name": text(128)}, {"name"}))
def test_a_new_app_is_accepted_exactly_when_its_schema_allows_it(body: Any) -> None:
    assert validator("CreateApp").is_valid(body) == accepts(parse_name, body), body


@EXAMPLES
@given(bodies({"token": text(8192)}, {"token"}))
def test_a_response_body_is_accepted_exactly_when_its_schema_allows_it(body: Any) -> None:
    assert validator("ChallengeResponse").is_valid(body) == accepts(parse_token, body), body


# Enrollment and key rotation: the schema can say what a JWK and a JWS look like, not whether
# the key is a point of the curve or the proof verifies; those are 400 invalid_key/invalid_proof.
KEY = Ed25519PrivateKey.generate()
GOOD_JWK = jwk(KEY)
GOOD_PROOF = sign(KEY, {"code": "c", "iat": 1})
PUBLIC_KEY_NEAR = st.one_of(
    st.just({**GOOD_JWK, "d": GOOD_JWK["x"]}),
    st.sampled_from(["x", "y", "kty", "crv"]).map(
        lambda n: {k: v for k, v in GOOD_JWK.items() if k != n}
    ),
    st.sampled_from([{"kty": "EC"}, {"crv": "X25519"}, {"x": GOOD_JWK["x"] + "A"}]).map(
        lambda change: {**GOOD_JWK, **change}
    ),
    st.sampled_from("BCDFxyz9_-").map(lambda last: {**GOOD_JWK, "x": GOOD_JWK["x"][:-1] + last}),
)
PROOF_NEAR = st.one_of(
    st.sampled_from(
        ["", "a.b", "a..c", "a.b.c.d", GOOD_PROOF + "=", GOOD_PROOF.replace(".", "..")]
    ),
    st.just(GOOD_PROOF + "A" * (8193 - len(GOOD_PROOF))),
)


def fully_accepted(parse: Callable[[Any], Any], body: Any) -> bool:
    """The body passes its parser, and its key and proof are well formed."""
    try:
        parsed = parse(body)
        tokens.parse_jwk(parsed.public_key)
        tokens.peek(parsed.proof, error=ErrorCode.INVALID_PROOF)
    except PushError:
        return False
    return True


def check_device_body(schema: str, parse: Callable[[Any], Any], body: Any) -> None:
    valid = validator(schema).is_valid(body)
    if valid:
        assert accepts(parse, body), f"the schema allows what the parser refuses: {body}"
    if fully_accepted(parse, body):
        assert valid, f"the schema refuses what the service accepts: {body}"


PUBLIC_KEY = choice(
    st.sampled_from([GOOD_JWK, {**GOOD_JWK, "kid": "k", "use": "sig", "alg": "EdDSA"}]),
    PUBLIC_KEY_NEAR,
)
PROOF = choice(st.just(GOOD_PROOF), PROOF_NEAR)
ENROLLMENT = {"code": text(256), "public_key": PUBLIC_KEY, "proof": PROOF, "name": text(64)}


@EXAMPLES
@given(bodies(ENROLLMENT, {"code", "public_key", "proof"}))
def test_an_enrollment_body_and_its_schema_agree(body: Any) -> None:
    check_device_body("EnrollDevice", NewDevice.parse, body)


@EXAMPLES
@given(bodies({"public_key": PUBLIC_KEY, "proof": PROOF}, {"public_key", "proof"}))
def test_a_key_rotation_body_and_its_schema_agree(body: Any) -> None:
    check_device_body("RotateKey", NewKey.parse, body)


B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def is_32_bytes(x: str) -> bool:
    try:
        return len(b64url_decode(x)) == 32
    except ValueError:
        return False


@EXAMPLES
@given(
    st.text(B64URL + "=+/", min_size=42, max_size=44) | st.text(B64URL, min_size=43, max_size=43)
)
def test_a_public_key_x_is_allowed_exactly_when_it_is_32_bytes_of_unpadded_base64url(
    x: str,
) -> None:
    key = {"kty": "OKP", "crv": "Ed25519", "x": x}
    assert validator("PublicKey").is_valid(key) == is_32_bytes(x), x


def challenge(**members: Any) -> dict[str, Any]:
    return {"user_id": "alice", **members}


# Every bound just inside and just outside, compared one by one.
BOUNDS = (
    [
        ("CreateChallenge", NewChallenge.parse, body)
        for body in [
            challenge(user_id="u" * 128),
            challenge(user_id="u" * 129),
            challenge(user_id=""),
            challenge(ttl_seconds=10),
            challenge(ttl_seconds=9),
            challenge(ttl_seconds=300),
            challenge(ttl_seconds=301),
            challenge(ttl_seconds=True),
            challenge(ttl_seconds=None),
            challenge(number_matching=None),
            challenge(number_matching=1),
            challenge(context=None),
            challenge(context={f"k{i}": "v" for i in range(20)}),
            challenge(context={f"k{i}": "v" for i in range(21)}),
            challenge(context={"k" * 64: "v" * 256}),
            challenge(context={"k" * 65: "v"}),
            challenge(context={"k": "v" * 257}),
            challenge(context={"": "v"}),
            challenge(context={"k": ""}),
            challenge(context={"k": None}),
            challenge(context={"k\x1f": "v"}),
            challenge(context={"k": "\u2066v"}),
            challenge(callback_url="https://" + "a" * 2040),
            challenge(callback_url="https://" + "a" * 2041),
            challenge(callback_url="HtTpS://a"),
            challenge(callback_url="http://a"),
            challenge(callback_url=""),
            challenge(callback_url=None),
            challenge(callback_url="https://a\u200f"),
        ]
    ]
    + [
        ("CreateEnrollment", lambda b: NewEnrollment.parse(b, operator=True), body)
        for body in [
            {"user_id": "u", "app_ids": ["a" * 128]},
            {"user_id": "u", "app_ids": ["a" * 129]},
            {"user_id": "u", "app_ids": [""]},
            {"user_id": "u", "app_ids": []},
            {"user_id": "u", "app_ids": ["a"] * 100},
            {"user_id": "u", "app_ids": ["a"] * 101},
            {"user_id": "u", "app_ids": None},
            {"user_id": "u", "app_ids": "a"},
        ]
    ]
    + [
        ("CreateApp", parse_name, {"name": "n" * 128}),
        ("CreateApp", parse_name, {"name": "n" * 129}),
        ("ChallengeResponse", parse_token, {"token": "t" * 8192}),
        ("ChallengeResponse", parse_token, {"token": "t" * 8193}),
    ]
)


@pytest.mark.parametrize(("schema", "parse", "body"), BOUNDS)
def test_each_bound_is_where_the_parser_puts_it(
    schema: str, parse: Callable[[Any], object], body: Any
) -> None:
    assert validator(schema).is_valid(body) == accepts(parse, body)


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        ("CreateChallenge", {"user_id": "alice", "ttl_seconds": 9}),
        ("CreateChallenge", {"user_id": "alice", "context": {"ip": "\u202e1.2.3.4"}}),
        ("CreateChallenge", {"user_id": "alice", "callback_url": "http://hooks.example"}),
        ("CreateEnrollment", {"user_id": "a" * 129}),
        ("EnrollDevice", {"code": "c", "public_key": {**GOOD_JWK, "d": "x"}, "proof": GOOD_PROOF}),
    ],
)
def test_the_schemas_refuse_what_the_contract_refuses(schema: str, body: Any) -> None:
    assert not validator(schema).is_valid(body)
