"""Ed25519 signature checks over raw bytes: libsodium when installed, else OpenSSL.

Checking the phone's signature is the largest single cost of an answer. libsodium (PyNaCl, in
the `fast` extra) does it in about half the time of cryptography's OpenSSL binding; see
docs/performance.md. Both follow RFC 8032 and refuse a non-canonical S; keys reach here only
after enrollment refused small-order and non-canonical ones, so the two agree on every key the
service holds.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .ids import b64url_decode

# (the key's JWK `x`, signature, message) -> whether the signature is good.
Verifier = Callable[[str, bytes, bytes], bool]
SIGNATURE_BYTES = 64
_KEYS_CACHED = 65536


@lru_cache(maxsize=_KEYS_CACHED)
def _raw_key(x: str) -> bytes:
    return b64url_decode(x)


@lru_cache(maxsize=_KEYS_CACHED)
def _openssl_key(x: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_raw_key(x))


def openssl_verify(x: str, signature: bytes, message: bytes) -> bool:
    try:
        _openssl_key(x).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _sodium() -> Verifier | None:
    try:
        from nacl.bindings import crypto_sign_open
        from nacl.exceptions import BadSignatureError
    except ImportError:
        return None

    def sodium_verify(x: str, signature: bytes, message: bytes) -> bool:
        # libsodium takes signature and message as one buffer, so it cannot see a short
        # signature; refuse that here.
        if len(signature) != SIGNATURE_BYTES:
            return False
        try:
            crypto_sign_open(signature + message, _raw_key(x))
        except (BadSignatureError, ValueError):
            return False
        return True

    return sodium_verify


SODIUM = _sodium()
verify: Verifier = SODIUM or openssl_verify
BACKEND = "libsodium" if SODIUM else "openssl"
