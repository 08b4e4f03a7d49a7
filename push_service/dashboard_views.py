"""What the operator feed shows of a challenge or a device, and the frames it sends for events.

Pure: no I/O. The views leave out everything secret or noisy: match numbers (never asked for),
nonces, response tokens and callback URLs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .engine.base import ChallengeCreated, ChallengeEnded, DeviceRevoked
from .models import Challenge, Device, rfc3339

RATE_WINDOW = 60.0
"""Seconds over which challenges created per app are counted."""

_LEFT_OUT = ("response_token", "callback_url")


def challenge(item: Challenge) -> dict[str, Any]:
    view = item.public()  # no match number is passed, so none can appear
    for name in _LEFT_OUT:
        view.pop(name, None)
    view["app_name"] = item.app_name
    return view


def device(item: Device, connected: bool) -> dict[str, Any]:
    return {
        "device_id": item.device_id,
        "user_id": item.user_id,
        "name": item.name,
        "connected": connected,
    }


def presence(device_id: str, user_id: str, name: str | None, connected: bool) -> dict[str, Any]:
    """A device came online or went offline; `name` is None when the device is gone."""
    body = {"device_id": device_id, "user_id": user_id, "name": name, "connected": connected}
    return {"type": "device.presence", "device": body}


def created(event: ChallengeCreated) -> dict[str, Any]:
    return {"type": "challenge.created", "challenge": challenge(event.challenge)}


def ended(event: ChallengeEnded) -> dict[str, Any]:
    return {"type": "challenge.ended", "challenge": challenge(event.challenge)}


def revoked(event: DeviceRevoked) -> dict[str, Any]:
    return {"type": "device.revoked", "device_id": event.device_id, "user_id": event.user_id}


def rates(latest: Iterable[Challenge], now: float) -> dict[str, Any]:
    """Challenges created per app within RATE_WINDOW of `now`, each with its id and time, so
    a browser can age them out and merge live `challenge.created` events without counting twice.
    """
    apps: dict[str, dict[str, Any]] = {}
    for item in latest:
        if item.created_at <= now - RATE_WINDOW:
            continue
        entry = apps.setdefault(item.app_id, {"name": item.app_name, "count": 0, "created": []})
        entry["count"] += 1
        entry["created"].append(
            {"challenge_id": item.challenge_id, "created_at": rfc3339(item.created_at)}
        )
    return {"window_seconds": int(RATE_WINDOW), "apps": apps}
