"""A phone for tests of the service: its own key, and tokens signed the way the contract says,
or deliberately not. Independent of client_sdk, so attacks can be crafted freely."""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ISSUER = "push-approval"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def jwk(key: Ed25519PrivateKey) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw_public(key))}


def sign(key: Ed25519PrivateKey, claims: dict[str, Any], **header: Any) -> str:
    return jwt.encode(claims, key, algorithm="EdDSA", headers=header or None)


def forge(
    header: dict[str, Any], payload: str | dict[str, Any], signature: bytes = b"x" * 64
) -> str:
    """A compact JWS assembled by hand: any header, any payload text, any signature."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return ".".join([b64url(json.dumps(header).encode()), b64url(body.encode()), b64url(signature)])


@dataclass
class Phone:
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    device_id: str = ""
    user_id: str = ""
    issuer: str = ISSUER

    @property
    def jwk(self) -> dict[str, str]:
        return jwk(self.key)

    def proof(self, code: str, iat: int | None = None) -> str:
        return sign(self.key, {"code": code, "iat": iat or int(time.time())})

    def claims(self, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "iss": self.device_id,
            "aud": self.issuer,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        }
        base.update(extra)
        return {k: v for k, v in base.items() if v is not None}

    def token(self, **extra: Any) -> str:
        return sign(self.key, self.claims(**extra), kid=self.device_id)

    def response(self, challenge: dict[str, Any], decision: str = "approve", **extra: Any) -> str:
        return self.token(
            cid=challenge["challenge_id"], nonce=challenge["nonce"], decision=decision, **extra
        )

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}
