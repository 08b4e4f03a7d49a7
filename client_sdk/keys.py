"""The device's Ed25519 key pair: generation, public JWK, and compact JWS signing.

The private key never leaves the device; only `DeviceKey.public_jwk` is sent to the service.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "EdDSA"
_RAW_KEY_BYTES = 32


def b64url_encode(data: bytes) -> str:
    """Encode bytes as base64url without padding.

    Args:
        data: The bytes to encode.

    Returns:
        The unpadded base64url text.
    """
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded (or padded) base64url text.

    Args:
        text: The base64url text.

    Returns:
        The decoded bytes.

    Raises:
        ValueError: If the text is not base64url.
    """
    if not isinstance(text, str) or any(c in text for c in "+/ \n\r\t"):
        raise ValueError("not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url text") from None


class DeviceKey:
    """An Ed25519 private key held by a device."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        """Wrap an existing private key.

        Args:
            private_key: The Ed25519 private key.
        """
        self._private = private_key

    @classmethod
    def generate(cls) -> DeviceKey:
        """Make a new random key pair.

        Returns:
            The new key.
        """
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> DeviceKey:
        """Load a key from its raw 32-byte private form.

        Args:
            raw: The 32 private key bytes.

        Returns:
            The key.

        Raises:
            ValueError: If ``raw`` is not 32 bytes.
        """
        if len(raw) != _RAW_KEY_BYTES:
            raise ValueError("an Ed25519 private key is 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    @classmethod
    def from_b64url(cls, text: str) -> DeviceKey:
        """Load a key from base64url of its raw 32 private bytes (the key file's form).

        Args:
            text: The base64url text.

        Returns:
            The key.

        Raises:
            ValueError: If the text is not base64url of 32 bytes.
        """
        return cls.from_private_bytes(b64url_decode(text))

    def private_b64url(self) -> str:
        """Return base64url of the raw 32 private bytes, for the key file only."""
        raw = self._private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return b64url_encode(raw)

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The public half of the key pair."""
        return self._private.public_key()

    def public_jwk(self) -> dict[str, str]:
        """Return the public key as a JWK, the form the service accepts.

        Returns:
            ``{"kty": "OKP", "crv": "Ed25519", "x": <base64url of 32 bytes>}``; nothing private.
        """
        raw = self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}

    def sign(self, claims: Mapping[str, Any], kid: str | None = None) -> str:
        """Sign claims as a compact JWS.

        Args:
            claims: The JSON claims to sign.
            kid: The ``kid`` header value (the device id), or None to leave it out.

        Returns:
            The compact JWS with header ``{"alg": "EdDSA"}`` plus ``kid`` when given.
        """
        headers: dict[str, Any] = {"typ": None}
        if kid is not None:
            headers["kid"] = kid
        return jwt.encode(dict(claims), self._private, algorithm=ALGORITHM, headers=headers)

    def __repr__(self) -> str:
        return f"DeviceKey(public_x={self.public_jwk()['x']!r})"
