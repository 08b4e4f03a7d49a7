"""Validation of Ed25519 public keys before the service ever trusts one.

A key must be 32 bytes that decode canonically (RFC 8032, 5.1.3) to a point of the prime-order
subgroup. Small-order points let one signature verify for any message, and non-canonical or
mixed-order encodings make verification differ between libraries, so all are refused.
Pure integer arithmetic; it runs only at enrollment and key rotation.
"""

from __future__ import annotations

P = 2**255 - 19
D = (-121665 * pow(121666, P - 2, P)) % P
L = 2**252 + 27742317777372353535851937790883648493
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T)
IDENTITY: Point = (0, 1, 1, 0)


def _add(a: Point, b: Point) -> Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    pa = (y1 - x1) * (y2 - x2) % P
    pb = (y1 + x1) * (y2 + x2) % P
    pc = 2 * t1 * t2 * D % P
    pd = 2 * z1 * z2 % P
    e, f, g, h = pb - pa, pd - pc, pd + pc, pb + pa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _multiply(point: Point, scalar: int) -> Point:
    result = IDENTITY
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _is_identity(point: Point) -> bool:
    x, y, z, _ = point
    return x % P == 0 and (y - z) % P == 0


def _decode(encoded: bytes) -> Point | None:
    y = int.from_bytes(encoded, "little") & ((1 << 255) - 1)
    sign = encoded[31] >> 7
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def problem_with(encoded: bytes) -> str | None:
    """Why `encoded` is not an acceptable Ed25519 public key, or None when it is."""
    if len(encoded) != 32:
        return "an Ed25519 public key is exactly 32 bytes"
    point = _decode(encoded)
    if point is None:
        return "the key is not a canonical encoding of a curve point"
    if _is_identity(_multiply(point, 8)):
        return "the key is a small-order point"
    if not _is_identity(_multiply(point, L)):
        return "the key is not in the prime-order subgroup"
    return None
