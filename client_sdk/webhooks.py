"""Verification of the service's signed callbacks (Standard Webhooks, scheme v1).

The signature is HMAC-SHA256 over ``{webhook-id}.{webhook-timestamp}.{body}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from .errors import WebhookVerificationError

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format prefix, not a secret)
DEFAULT_TOLERANCE_SECONDS = 300


def _secret_key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def verify_webhook(
    secret: str | list[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a callback's signature and timestamp, and return its JSON payload.

    Args:
        secret: The app's ``webhook_secret`` (``whsec_...``), or several (e.g. during a
            secret change): any one of them may have signed.
        headers: The request headers; ``webhook-id``, ``webhook-timestamp`` and
            ``webhook-signature`` are read, whatever their case.
        body: The raw request body, exactly as received.
        tolerance: Largest accepted distance, in seconds, between the timestamp and now.
        now: The current Unix time (defaults to the clock).

    Returns:
        The decoded payload, e.g. ``{"type": "challenge.approved", "timestamp", "data"}``.

    Raises:
        WebhookVerificationError: If a header is missing, the timestamp is outside the
            tolerance, no signature matches, or the body is not a JSON object.
        ValueError: If a secret is not in the ``whsec_<base64>`` form.
    """
    candidates = [secret] if isinstance(secret, str) else list(secret)
    if not candidates:
        raise ValueError("at least one webhook secret is needed")
    keys = [_secret_key(item) for item in candidates]
    lowered = _lower_headers(headers)
    msg_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise WebhookVerificationError("The webhook headers are missing.")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("The webhook timestamp is not a number.") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        raise WebhookVerificationError("The webhook timestamp is outside the tolerance.")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = [hmac.new(key, signed, hashlib.sha256).digest() for key in keys]
    if not _any_signature_matches(signatures, expected):
        raise WebhookVerificationError("No webhook signature matches.")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookVerificationError("The webhook body is not JSON.") from None
    if not isinstance(payload, dict):
        raise WebhookVerificationError("The webhook body is not a JSON object.")
    return payload


def _any_signature_matches(header: str, expected: list[bytes]) -> bool:
    matched = False
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        for digest in expected:
            # Keep comparing after a match, so timing does not reveal which entry matched.
            matched |= hmac.compare_digest(candidate, digest)
    return matched
