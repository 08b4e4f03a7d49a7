"""Device tokens and proofs: compact JWS, `alg` pinned to EdDSA, checked strictly and purely.

Order matters: the header is parsed and its `alg` pinned before any key is looked up; the
signature over the token's first two segments is then checked with the device's Ed25519 key
(RFC 8037: EdDSA over the JWS signing input, nothing hashed first), and the claims against `now`
(an argument, never the clock). The token is parsed once, here, and verified from those bytes:
a second parser could disagree with the first about what was signed.
Every failure of a device token is `invalid_token`; of a proof, `invalid_proof`. The replay
(`jti`) cache is the engine's job; this module only says until when a `jti` must be remembered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from . import jsonbody, signatures
from .ed25519 import problem_with
from .errors import ErrorCode, PushError, invalid_token
from .fields import Fields
from .ids import b64url_decode, same_secret

MAX_SKEW = 60
MAX_LIFETIME = 300
MAX_TOKEN_BYTES = 8192
_DIGITS = re.compile(r"[0-9]{1,12}")


class Kind(Enum):
    """What a device token is for, and the extra claims that purpose requires."""

    PLAIN = ()
    STREAM_AUTH = ("nonce",)
    RESPONSE = ("cid", "nonce", "decision")


_OPTIONAL: dict[Kind, set[str]] = {
    Kind.PLAIN: set(),
    Kind.STREAM_AUTH: set(),
    Kind.RESPONSE: {"number", "fraud"},
}


@dataclass(frozen=True, slots=True)
class Unverified:
    """A token whose shape is right and whose `alg` is EdDSA, but nothing else is known yet."""

    kid: str
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse_jwk(value: Any, *, error: ErrorCode = ErrorCode.INVALID_KEY) -> str:
    """The `x` of a valid Ed25519 public JWK, or PushError(invalid_key) saying what is wrong."""
    if not isinstance(value, dict):
        raise PushError(error, "'public_key' must be a JWK object.")
    if value.get("kty") != "OKP" or value.get("crv") != "Ed25519":
        raise PushError(error, "'public_key' must be an Ed25519 JWK (kty OKP, crv Ed25519).")
    if set(value) - {"kty", "crv", "x", "kid", "use", "alg"}:
        raise PushError(error, "'public_key' may hold only public members (no 'd').")
    x = value.get("x")
    try:
        raw = b64url_decode(x) if isinstance(x, str) else b""
    except ValueError:
        raw = b""
    problem = problem_with(raw)
    if problem:
        raise PushError(error, f"'public_key' is refused: {problem}.")
    return str(x)


def peek(token: Any, *, error: ErrorCode = ErrorCode.INVALID_TOKEN) -> Unverified:
    """Parse a compact JWS strictly without verifying it; pins `alg` to EdDSA."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_BYTES:
        raise PushError(error, "The token must be a compact JWS string.", reason="malformed")
    parts = token.split(".")
    if len(parts) != 3:
        raise PushError(
            error,
            "The token must be a compact JWS (three dot-separated parts).",
            reason="malformed",
        )
    try:
        header = jsonbody.loads(b64url_decode(parts[0]), max_depth=4)
        claims = jsonbody.loads(b64url_decode(parts[1]), max_depth=4)
        signature = b64url_decode(parts[2])
    except (ValueError, PushError):
        raise PushError(
            error, "The token's header or claims are not strict base64url JSON."
        ) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise PushError(
            error, "The token's header and claims must be JSON objects.", reason="malformed"
        )
    if header.get("alg") != "EdDSA":
        raise PushError(error, "The token must be signed with alg EdDSA.", reason="alg")
    if "crit" in header:
        raise PushError(
            error, "The token has critical header parameters this service refuses.", reason="crit"
        )
    kid = header.get("kid")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    return Unverified(kid if isinstance(kid, str) else "", claims, signing_input, signature)


def check_signature(unverified: Unverified, x: str, error: ErrorCode) -> None:
    if not signatures.verify(x, unverified.signature, unverified.signing_input):
        raise PushError(error, "The token's signature does not verify with the device's key.")


