"""This process's device connections, and delivery to them without ever waiting on a phone.

Each connection owns a bounded outbox drained by its own writer; `offer` never awaits, so one
slow phone cannot stall the fan-out. A connection whose outbox is full is closed: it reconnects
and receives what is still pending. The hub knows nothing of HTTP.
"""

from __future__ import annotations

from typing import Protocol

from . import frames
from .models import Challenge, Device


class Outlet(Protocol):
    """One authenticated device connection, as the hub sees it."""

    device: Device
    shown: set[str]

    def offer(self, frame: str) -> bool:
        """Queue a frame without waiting; False if the outbox is full (the outlet closes)."""

    def close_soon(self, code: int, reason: str) -> None: ...


class Hub:
    def __init__(self) -> None:
        # Tuples, replaced on every change rather than mutated: nearly every user and device
        # holds a single stream, and a one-outlet tuple is a quarter of the size of a set.
        self._by_user: dict[str, tuple[Outlet, ...]] = {}
        self._by_device: dict[str, tuple[Outlet, ...]] = {}

    def add(self, outlet: Outlet) -> None:
        for index, key in self._keys(outlet):
            index[key] = (*index.get(key, ()), outlet)

    def remove(self, outlet: Outlet) -> None:
        for index, key in self._keys(outlet):
            rest = tuple(other for other in index.get(key, ()) if other is not outlet)
            if rest:
                index[key] = rest
            else:
                index.pop(key, None)

    def _keys(self, outlet: Outlet) -> tuple[tuple[dict[str, tuple[Outlet, ...]], str], ...]:
        return (self._by_user, outlet.device.user_id), (self._by_device, outlet.device.device_id)

    def streams_of(self, device_id: str) -> int:
        return len(self._by_device.get(device_id, ()))

    def connected(self, device_id: str) -> bool:
        return device_id in self._by_device

    def count(self) -> int:
        return sum(len(outlets) for outlets in self._by_device.values())

    def device_ids(self) -> list[str]:
        return list(self._by_device)

    def outlets(self) -> list[Outlet]:
        return [outlet for outlets in self._by_device.values() for outlet in outlets]

    def show(self, outlet: Outlet, challenge: Challenge, frame: str | None = None) -> None:
        """Send a challenge to one outlet that may answer it, remembering that it was shown."""
        if not outlet.device.serves(challenge.app_id) or challenge.challenge_id in outlet.shown:
            return
        outlet.shown.add(challenge.challenge_id)
        outlet.offer(frame or frames.challenge(challenge))

    def created(self, challenge: Challenge) -> None:
        frame = frames.challenge(challenge)
        for outlet in self._outlets_of_user(challenge.user_id):
            self.show(outlet, challenge, frame)

    def ended(self, challenge: Challenge) -> None:
        frame = frames.resolved(challenge.challenge_id, challenge.status.value)
        for outlet in self._outlets_of_user(challenge.user_id):
            if challenge.challenge_id not in outlet.shown:
                continue
            outlet.shown.discard(challenge.challenge_id)
            if outlet.device.device_id != challenge.device_id:
                outlet.offer(frame)

    def revoked(self, device_id: str) -> None:
        for outlet in self._by_device.get(device_id, ()):
            outlet.close_soon(frames.CLOSE_REVOKED, "device revoked")

    def _outlets_of_user(self, user_id: str) -> tuple[Outlet, ...]:
        return self._by_user.get(user_id, ())

    def close_all(self, code: int, reason: str) -> None:
        for outlets in list(self._by_device.values()):
            for outlet in outlets:
                outlet.close_soon(code, reason)
