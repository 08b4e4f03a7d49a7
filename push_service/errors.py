"""The service's one error type and the contract's error codes.

Every refusal is a `PushError` carrying an `ErrorCode`; the edge (HTTP middleware, websocket
handler) maps codes to statuses through `HTTP_STATUS`, the only such table. Nothing here does I/O.

    PushError(code, message, retry_after=None)
      code: ErrorCode  ->  HTTP_STATUS[code]
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_REQUEST = "invalid_request"
    INVALID_ENROLLMENT = "invalid_enrollment"
    INVALID_PROOF = "invalid_proof"
    INVALID_KEY = "invalid_key"
    CALLBACK_URL_REJECTED = "callback_url_rejected"
    UNAUTHORIZED = "unauthorized"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 (an error code, not a secret)
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CHALLENGE_NOT_PENDING = "challenge_not_pending"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    NO_DEVICES = "no_devices"
    TOO_MANY_PENDING = "too_many_pending"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    REQUEST_TIMEOUT = "request_timeout"  # an extension: a client too slow to send its request


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.INVALID_ENROLLMENT: 400,
    ErrorCode.INVALID_PROOF: 400,
    ErrorCode.INVALID_KEY: 400,
    ErrorCode.CALLBACK_URL_REJECTED: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.INVALID_TOKEN: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CHALLENGE_NOT_PENDING: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.NO_DEVICES: 422,
    ErrorCode.TOO_MANY_PENDING: 429,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.REQUEST_TIMEOUT: 408,
}


class PushError(Exception):
    """A refusal the client is told about: a contract error code and one clear sentence."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        retry_after: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.reason = reason or code.value
        """A short, fixed slug for metrics and audit (the message may carry values)."""

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]

    def body(self) -> dict[str, object]:
        return {"error": {"code": self.code.value, "message": self.message}}

    def __repr__(self) -> str:
        return f"PushError({self.code.value!r}, {self.message!r})"


def invalid(message: str) -> PushError:
    return PushError(ErrorCode.INVALID_REQUEST, message)


def not_found(what: str) -> PushError:
    return PushError(ErrorCode.NOT_FOUND, f"No such {what}.")


def invalid_token(message: str, reason: str) -> PushError:
    return PushError(ErrorCode.INVALID_TOKEN, message, reason=reason)
