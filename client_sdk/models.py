"""Typed, immutable views of the objects the push approval service returns.

Each model reads the contract's fields and ignores any others, so the contract can grow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

PENDING: Final = "pending"
APPROVED: Final = "approved"
DENIED: Final = "denied"
EXPIRED: Final = "expired"
CANCELLED: Final = "cancelled"
TERMINAL_STATUSES: Final = frozenset({APPROVED, DENIED, EXPIRED, CANCELLED})


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 timestamp into an aware datetime.

    Args:
        value: A string such as ``"2026-12-03T15:40:00Z"``.

    Returns:
        The time as an aware datetime (in the offset given, normally UTC).

    Raises:
        ValueError: If the value is not an RFC 3339 timestamp with a time zone.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None or "T" not in value.upper():
        raise ValueError(f"{value!r} is not an RFC 3339 time with a time zone")
    return parsed


class Fields:
    """Typed access to one JSON object's members, with errors naming the object and field.

    Every accessor raises ValueError when the member is missing (unless optional) or has the
    wrong type; optional accessors return None for a missing or null member.
    """

    def __init__(self, data: object, what: str) -> None:
        if not isinstance(data, Mapping):
            raise ValueError(f"{what} is not a JSON object")
        self._data: Mapping[str, Any] = data
        self._what = what

    def _get(self, name: str, kind: type | tuple[type, ...], optional: bool) -> Any:
        value = self._data.get(name)
        if value is None and optional:
            return None
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ValueError(f"{self._what}: field {name!r} is missing or has the wrong type")
        return value

    def text(self, name: str) -> str:
        """Return a required string member."""
        value: str = self._get(name, str, False)
        return value

    def opt_text(self, name: str) -> str | None:
        """Return an optional string member."""
        value: str | None = self._get(name, str, True)
        return value

    def flag(self, name: str, default: bool | None = None) -> bool:
        """Return a boolean member; ``default`` (when given) stands in for a missing one."""
        if default is not None and self._data.get(name) is None:
            return default
        value: bool = self._get(name, bool, False)
        return value

    def time(self, name: str) -> datetime:
        """Return a required RFC 3339 time member as an aware datetime."""
        return parse_time(self.text(name))

    def opt_time(self, name: str) -> datetime | None:
        """Return an optional RFC 3339 time member as an aware datetime."""
        value = self.opt_text(name)
        return None if value is None else parse_time(value)

    def digits(self, name: str) -> str | None:
        """Return an optional number member (string or integer) as a string."""
        value = self._get(name, (str, int), True)
        return None if value is None else str(value)

    def context(self, name: str) -> dict[str, str]:
        """Return an object of strings (empty when missing)."""
        value = self._data.get(name)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ValueError(f"{self._what}: field {name!r} is not an object of strings")
        return dict(value)

    def items(self, name: str) -> list[Any]:
        """Return a required list member."""
        value: list[Any] = self._get(name, list, False)
        return value

    def opt_texts(self, name: str) -> tuple[str, ...] | None:
        """Return an optional list of strings as a tuple."""
        value = self._get(name, list, True)
        if value is not None and not all(isinstance(item, str) for item in value):
            raise ValueError(f"{self._what}: field {name!r} is not a list of strings")
        return None if value is None else tuple(value)

    def obj(self, name: str) -> Fields:
        """Return a nested object member for typed access."""
        return Fields(self._data.get(name), f"{self._what}.{name}")


@dataclass(frozen=True)
class Challenge:
    """A challenge as its relying app (or an operator) sees it.

    ``match_number`` is present only for the app that created the challenge, while it is
    pending. ``decided_at``, ``device_id``, ``reason`` and ``response_token`` are None until
    (and unless) the service sets them.
    """

    challenge_id: str
    app_id: str
    user_id: str
    status: str
    context: dict[str, str]
    number_matching: bool
    created_at: datetime
    expires_at: datetime
    match_number: str | None = None
    decided_at: datetime | None = None
    device_id: str | None = None
    reason: str | None = None
    response_token: str | None = None

    @property
    def is_pending(self) -> bool:
        """True while the challenge waits for an answer."""
        return self.status == PENDING

    @property
    def approved(self) -> bool:
        """True only when the user approved the challenge."""
        return self.status == APPROVED

    @classmethod
    def from_json(cls, data: object) -> Challenge:
        """Build a challenge from the service's JSON object.

        Args:
            data: The decoded challenge object.

        Returns:
            The challenge; unknown members are ignored.

        Raises:
            ValueError: If a contract field is missing or has the wrong type.
        """
        f = Fields(data, "challenge")
        return cls(
            challenge_id=f.text("challenge_id"),
            app_id=f.text("app_id"),
            user_id=f.text("user_id"),
            status=f.text("status"),
            context=f.context("context"),
            number_matching=f.flag("number_matching", default=True),
            created_at=f.time("created_at"),
            expires_at=f.time("expires_at"),
            match_number=f.digits("match_number"),
            decided_at=f.opt_time("decided_at"),
            device_id=f.opt_text("device_id"),
            reason=f.opt_text("reason"),
            response_token=f.opt_text("response_token"),
        )


@dataclass(frozen=True)
class AppInfo:
    """The relying app a device challenge comes from, as named in the service's registry."""

    app_id: str
    name: str


