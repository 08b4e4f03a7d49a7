"""Exceptions raised by the push approval SDK.

The service's own refusals become `PushApprovalError`; local problems have their own types.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

# Codes the SDK uses for failures that never reached (or never came back from) the service.
# They are distinct from the contract's codes, and `status` is None for all but HTTP_ERROR
# and INVALID_RESPONSE.
CONNECTION_ERROR = "connection_error"
HTTP_ERROR = "http_error"
INVALID_RESPONSE = "invalid_response"
NOT_CONNECTED = "not_connected"
DEVICE_REVOKED = "device_revoked"


class PushApprovalError(Exception):
    """An error answer from the push approval service, or a failure to reach it.

    Attributes:
        code: The contract's error code (e.g. ``"no_devices"``), or one of the SDK's own codes
            (``connection_error``, ``http_error``, ``invalid_response``, ``not_connected``,
            ``device_revoked``) when the service did not give one.
        message: One human sentence describing the error.
        status: The HTTP status of the answer, or None when there was no HTTP answer.
        retry_after: Seconds to wait before retrying, from the ``Retry-After`` header, if any.
        close_code: The websocket close code, when the error ended a device stream.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        close_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.close_code = close_code

    def __str__(self) -> str:
        return f"{self.message} ({self.code})"

    def __repr__(self) -> str:
        return (
            f"PushApprovalError(code={self.code!r}, message={self.message!r}, "
            f"status={self.status!r}, retry_after={self.retry_after!r})"
        )

    @classmethod
    def from_response(
        cls, status: int, body: Any, headers: Mapping[str, str] | None = None
    ) -> PushApprovalError:
        """Build the error for a non-2xx HTTP answer.

        Args:
            status: The HTTP status code.
            body: The decoded JSON body, or None when the body was not JSON.
            headers: The answer's headers (case-insensitive mapping preferred); only
                ``Retry-After`` is read.

        Returns:
            The error carrying the contract's ``code`` and ``message`` when the body has the
            contract's error shape, else code ``http_error`` with a generic message.
        """
        retry_after = parse_retry_after(_header(headers, "Retry-After"))
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
            if isinstance(code, str) and code:
                text = message if isinstance(message, str) and message else code
                return cls(code, text, status=status, retry_after=retry_after)
        return cls(
            HTTP_ERROR,
            f"The service answered with HTTP {status}.",
            status=status,
            retry_after=retry_after,
        )


class KeyFileError(Exception):
    """The device key file is missing, unreadable, malformed or not private to its owner."""


class EnrollmentURIError(ValueError):
    """An enrollment URI is not a valid ``pushapproval://enroll?...`` URI."""


class WebhookVerificationError(Exception):
    """A webhook request's signature, timestamp or body does not verify."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Parse a ``Retry-After`` header value.

    Args:
        value: The header value: delay seconds or an HTTP date; None when absent.
        now: The current Unix time, for HTTP dates (defaults to the clock).

    Returns:
        Non-negative seconds to wait, or None when the value is absent or unreadable.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in headers.items():
        if key.lower() == lowered:
            return item
    return None
