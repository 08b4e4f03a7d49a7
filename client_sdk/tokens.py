"""Device tokens and proofs, with exactly the claims the wire contract asks for.

Every device token: header kid = device_id; claims iss, aud, iat, exp (iat + 60), jti.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any, Final, Literal

from .keys import DeviceKey

TOKEN_LIFETIME_SECONDS: Final = 60
_JTI_BYTES: Final = 16  # 128 random bits
_RESERVED: Final = frozenset({"iss", "aud", "iat", "exp", "jti"})

Decision = Literal["approve", "deny"]


def _now(now: float | None) -> int:
    return int(time.time() if now is None else now)


def new_jti() -> str:
    """Return a fresh token id: 128 random bits, base64url without padding."""
    return secrets.token_urlsafe(_JTI_BYTES)


def device_token(
    key: DeviceKey,
    device_id: str,
    issuer: str,
    *,
    extra: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> str:
    """Sign a device token.

    Args:
        key: The device's current key.
        device_id: The device id (``kid`` header and ``iss`` claim).
        issuer: The service's issuer (``aud`` claim).
        extra: Additional claims, such as a stream ``nonce``.
        now: Unix time to use for ``iat`` (defaults to the clock).

    Returns:
        The compact JWS.

    Raises:
        ValueError: If ``extra`` tries to set one of the standard claims.
    """
    issued = _now(now)
    claims: dict[str, Any] = {
        "iss": device_id,
        "aud": issuer,
        "iat": issued,
        "exp": issued + TOKEN_LIFETIME_SECONDS,
        "jti": new_jti(),
    }
    if extra:
        clash = _RESERVED.intersection(extra)
        if clash:
            raise ValueError(f"extra claims may not set {', '.join(sorted(clash))}")
        claims.update(extra)
    return key.sign(claims, kid=device_id)


def stream_auth_token(
    key: DeviceKey, device_id: str, issuer: str, nonce: str, *, now: float | None = None
) -> str:
    """Sign the token answering a stream's ``hello``.

    Args:
        key: The device's current key.
        device_id: The device id.
        issuer: The service's issuer.
        nonce: The nonce from the server's ``hello`` message.
        now: Unix time to use for ``iat`` (defaults to the clock).

    Returns:
        The compact JWS with the extra claim ``nonce``.
    """
    return device_token(key, device_id, issuer, extra={"nonce": nonce}, now=now)


def response_token(
    key: DeviceKey,
    device_id: str,
    issuer: str,
    *,
    challenge_id: str,
    nonce: str,
    decision: Decision,
    number: str | None = None,
    fraud: bool = False,
    now: float | None = None,
) -> str:
    """Sign a response to a challenge.

    Args:
        key: The device's current key.
        device_id: The device id.
        issuer: The service's issuer.
        challenge_id: The challenge answered (``cid`` claim).
        nonce: The challenge's nonce.
        decision: ``"approve"`` or ``"deny"``.
        number: The match number the user typed (digits), when number matching is on.
        fraud: True to report that the user did not start this login; only with ``"deny"``.
        now: Unix time to use for ``iat`` (defaults to the clock).

    Returns:
        The compact JWS.

    Raises:
        ValueError: If the decision is unknown, ``number`` is not digits, or ``fraud`` is
            set with ``"approve"``.
    """
    if decision not in ("approve", "deny"):
        raise ValueError("decision must be 'approve' or 'deny'")
    if fraud and decision != "deny":
        raise ValueError("a fraud report is a 'deny' decision")
    extra: dict[str, Any] = {"cid": challenge_id, "nonce": nonce, "decision": decision}
    if number is not None:
        if not (number.isascii() and number.isdigit()):
            raise ValueError("the match number must be digits only")
        extra["number"] = number
    if fraud:
        extra["fraud"] = True
    return device_token(key, device_id, issuer, extra=extra, now=now)


def enrollment_proof(key: DeviceKey, code: str, *, now: float | None = None) -> str:
    """Sign the proof that the enrolling device holds its new private key.

    Args:
        key: The new device key.
        code: The enrollment code.
        now: Unix time to use for ``iat`` (defaults to the clock).

    Returns:
        A compact JWS (header ``alg: EdDSA``) over exactly ``{"code", "iat"}``.
    """
    return key.sign({"code": code, "iat": _now(now)})


def rotation_proof(new_key: DeviceKey, device_id: str, *, now: float | None = None) -> str:
    """Sign the proof that a device holds the key it rotates to.

    Args:
        new_key: The key the device switches to.
        device_id: The device id.
        now: Unix time to use for ``iat`` (defaults to the clock).

    Returns:
        A compact JWS (header ``alg: EdDSA``) by the new key over exactly
        ``{"device_id", "iat"}``.
    """
    return new_key.sign({"device_id": device_id, "iat": _now(now)})
