"""Typed events a device stream yields, and parsing of the service's stream messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .models import DeviceChallenge, Fields


@dataclass(frozen=True)
class Ready:
    """The service accepted the device's authentication; challenges follow.

    ``reconnected`` is True when this is not the stream's first connection.
    """

    device_id: str
    reconnected: bool = False


@dataclass(frozen=True)
class ChallengeEvent:
    """A pending challenge for the device's user, to show and answer."""

    challenge: DeviceChallenge


@dataclass(frozen=True)
class Result:
    """The status that the device's own response produced for a challenge."""

    challenge_id: str
    status: str

    @classmethod
    def from_json(cls, data: object) -> Result:
        """Build a result from ``{"challenge_id", "status"}``.

        Args:
            data: The decoded object (a stream ``result`` message or an HTTP answer).

        Returns:
            The result; unknown members are ignored.

        Raises:
            ValueError: If a contract field is missing or has the wrong type.
        """
        f = Fields(data, "response result")
        return cls(challenge_id=f.text("challenge_id"), status=f.text("status"))


@dataclass(frozen=True)
class Resolved:
    """A challenge shown to this device ended without its answer.

    It was answered on another device, expired or was cancelled; ``status`` says which.
    """

    challenge_id: str
    status: str


@dataclass(frozen=True)
class StreamError:
    """The service refused something the device sent (usually a response) on the stream."""

    code: str
    message: str
    challenge_id: str | None = None


@dataclass(frozen=True)
class Disconnected:
    """The connection dropped; the stream reconnects by itself after ``retry_in`` seconds.

    ``attempt`` counts reconnection attempts since the last stable connection (1 for the first).
    """

    reason: str
    attempt: int
    retry_in: float


StreamEvent = Ready | ChallengeEvent | Result | Resolved | StreamError | Disconnected


def parse_event(data: Any, *, reconnected: bool = False) -> StreamEvent | None:
    """Turn one decoded server message into a typed event.

    Args:
        data: The decoded JSON message.
        reconnected: Value for `Ready.reconnected` when the message is ``ready``.

    Returns:
        The event, or None for message types this SDK does not know (the contract can grow).

    Raises:
        ValueError: If a known message type lacks a contract field or has a wrong type.
    """
    f = Fields(data, "stream message")
    kind = f.text("type")
    if kind == "ready":
        return Ready(device_id=f.text("device_id"), reconnected=reconnected)
    if kind == "challenge":
        return ChallengeEvent(DeviceChallenge.from_json(data.get("challenge")))
    if kind == "result":
        return Result.from_json(data)
    if kind == "resolved":
        return Resolved(challenge_id=f.text("challenge_id"), status=f.text("status"))
    if kind == "error":
        return StreamError(
            code=f.text("code"),
            message=f.opt_text("message") or f.text("code"),
            challenge_id=f.opt_text("challenge_id"),
        )
    return None
