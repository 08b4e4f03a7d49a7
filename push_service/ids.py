"""Identifiers and secrets: how they are made, hashed for storage and compared.

API keys and enrollment codes carry 256 and 128 random bits, so a single SHA-256 is the right
hash at rest: nothing can be guessed, and slow password hashes would only slow every request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url without padding; raises ValueError on anything else."""
    if "=" in text or not text.isascii():
        raise ValueError("not unpadded base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(raw) != text:
        raise ValueError("non-canonical base64url")
    return raw


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(16)}"


def new_secret(prefix: str = "", nbytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(nbytes)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def match_number(key: bytes, challenge_id: str, digits: int) -> str:
    """The number a user types to approve: a keyed hash of the challenge id, never stored.

    Anyone holding the store but not the key cannot learn it; the service recomputes it to show
    the app and to check the phone's answer.
    """
    mac = hmac.new(key, b"match-number\x00" + challenge_id.encode("utf-8"), hashlib.sha256)
    value = int.from_bytes(mac.digest()[:8], "big") % (10**digits)
    return f"{value:0{digits}d}"


def webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