def verify_device_token(
    unverified: Unverified, x: str, *, device_id: str, issuer: str, now: float, kind: Kind
) -> dict[str, Any]:
    """Claims of a device token signed by `x`, checked against the contract; else invalid_token."""
    check_signature(unverified, x, ErrorCode.INVALID_TOKEN)
    claims = unverified.claims
    if claims.get("iss") != device_id:
        raise invalid_token("The token's 'iss' must be the device id named by 'kid'.", "iss")
    if claims.get("aud") != issuer:
        raise invalid_token(f"The token's 'aud' must be the string {issuer!r}.", "aud")
    iat, exp = _times(claims, now)
    if exp <= iat or exp - iat > MAX_LIFETIME:
        raise invalid_token(
            f"The token's 'exp' must be after 'iat' and at most {MAX_LIFETIME} s.", "lifetime"
        )
    if now >= exp:
        raise invalid_token("The token has expired.", "expired")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 16 <= len(jti) <= 128:
        raise invalid_token("The token needs a unique 'jti' string of 16 to 128 characters.", "jti")
    _check_extra(claims, kind)
    return claims


def _times(claims: dict[str, Any], now: float) -> tuple[int, int]:
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int) or _is_bool(iat, exp):
        raise invalid_token(
            "The token's 'iat' and 'exp' must be integers (NumericDate).", "claim_type"
        )
    if abs(now - iat) > MAX_SKEW:
        raise invalid_token(
            f"The token's 'iat' is more than {MAX_SKEW} s from the server's clock.", "iat_skew"
        )
    return iat, exp


def _is_bool(*values: Any) -> bool:
    return any(isinstance(value, bool) for value in values)


# Claims that make a token an answer or a stream login; a token for any other purpose carrying
# them is refused, so an intercepted answer can never be replayed as, say, a key rotation.
_PURPOSE_CLAIMS = {"cid", "decision", "nonce", "number", "fraud"}


def _check_extra(claims: dict[str, Any], kind: Kind) -> None:
    foreign = _PURPOSE_CLAIMS.intersection(claims) - set(kind.value) - _OPTIONAL[kind]
    if foreign:
        raise invalid_token(
            f"The token carries claims of another purpose: {', '.join(sorted(foreign))}.",
            "purpose",
        )
    for name in kind.value:
        if not isinstance(claims.get(name), str) or not claims[name]:
            raise invalid_token(
                f"The token needs the claim {name!r} as a non-empty string.", "claims"
            )
    if kind is not Kind.RESPONSE:
        return
    if claims["decision"] not in ("approve", "deny"):
        raise invalid_token("The token's 'decision' must be 'approve' or 'deny'.", "claims")
    number = claims.get("number")
    if number is not None and not (isinstance(number, str) and _DIGITS.fullmatch(number)):
        raise invalid_token("The token's 'number' must be a string of digits.", "claims")
    fraud = claims.get("fraud")
    if fraud is not None and not isinstance(fraud, bool):
        raise invalid_token("The token's 'fraud' must be true or false.", "claims")
    if fraud and claims["decision"] != "deny":
        raise invalid_token("'fraud' may be true only with decision 'deny'.", "claims")


def verify_proof(token: Any, x: str, *, claims: dict[str, str], now: float) -> None:
    """Check a proof of possession: signed by `x` over exactly `claims` plus a fresh `iat`."""
    unverified = peek(token, error=ErrorCode.INVALID_PROOF)
    check_signature(unverified, x, ErrorCode.INVALID_PROOF)
    body = unverified.claims
    try:
        Fields(body, {*claims, "iat"}, "The proof's claims")
    except PushError as exc:
        raise PushError(ErrorCode.INVALID_PROOF, exc.message) from None
    iat = body.get("iat")
    if not isinstance(iat, int) or _is_bool(iat) or abs(now - iat) > MAX_SKEW:
        raise PushError(ErrorCode.INVALID_PROOF, "The proof needs an integer 'iat' within 60 s.")
    for name, expected in claims.items():
        if not isinstance(body.get(name), str) or not same_secret(body[name], expected):
            raise PushError(ErrorCode.INVALID_PROOF, f"The proof's {name!r} does not match.")
