"""The engine interface: where state lives and how events reach every instance.

Engines store and fan out; they never decide. Every rule is computed by `lifecycle` before an
engine is called, and an engine's only judgement is atomic: "still pending?" when finishing a
challenge, "seen before?" for a jti, "under the limits?" when creating one. Two implementations
(memory, Redis) are held to one contract suite in tests/engine.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..audit import AuditEvent, AuditQuery
from ..errors import ErrorCode, PushError, invalid_token
from ..fatigue import NO_CHANGE, Change, Policy, Standing
from ..models import App, Challenge, Delivery, DeliveryState, Device, Enrollment


@dataclass(frozen=True, slots=True)
class ChallengeCreated:
    challenge: Challenge


@dataclass(frozen=True, slots=True)
class ChallengeEnded:
    challenge: Challenge


@dataclass(frozen=True, slots=True)
class DeviceRevoked:
    device_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class DevicePresence:
    """A device's stream opened or closed on some instance (for live operator views)."""

    device_id: str
    user_id: str
    online: bool


@dataclass(frozen=True, slots=True)
class AppDeleted:
    """An app was deleted: every instance forgets what it cached of it."""

    app_id: str


@dataclass(frozen=True, slots=True)
class Resynced:
    """Events may have been missed (the event channel was lost and is back): re-read state."""


Event = ChallengeCreated | ChallengeEnded | DeviceRevoked | DevicePresence | AppDeleted | Resynced
Listener = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class Limits:
    """Push-bombing limits checked atomically with the creation of a challenge."""

    max_pending: int
    rate_limit: int
    rate_window: int
    policy: Policy


@dataclass(frozen=True, slots=True)
class Created:
    """What `create_challenge` did: the challenge, and False when an idempotency key matched."""

    challenge: Challenge
    new: bool


@dataclass(frozen=True, slots=True)
class TokenUse:
    """A device token's id, remembered until the token expires so it is never accepted twice."""

    device_id: str
    jti: str
    expires_at: float
    now: float


@dataclass(frozen=True, slots=True)
class AnswerContext:
    """What judging a phone's answer needs, read together: the device its `kid` names (if
    active), the challenge it answers (if any), and whether its `jti` was seen before."""

    device: Device | None
    challenge: Challenge | None
    replayed: bool


def no_devices() -> PushError:
    return PushError(ErrorCode.NO_DEVICES, "The user has no active device enrolled for this app.")


def replayed() -> PushError:
    return invalid_token("The token's 'jti' was used before; every token is single use.", "replay")


def too_many_pending(limits: Limits) -> PushError:
    return PushError(
        ErrorCode.TOO_MANY_PENDING,
        f"The user already has {limits.max_pending} pending challenges; wait for one.",
    )


def too_frequent(retry_after: int) -> PushError:
    return PushError(
        ErrorCode.RATE_LIMITED,
        f"Too many challenges for this user; try again in {retry_after} s.",
        retry_after=retry_after,
    )


IDEMPOTENCY_TTL = 24 * 3600
ENROLLMENT_ATTEMPTS = 5


