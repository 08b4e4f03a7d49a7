"""Both Ed25519 verifiers (libsodium and OpenSSL) give the same answer on good and bad input."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from push_service import signatures
from push_service.signatures import Verifier
from tests.core.helpers import b64url
from tests.phone import raw_public

# RFC 8032, section 7.1, tests 1 and 2: (public key, message, signature).
RFC_8032 = [
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e"
        "39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f"
        "3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]
# The group order: adding it to S gives the same point arithmetic but a non-canonical encoding.
L = 2**252 + 27742317777372353535851937790883648493

KEY = Ed25519PrivateKey.generate()
X = b64url(raw_public(KEY))
MESSAGE = b"eyJhbGciOiJFZERTQSJ9.eyJjaWQiOiJjaF8xIn0"
SIGNATURE = KEY.sign(MESSAGE)


@pytest.fixture(params=["libsodium", "openssl"])
def verify(request: pytest.FixtureRequest) -> Verifier:
    if request.param == "openssl":
        return signatures.openssl_verify
    # The fast extra is part of the development install: its verifier must be here to test.
    assert signatures.SODIUM is not None, "PyNaCl is missing: install push-approval[fast]"
    return signatures.SODIUM


@pytest.mark.parametrize(("public", "message", "signature"), RFC_8032)
def test_the_rfc_8032_vectors_verify(
    verify: Verifier, public: str, message: str, signature: str
) -> None:
    x = b64url(bytes.fromhex(public))
    assert verify(x, bytes.fromhex(signature), bytes.fromhex(message))


def test_a_fresh_signature_verifies(verify: Verifier) -> None:
    assert verify(X, SIGNATURE, MESSAGE)


def test_a_changed_message_is_refused(verify: Verifier) -> None:
    assert not verify(X, SIGNATURE, MESSAGE + b"x")


@pytest.mark.parametrize("position", [0, 31, 32, 63])
def test_a_flipped_signature_bit_is_refused(verify: Verifier, position: int) -> None:
    changed = bytearray(SIGNATURE)
    changed[position] ^= 0x01
    assert not verify(X, bytes(changed), MESSAGE)


@pytest.mark.parametrize("length", [0, 63, 65, 128])
def test_a_signature_of_the_wrong_length_is_refused(verify: Verifier, length: int) -> None:
    signature = (SIGNATURE * 2)[:length]
    assert not verify(X, signature, MESSAGE)


def test_another_keys_signature_is_refused(verify: Verifier) -> None:
    other = Ed25519PrivateKey.generate()
    assert not verify(X, other.sign(MESSAGE), MESSAGE)


def test_a_non_canonical_s_is_refused(verify: Verifier) -> None:
    s = int.from_bytes(SIGNATURE[32:], "little") + L
    assert s < 2**256
    malleated = SIGNATURE[:32] + s.to_bytes(32, "little")
    assert not verify(X, malleated, MESSAGE)


def test_the_service_verifies_with_libsodium_when_the_fast_extra_is_installed() -> None:
    assert signatures.verify is signatures.SODIUM
    assert signatures.BACKEND == "libsodium"
