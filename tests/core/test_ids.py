"""Tests of push_service.ids: identifiers, secrets, base64url and match numbers."""

from __future__ import annotations

import base64
import re

import pytest

from push_service import ids

KEY = b"k" * 32
OTHER_KEY = b"j" * 32
CHALLENGE_IDS = [f"ch_{n:04d}" for n in range(20)]
URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


@pytest.mark.parametrize("digits", [2, 3, 4, 5, 6])
def test_match_number_has_exactly_the_configured_digit_count(digits: int) -> None:
    for challenge_id in CHALLENGE_IDS:
        number = ids.match_number(KEY, challenge_id, digits)
        assert len(number) == digits
        assert re.fullmatch(r"[0-9]+", number)


def test_match_number_keeps_leading_zeros() -> None:
    numbers = [ids.match_number(KEY, f"ch_{n}", 2) for n in range(200)]
    assert any(number.startswith("0") for number in numbers)
    assert all(len(number) == 2 for number in numbers)


@pytest.mark.parametrize("digits", [2, 6])
def test_match_number_is_stable_for_the_same_key_and_id(digits: int) -> None:
    first = [ids.match_number(KEY, c, digits) for c in CHALLENGE_IDS]
    again = [ids.match_number(bytes(KEY), str(c), digits) for c in CHALLENGE_IDS]
    assert first == again


def test_match_number_differs_across_keys() -> None:
    mine = [ids.match_number(KEY, c, 6) for c in CHALLENGE_IDS]
    theirs = [ids.match_number(OTHER_KEY, c, 6) for c in CHALLENGE_IDS]
    assert sum(a != b for a, b in zip(mine, theirs, strict=True)) >= 18


def test_match_number_differs_across_challenges() -> None:
    assert len({ids.match_number(KEY, c, 6) for c in CHALLENGE_IDS}) >= 18


def test_match_number_spreads_over_all_values() -> None:
    seen = {ids.match_number(KEY, f"ch_{n}", 2) for n in range(2000)}
    assert len(seen) == 100


@pytest.mark.parametrize(
    "data", [b"", b"\x00", b"\xff\xfe", b"abc", b"\xfb\xff", bytes(range(256))], ids=repr
)
def test_b64url_round_trips_without_padding(data: bytes) -> None:
    text = ids.b64url(data)
    assert URL_SAFE.match(text) or text == ""
    assert ids.b64url_decode(text) == data


@pytest.mark.parametrize(
    "text",
    ["AA==", "AAA=", "AA=", "=", "AA=A"],
    ids=["two-pad", "one-pad", "short-pad", "only-pad", "inner-pad"],
)
def test_b64url_decode_refuses_padding(text: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        ids.b64url_decode(text)


@pytest.mark.parametrize(
    "text",
    ["AB", "AAB", "_x", "-_9"],
    ids=["two-chars", "three-chars", "underscore", "dash"],
)
def test_b64url_decode_refuses_non_canonical_trailing_bits(text: str) -> None:
    assert ids.b64url(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))) != text
    with pytest.raises(ValueError, match="base64url"):
        ids.b64url_decode(text)


@pytest.mark.parametrize(
    "text",
    ["+/8", "a+b/", "AA AA", "AA\nAA", "AA!A", "A", "AAAAA", "\u00e9A"],
    ids=[
        "std-alphabet",
        "std-mixed",
        "space",
        "newline",
        "bang",
        "one-char",
        "five-chars",
        "non-ascii",
    ],
)
def test_b64url_decode_refuses_anything_but_the_url_safe_alphabet(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (binascii.Error or the module's own)
        ids.b64url_decode(text)


def test_new_id_is_prefixed_url_safe_and_carries_128_bits() -> None:
    made = {ids.new_id("ch") for _ in range(100)}
    assert len(made) == 100
    for value in made:
        prefix, _, rest = value.partition("_")
        assert prefix == "ch"
        assert URL_SAFE.match(rest)
        assert len(ids.b64url_decode(rest)) >= 16


def test_new_secret_carries_at_least_128_bits() -> None:
    assert len(ids.b64url_decode(ids.new_secret(nbytes=16))) == 16
    key = ids.new_secret("pak_")
    assert key.startswith("pak_")
    assert len(ids.b64url_decode(key[4:])) == 32


def test_hash_secret_is_sha256_hex_and_stable() -> None:
    assert ids.hash_secret("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert ids.hash_secret("abc") != ids.hash_secret("abd")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("secret", "secret", True),
        ("secret", "secreT", False),
        ("s", "secret", False),
        ("\u00e9", "\u00e9", True),
    ],
)
def test_same_secret_compares_exactly(a: str, b: str, same: bool) -> None:
    assert ids.same_secret(a, b) is same


def test_webhook_secret_has_the_standard_webhooks_form() -> None:
    secret = ids.webhook_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:], validate=True)) >= 24
    assert ids.webhook_secret() != secret
