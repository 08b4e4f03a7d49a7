"""Shared helpers for the core tests: a fixed clock, raw JWS signing, devices and challenges."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from push_service.models import Challenge, Device
from tests.phone import ISSUER, Phone, b64url, jwk

NOW = 1_900_000_000
APP_ID = "app_main"
OTHER_APP_ID = "app_other"
CHALLENGE_ID = "ch_target0123456789"
NONCE = "nonce-Zm9vYmFyYmF6cXV4MTIzNDU2"

# The eight points of order dividing 8, in their canonical encodings.
SMALL_ORDER = {
    "identity": "0100000000000000000000000000000000000000000000000000000000000000",
    "order-2": "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "order-4": "0000000000000000000000000000000000000000000000000000000000000000",
    "order-4-neg": "0000000000000000000000000000000000000000000000000000000000000080",
    "order-8-a": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "order-8-b": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "order-8-c": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "order-8-d": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
}

__all__ = [
    "APP_ID",
    "CHALLENGE_ID",
    "ISSUER",
    "NONCE",
    "NOW",
    "OTHER_APP_ID",
    "SMALL_ORDER",
    "b64url",
    "b64url_text",
    "make_challenge",
    "make_device",
    "phone_token",
    "sign_raw",
]


def b64url_text(text: str) -> str:
    return b64url(text.encode("utf-8"))


def sign_raw(key: Ed25519PrivateKey, header_text: str, payload_text: str) -> str:
    """A compact JWS over exactly these header and payload texts, with a real EdDSA signature.

    Unlike a JWT library, this keeps the texts as given (duplicate names, odd spacing), so the
    signature is valid and only the parsing of the texts can refuse the token.
    """
    signing_input = f"{b64url_text(header_text)}.{b64url_text(payload_text)}"
    signature = key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url(signature)}"


def phone_token(phone: Phone, now: int = NOW, **extra: Any) -> str:
    """A device token from `phone` issued at `now`, valid for 60 s.

    `extra` adds or overrides claims; a claim set to None is left out.
    """
    claims: dict[str, Any] = {"iat": now, "exp": now + 60}
    claims.update(extra)
    return phone.token(**claims)


def make_device(
    phone: Phone, *, app_ids: tuple[str, ...] | None = (APP_ID,), created_at: float = NOW - 3600
) -> Device:
    return Device(
        device_id=phone.device_id,
        user_id=phone.user_id,
        name="pixel",
        public_key=jwk(phone.key)["x"],
        app_ids=app_ids,
        created_at=created_at,
    )


def make_challenge(
    *,
    user_id: str = "alice",
    app_id: str = APP_ID,
    number_matching: bool = True,
    ttl: int = 60,
    created_at: float = NOW,
    **fields: Any,
) -> Challenge:
    base: dict[str, Any] = {
        "challenge_id": CHALLENGE_ID,
        "app_id": app_id,
        "app_name": "Intranet",
        "user_id": user_id,
        "context": {"ip": "203.0.113.7"},
        "number_matching": number_matching,
        "nonce": NONCE,
        "created_at": created_at,
        "expires_at": created_at + ttl,
    }
    base.update(fields)
    return Challenge(**base)
