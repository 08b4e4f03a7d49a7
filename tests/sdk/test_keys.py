"""Device keys: generation, public JWK shape, and signatures that verify with the JWK."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from client_sdk import DeviceKey


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_public_jwk_is_an_okp_ed25519_key_with_32_unpadded_bytes_and_nothing_private() -> None:
    jwk = DeviceKey.generate().public_jwk()
    assert set(jwk) == {"kty", "crv", "x"}
    assert jwk["kty"] == "OKP"
    assert jwk["crv"] == "Ed25519"
    assert "=" not in jwk["x"]
    assert len(_decode(jwk["x"])) == 32


def test_generated_keys_differ() -> None:
    assert DeviceKey.generate().public_jwk() != DeviceKey.generate().public_jwk()


def test_signature_verifies_with_the_public_jwk_and_header_is_alg_and_kid_only() -> None:
    key = DeviceKey.generate()
    token = key.sign({"hello": "world"}, kid="dev_1")
    public = Ed25519PublicKey.from_public_bytes(_decode(key.public_jwk()["x"]))
    assert jwt.decode(token, public, algorithms=["EdDSA"]) == {"hello": "world"}
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": "dev_1"}


def test_signature_without_kid_has_only_the_alg_header() -> None:
    token = DeviceKey.generate().sign({"a": 1})
    header = json.loads(_decode(token.split(".")[0]))
    assert header == {"alg": "EdDSA"}


def test_signature_does_not_verify_with_another_key() -> None:
    token = DeviceKey.generate().sign({"a": 1})
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, DeviceKey.generate().public_key, algorithms=["EdDSA"])


def test_private_key_round_trips_through_its_base64url_form() -> None:
    key = DeviceKey.generate()
    again = DeviceKey.from_b64url(key.private_b64url())
    assert again.public_jwk() == key.public_jwk()
    assert len(_decode(key.private_b64url())) == 32


@pytest.mark.parametrize("text", ["", "AAAA", "not base64!", "a+b/" * 11])
def test_private_key_text_of_the_wrong_form_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"32 bytes|base64url"):
        DeviceKey.from_b64url(text)