@dataclass(frozen=True)
class DeviceChallenge:
    """A challenge as a device sees it: what to show the user, and the nonce to answer with.

    The match number is never part of it: the user reads it from the login screen.
    """

    challenge_id: str
    user_id: str
    app: AppInfo
    context: dict[str, str]
    number_matching: bool
    nonce: str
    created_at: datetime
    expires_at: datetime

    def seconds_left(self, now: datetime | None = None) -> float:
        """Return the seconds until the challenge expires (negative once it has).

        Args:
            now: The current time (defaults to the clock).
        """
        current = datetime.now(UTC) if now is None else now
        return (self.expires_at - current).total_seconds()

    @classmethod
    def from_json(cls, data: object) -> DeviceChallenge:
        """Build a device challenge from the service's device view.

        Args:
            data: The decoded device view object.

        Returns:
            The device challenge; unknown members are ignored.

        Raises:
            ValueError: If a contract field is missing or has the wrong type.
        """
        f = Fields(data, "device challenge")
        app = f.obj("app")
        return cls(
            challenge_id=f.text("challenge_id"),
            user_id=f.text("user_id"),
            app=AppInfo(app_id=app.text("app_id"), name=app.text("name")),
            context=f.context("context"),
            number_matching=f.flag("number_matching", default=True),
            nonce=f.text("nonce"),
            created_at=f.time("created_at"),
            expires_at=f.time("expires_at"),
        )


@dataclass(frozen=True)
class Enrollment:
    """A single-use enrollment code for a user, and the URI to show as a QR code.

    ``app_ids`` are the apps whose challenges the enrolled device will answer; None means
    every app (an operator's enrollment without a scope), or a service that did not say.
    """

    enrollment_id: str
    user_id: str
    code: str
    uri: str
    expires_at: datetime
    app_ids: tuple[str, ...] | None = None

    @classmethod
    def from_json(cls, data: object) -> Enrollment:
        """Build an enrollment from the service's JSON object.

        Args:
            data: The decoded enrollment object.

        Returns:
            The enrollment; unknown members are ignored.

        Raises:
            ValueError: If a contract field is missing or has the wrong type.
        """
        f = Fields(data, "enrollment")
        return cls(
            enrollment_id=f.text("enrollment_id"),
            user_id=f.text("user_id"),
            code=f.text("code"),
            uri=f.text("uri"),
            expires_at=f.time("expires_at"),
            app_ids=f.opt_texts("app_ids"),
        )


@dataclass(frozen=True)
class EnrolledDevice:
    """The service's answer to a successful device enrollment."""

    device_id: str
    user_id: str
    issuer: str

    @classmethod
    def from_json(cls, data: object) -> EnrolledDevice:
        """Build the enrollment answer from the service's JSON object.

        Args:
            data: The decoded ``{"device_id", "user_id", "issuer"}`` object.

        Returns:
            The enrolled device; unknown members are ignored.

        Raises:
            ValueError: If a contract field is missing or has the wrong type.
        """
        f = Fields(data, "enrolled device")
        return cls(
            device_id=f.text("device_id"), user_id=f.text("user_id"), issuer=f.text("issuer")
        )


@dataclass(frozen=True)
class AuditPage:
    """One page of the audit trail, newest event first.

    Each event is the service's object: ``{"event_id", "at", "kind", "actor"}`` and, when they
    apply, ``app_id``, ``user_id``, ``device_id``, ``challenge_id``, ``source`` and ``detail``
    (an object of short strings). ``next_before`` is set when older events may follow: pass it
    as ``before`` to read the next page.
    """

    events: list[dict[str, Any]]
    next_before: str | None = None

    @classmethod
    def from_json(cls, data: object) -> AuditPage:
        """Build a page from the service's ``{"events": [...], "next_before"?}`` object.

        Args:
            data: The decoded answer.

        Returns:
            The page; unknown members are ignored.

        Raises:
            ValueError: If ``events`` is not a list of objects that each carry an
                ``event_id``, or ``next_before`` is not a string.
        """
        f = Fields(data, "audit page")
        events = f.items("events")
        for event in events:
            Fields(event, "audit event").text("event_id")
        return cls(events=list(events), next_before=f.opt_text("next_before"))