class Engine(Protocol):
    """Storage and fan-out. Raises PushError(unavailable) when its store cannot be reached."""

    async def start(self, listener: Listener) -> None:
        """Connect, and deliver every event from any instance to `listener` from now on."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Return when the store answers; raise PushError(unavailable) otherwise."""

    async def match_key(self) -> bytes:
        """The key match numbers are derived with, the same on every instance."""

    # Apps
    async def add_app(self, app: App) -> None: ...
    async def get_app(self, app_id: str) -> App | None: ...
    async def app_by_key_hash(self, key_hash: str) -> App | None: ...
    async def list_apps(self) -> list[App]: ...
    async def delete_app(self, app_id: str) -> bool: ...

    # Enrollments and devices
    async def add_enrollment(self, enrollment: Enrollment, now: float) -> None: ...

    async def get_enrollment(self, code_hash: str, now: float) -> Enrollment | None:
        """The enrollment if it is unused, unexpired and not burned."""

    async def fail_enrollment(self, code_hash: str) -> None:
        """Count a failed use; the code is burned at ENROLLMENT_ATTEMPTS."""

    async def redeem_enrollment(self, code_hash: str, device: Device, now: float) -> bool:
        """Consume the code and add `device`, atomically; False if the code was already gone."""

    async def get_device(self, device_id: str) -> Device | None:
        """An active (not revoked) device."""

    async def list_devices(self, user_id: str) -> list[Device]: ...

    async def revoke_device(self, device_id: str) -> Device | None:
        """Revoke and announce DeviceRevoked everywhere; None if it was not active."""

    async def rotate_key(self, device_id: str, public_key: str) -> bool: ...
    async def touch_device(self, device_id: str, now: float) -> None: ...

    async def use_jti(self, device_id: str, jti: str, expires_at: float, now: float) -> bool:
        """Remember a token id until it expires; False if it was already seen, or if the
        device is not active (its tokens are good for nothing)."""

    async def answer_context(
        self, device_id: str, challenge_id: str, jti: str, now: float
    ) -> AnswerContext:
        """The device, the challenge and whether `jti` was seen, in one read (one round trip
        on Redis once the ids' owners are known): answering is the hot path of every flow."""

    # Challenges
    async def create_challenge(
        self, challenge: Challenge, limits: Limits, idempotency_key: str | None, now: float
    ) -> Created:
        """Store and announce a new challenge, or return the one an idempotency key names.

        Checks, atomically with the write: that the user has an active device serving the
        app, the pending cap, the rate window and the user's standing (`fatigue.refusal`), and
        counts the push in the standing. Raises PushError(no_devices), (too_many_pending),
        (rate_limited, retry_after=...) or the standing's refusal.
        """

    async def get_challenge(self, challenge_id: str) -> Challenge | None: ...
    async def pending_for_user(self, user_id: str) -> list[Challenge]: ...

    async def list_challenges(
        self, *, status: str | None, app_id: str | None, user_id: str | None, limit: int
    ) -> list[Challenge]: ...

    async def finish(
        self,
        ended: Challenge,
        delivery: Delivery | None = None,
        change: Change = NO_CHANGE,
        spend: TokenUse | None = None,
    ) -> bool:
        """Store `ended` (a terminal state) iff the stored challenge is still pending, announce
        ChallengeEnded, enqueue `delivery` and apply `change` to the user's standing, all in
        one atomic step; False when another transition got there first (then nothing else).

        `spend` is the answer's token id: remembered in the same step, and if it was seen
        before, PushError(invalid_token, replay) and nothing changes. The device and the
        challenge belong to one user (the judge checked), so on Redis it lives in that slot."""

    async def due(self, now: float, limit: int) -> list[Challenge]:
        """Pending challenges whose deadline has passed (some may be finished meanwhile)."""

    # Webhook outbox
    async def claim_deliveries(self, now: float, lease: float, limit: int) -> list[Delivery]:
        """Due deliveries, leased to the caller: each is hidden from other claims until
        `now + lease`, so a sender that dies mid-delivery is replaced when the lease ends."""

    async def save_delivery(self, delivery: Delivery) -> None:
        """Store a delivery's new state; a scheduled one (pending, failing) is due at `next_at`."""

    async def get_delivery(self, delivery_id: str) -> Delivery | None: ...

    async def list_deliveries(self, state: DeliveryState | None, limit: int) -> list[Delivery]:
        """Newest first."""

    # Push-fatigue standing
    async def get_standing(self, user_id: str) -> Standing: ...

    async def reset_standing(self, user_id: str) -> None:
        """Clear strikes, the push count and any fraud lock (an operator's decision)."""

    # Presence: which devices hold a stream to some instance
    async def present(self, instance_id: str, device_ids: Collection[str], until: float) -> None:
        """Declare these devices connected to `instance_id` until `until` (refreshed regularly,
        so an instance that dies stops counting once `until` passes)."""

    async def absent(self, instance_id: str, device_id: str) -> None: ...
    async def connected(self, device_ids: Collection[str], now: float) -> set[str]: ...

    async def announce(self, event: Event) -> None:
        """Deliver an event the service made (presence changes) to every instance."""

    # Audit trail
    async def append_audit(self, events: Sequence[AuditEvent], keep: int) -> None:
        """Append events, keeping about the newest `keep`."""

    async def read_audit(self, query: AuditQuery) -> list[AuditEvent]:
        """Newest first, older than `query.before` (an event_id) when given."""
