"""Standard Webhooks signatures (scheme v1) for one attempt of a delivery.

Pure: bytes and secrets in, header values out. It never logs, and holds no secret beyond a call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_<base64>` secret stands for; ValueError if it has another form."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with 'whsec_'")
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    if not key:
        raise ValueError("a webhook secret is not empty")
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per secret, so that while a rotated-out
    secret is still honoured a receiver holding either the old or the new one can verify."""
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets),
    }
