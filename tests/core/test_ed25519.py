"""Tests of push_service.ed25519: which 32-byte strings are acceptable Ed25519 public keys."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from push_service.ed25519 import problem_with
from tests.core.helpers import SMALL_ORDER
from tests.phone import raw_public

# Independent affine arithmetic on edwards25519 (-x^2 + y^2 = 1 + d x^2 y^2), used to build
# and check the test points without relying on the module under test.
P = 2**255 - 19
D = -121665 * pow(121666, -1, P) % P
L = 2**252 + 27742317777372353535851937790883648493

Affine = tuple[int, int]
NEUTRAL: Affine = (0, 1)


def on_curve(point: Affine) -> bool:
    x, y = point
    return (-x * x + y * y - 1 - D * x * x * y * y) % P == 0


def add(a: Affine, b: Affine) -> Affine:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, -1, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P
    return x3, y3


def times(point: Affine, scalar: int) -> Affine:
    result = NEUTRAL
    while scalar:
        if scalar & 1:
            result = add(result, point)
        point = add(point, point)
        scalar >>= 1
    return result


def decode(encoded: bytes) -> Affine:
    """Decode a canonical encoding; the test data below is checked with it."""
    value = int.from_bytes(encoded, "little")
    y, sign = value & ((1 << 255) - 1), value >> 255
    assert y < P
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x2 = u * pow(v, -1, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * pow(2, (P - 1) // 4, P) % P
    assert (x * x - x2) % P == 0
    if x & 1 != sign:
        x = (P - x) % P
    return x, y


def encode(point: Affine) -> bytes:
    x, y = point
    return (y | (x & 1) << 255).to_bytes(32, "little")


def order(point: Affine) -> int:
    for n in (1, 2, 4, 8):
        if times(point, n) == NEUTRAL:
            return n
    return 0


# Small-order points written with y + p in place of y (only y = 0 and y = 1 leave room below
# 2^255), with either sign bit.
NON_CANONICAL_SMALL_ORDER = {
    "order-4-y=p": "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "order-4-y=p-neg": "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "identity-y=p+1": "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "identity-y=p+1-neg": "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
}

# The two points with x = 0 (identity, order 2), with the sign bit set: x = 0 has no negative.
ZERO_X_WITH_SIGN = {
    "identity-neg": "0100000000000000000000000000000000000000000000000000000000000080",
    "order-2-neg": "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
}


def test_the_small_order_table_holds_the_eight_distinct_small_order_points() -> None:
    points = {decode(bytes.fromhex(h)) for h in SMALL_ORDER.values()}
    assert len(points) == 8
    assert all(on_curve(p) and order(p) in (1, 2, 4, 8) for p in points)
    assert sorted(order(p) for p in points) == [1, 2, 4, 4, 8, 8, 8, 8]


def test_the_non_canonical_table_encodes_y_at_or_above_p() -> None:
    for encoded in NON_CANONICAL_SMALL_ORDER.values():
        y = int.from_bytes(bytes.fromhex(encoded), "little") & ((1 << 255) - 1)
        assert P <= y < 2**255
        assert y - P in (0, 1)


@pytest.mark.parametrize("count", range(20))
def test_freshly_generated_keys_are_accepted(count: int) -> None:
    assert problem_with(raw_public(Ed25519PrivateKey.generate())) is None


def test_the_base_point_is_accepted() -> None:
    base = "5866666666666666666666666666666666666666666666666666666666666666"
    assert problem_with(bytes.fromhex(base)) is None


@pytest.mark.parametrize("encoded", SMALL_ORDER.values(), ids=SMALL_ORDER.keys())
def test_small_order_points_are_refused(encoded: str) -> None:
    assert problem_with(bytes.fromhex(encoded)) is not None


@pytest.mark.parametrize(
    "encoded", NON_CANONICAL_SMALL_ORDER.values(), ids=NON_CANONICAL_SMALL_ORDER.keys()
)
def test_non_canonical_encodings_of_small_order_points_are_refused(encoded: str) -> None:
    assert problem_with(bytes.fromhex(encoded)) is not None


@pytest.mark.parametrize("offset", range(19))
@pytest.mark.parametrize("sign", [0, 1])
def test_every_encoding_with_y_at_or_above_p_is_refused(offset: int, sign: int) -> None:
    encoded = ((P + offset) | sign << 255).to_bytes(32, "little")
    assert problem_with(encoded) is not None


@pytest.mark.parametrize("encoded", ZERO_X_WITH_SIGN.values(), ids=ZERO_X_WITH_SIGN.keys())
def test_x_zero_with_the_sign_bit_set_is_refused(encoded: str) -> None:
    assert problem_with(bytes.fromhex(encoded)) is not None


@pytest.mark.parametrize("small", list(SMALL_ORDER.values())[1:], ids=list(SMALL_ORDER)[1:])
def test_a_valid_key_plus_a_small_order_point_is_refused(small: str) -> None:
    valid = decode(raw_public(Ed25519PrivateKey.generate()))
    mixed = add(valid, decode(bytes.fromhex(small)))
    assert on_curve(mixed)
    assert times(mixed, L) != NEUTRAL  # not in the prime-order subgroup
    assert problem_with(encode(mixed)) is not None


def test_a_valid_key_plus_the_identity_is_still_accepted() -> None:
    valid = decode(raw_public(Ed25519PrivateKey.generate()))
    assert problem_with(encode(add(valid, NEUTRAL))) is None


def test_a_y_with_no_point_on_the_curve_is_refused() -> None:
    y = next(y for y in range(2, 100) if not_a_curve_y(y))
    assert problem_with(y.to_bytes(32, "little")) is not None


def not_a_curve_y(y: int) -> bool:
    x2 = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    return pow(x2, (P - 1) // 2, P) == P - 1  # a quadratic non-residue: no x exists


@pytest.mark.parametrize("length", [0, 1, 31, 33, 64])
def test_wrong_lengths_are_refused(length: int) -> None:
    key = (raw_public(Ed25519PrivateKey.generate()) * 3)[:length]
    assert problem_with(key) is not None
