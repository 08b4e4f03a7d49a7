"""Records the service keeps (apps, enrollments, devices, challenges) and their JSON views.

Pure data: no I/O, no clock (times are float epoch seconds passed in). The challenge lifecycle
lives in `lifecycle.py`; storage encodings are `to_record`/`from_record` pairs used by engines.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

T = TypeVar("T")


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Reason(StrEnum):
    USER_DENIED = "user_denied"
    FRAUD_REPORTED = "fraud_reported"
    NUMBER_MISMATCH = "number_mismatch"


def rfc3339(ts: float) -> str:
    """An RFC 3339 UTC time with milliseconds (hot: every view of a challenge formats two)."""
    t = time.gmtime(ts)
    millis = int(ts * 1000) % 1000
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{millis:03d}Z"
    )


@dataclass(frozen=True, slots=True)
class App:
    """`webhook_secrets` sign every callback; `retired_secrets` are replaced ones, still signing
    with until their time (the rotation grace), so receivers can switch secrets without a gap."""

    app_id: str
    name: str
    key_hash: str
    webhook_secrets: tuple[str, ...] = field(repr=False)
    created_at: float
    retired_secrets: tuple[tuple[str, float], ...] = field(default=(), repr=False)

    def public(self) -> dict[str, Any]:
        return {"app_id": self.app_id, "name": self.name, "created_at": rfc3339(self.created_at)}

    def signing_secrets(self, now: float) -> tuple[str, ...]:
        """The secrets a callback sent at `now` is signed with, the newest first."""
        retired = tuple(secret for secret, until in self.retired_secrets if until > now)
        return self.webhook_secrets + retired

    def rotated(self, secret: str, now: float, grace: float) -> App:
        """This app with `secret` as its one current secret; those it replaces sign on until
        `now + grace`, and retired ones whose time has passed are dropped."""
        kept = tuple((s, until) for s, until in self.retired_secrets if until > now)
        replaced = tuple((s, now + grace) for s in self.webhook_secrets) if grace > 0 else ()
        return dataclasses.replace(self, webhook_secrets=(secret,), retired_secrets=replaced + kept)


@dataclass(frozen=True, slots=True)
class Enrollment:
    enrollment_id: str
    code_hash: str
    user_id: str
    app_ids: tuple[str, ...] | None
    created_by: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    user_id: str
    name: str
    public_key: str
    app_ids: tuple[str, ...] | None
    created_at: float
    last_seen_at: float | None = None

    def serves(self, app_id: str) -> bool:
        """Whether this device may answer `app_id`'s challenges (its enrollment scope)."""
        return self.app_ids is None or app_id in self.app_ids

    def public(self, connected: bool) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "name": self.name,
            "created_at": rfc3339(self.created_at),
            "last_seen_at": rfc3339(self.last_seen_at) if self.last_seen_at else None,
            "connected": connected,
            "app_ids": list(self.app_ids) if self.app_ids is not None else None,
        }


@dataclass(frozen=True, slots=True)
class Challenge:
    challenge_id: str
    app_id: str
    app_name: str
    user_id: str
    context: dict[str, str]
    number_matching: bool
    nonce: str
    created_at: float
    expires_at: float
    status: Status = Status.PENDING
    decided_at: float | None = None
    device_id: str | None = None
    reason: Reason | None = None
    response_token: str | None = None
    callback_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pending(self) -> bool:
        return self.status is Status.PENDING

    def public(self, match_number: str | None = None) -> dict[str, Any]:
        """The app's and operator's view; `match_number` only for the owning app while pending."""
        view: dict[str, Any] = {
            "challenge_id": self.challenge_id,
            "app_id": self.app_id,
            "user_id": self.user_id,
            "status": self.status.value,
            "context": self.context,
            "number_matching": self.number_matching,
            "created_at": rfc3339(self.created_at),
            "expires_at": rfc3339(self.expires_at),
        }
        if match_number is not None and self.pending and self.number_matching:
            view["match_number"] = match_number
        if self.decided_at is not None:
            view["decided_at"] = rfc3339(self.decided_at)
        for name in ("device_id", "reason", "response_token", "callback_url"):
            value = getattr(self, name)
            if value is not None:
                view[name] = value
        return view

    def device_view(self) -> dict[str, Any]:
        """What a phone is shown: never the match number."""
        return {
            "challenge_id": self.challenge_id,
            "user_id": self.user_id,
            "app": {"app_id": self.app_id, "name": self.app_name},
            "context": self.context,
            "number_matching": self.number_matching,
            "nonce": self.nonce,
            "created_at": rfc3339(self.created_at),
            "expires_at": rfc3339(self.expires_at),
        }


def to_record(value: Any) -> dict[str, Any]:
    """A flat JSON-able dict of a record, for engines to store. Shallow (unlike
    dataclasses.asdict, which copies every nested value): it is encoded at once and dropped."""
    record = {name: getattr(value, name) for name in _field_names(type(value))}
    for key, item in record.items():
        if isinstance(item, tuple):
            record[key] = list(item)
    return record


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _field_names(kind: type[Any]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return names


def from_record(kind: type[T], record: dict[str, Any]) -> T:
    """Rebuild a record stored by `to_record`, ignoring fields a newer version added."""
    names = _field_names(kind)
    values: dict[str, Any] = {}
    for key, item in record.items():
        if key not in names:
            continue
        values[key] = tuple(item) if isinstance(item, list) else item
    if kind is Challenge:
        values["status"] = Status(values["status"])
        values["reason"] = Reason(values["reason"]) if values.get("reason") else None
    if kind is Delivery:
        values["state"] = DeliveryState(values["state"])
    if kind is App:
        pairs = values.get("retired_secrets", ())
        values["retired_secrets"] = tuple((str(s), float(until)) for s, until in pairs)
    return kind(**values)


class DeliveryState(StrEnum):
    PENDING = "pending"
    FAILING = "failing"
    DEAD = "dead"
    DELIVERED = "delivered"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook event and its delivery so far. `payload` is the exact body of every attempt."""

    delivery_id: str
    app_id: str
    challenge_id: str
    url: str
    event_type: str
    payload: str
    created_at: float
    next_at: float
    deadline: float
    attempts: int = 0
    state: DeliveryState = DeliveryState.PENDING
    last_error: str | None = None
    last_status: int | None = None

    def public(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "app_id": self.app_id,
            "challenge_id": self.challenge_id,
            "url": self.url,
            "type": self.event_type,
            "state": self.state.value,
            "attempts": self.attempts,
            "created_at": rfc3339(self.created_at),
            "next_attempt_at": rfc3339(self.next_at) if self.state in _SCHEDULED else None,
            "last_error": self.last_error,
            "last_status": self.last_status,
        }


_SCHEDULED = (DeliveryState.PENDING, DeliveryState.FAILING)
