"""The in-process engine: all state in this process's memory, events delivered synchronously.

The default for one instance: nothing to install, nothing survives a restart. Atomicity comes
free: no method awaits between its check and its write.
"""

from __future__ import annotations

import dataclasses
import heapq
import secrets
from collections import defaultdict, deque
from collections.abc import Collection, Sequence

from .. import fatigue
from ..audit import AuditEvent, AuditQuery
from ..fatigue import NO_CHANGE, Change, Standing
from ..models import App, Challenge, Delivery, DeliveryState, Device, Enrollment
from .base import (
    ENROLLMENT_ATTEMPTS,
    IDEMPOTENCY_TTL,
    AnswerContext,
    ChallengeCreated,
    ChallengeEnded,
    Created,
    DeviceRevoked,
    Event,
    Limits,
    Listener,
    TokenUse,
    no_devices,
    replayed,
    too_frequent,
    too_many_pending,
)

RETENTION = 24 * 3600


class MemoryEngine:
    def __init__(self) -> None:
        self._listener: Listener | None = None
        self._key = secrets.token_bytes(32)
        self._apps: dict[str, App] = {}
        self._by_key_hash: dict[str, str] = {}
        self._enrollments: dict[str, Enrollment] = {}
        self._attempts: dict[str, int] = {}
        self._devices: dict[str, Device] = {}
        self._user_devices: defaultdict[str, set[str]] = defaultdict(set)
        self._jti: dict[str, float] = {}
        self._challenges: dict[str, Challenge] = {}
        self._pending: defaultdict[str, set[str]] = defaultdict(set)
        self._deadlines: list[tuple[float, str]] = []
        self._recent: defaultdict[str, deque[float]] = defaultdict(deque)
        self._idempotency: dict[str, str] = {}
        self._forget: list[tuple[float, str, str]] = []
        self._deliveries: dict[str, Delivery] = {}
        self._standing: dict[str, Standing] = {}
        self._presence: defaultdict[str, dict[str, float]] = defaultdict(dict)
        self._audit: deque[AuditEvent] = deque()
        self._schedule: list[tuple[float, str]] = []

    async def start(self, listener: Listener) -> None:
        self._listener = listener

    async def close(self) -> None:
        self._listener = None

    async def ping(self) -> None:
        return None

    async def match_key(self) -> bytes:
        return self._key

    def _announce(self, event: Event) -> None:
        if self._listener is not None:
            self._listener(event)

    # Apps
    async def add_app(self, app: App) -> None:
        self._apps[app.app_id] = app
        self._by_key_hash[app.key_hash] = app.app_id

    async def get_app(self, app_id: str) -> App | None:
        return self._apps.get(app_id)

    async def app_by_key_hash(self, key_hash: str) -> App | None:
        app = self._apps.get(self._by_key_hash.get(key_hash, ""))
        return app if app is not None and app.key_hash == key_hash else None

    async def list_apps(self) -> list[App]:
        return sorted(self._apps.values(), key=lambda a: a.created_at)

    async def delete_app(self, app_id: str) -> bool:
        app = self._apps.pop(app_id, None)
        if app is not None:
            self._by_key_hash.pop(app.key_hash, None)
        return app is not None

    # Enrollments and devices
    async def add_enrollment(self, enrollment: Enrollment, now: float) -> None:
        self._enrollments[enrollment.code_hash] = enrollment
        self._later(enrollment.expires_at, "enrollment", enrollment.code_hash)

    async def get_enrollment(self, code_hash: str, now: float) -> Enrollment | None:
        enrollment = self._enrollments.get(code_hash)
        if enrollment is None or enrollment.expires_at <= now:
            return None
        return enrollment

    async def fail_enrollment(self, code_hash: str) -> None:
        self._attempts[code_hash] = self._attempts.get(code_hash, 0) + 1
        if self._attempts[code_hash] >= ENROLLMENT_ATTEMPTS:
            self._enrollments.pop(code_hash, None)

    async def redeem_enrollment(self, code_hash: str, device: Device, now: float) -> bool:
        if await self.get_enrollment(code_hash, now) is None:
            return False
        del self._enrollments[code_hash]
        self._devices[device.device_id] = device
        self._user_devices[device.user_id].add(device.device_id)
        return True

    async def get_device(self, device_id: str) -> Device | None:
        return self._devices.get(device_id)

    async def list_devices(self, user_id: str) -> list[Device]:
        devices = (self._devices[d] for d in self._user_devices.get(user_id, ()))
        return sorted(devices, key=lambda d: d.created_at)

    async def revoke_device(self, device_id: str) -> Device | None:
        device = self._devices.pop(device_id, None)
        if device is not None:
            self._user_devices[device.user_id].discard(device_id)
            self._announce(DeviceRevoked(device_id, device.user_id))
        return device

    async def rotate_key(self, device_id: str, public_key: str) -> bool:
        device = self._devices.get(device_id)
        if device is None:
            return False
        self._devices[device_id] = dataclasses.replace(device, public_key=public_key)
        return True

    async def touch_device(self, device_id: str, now: float) -> None:
        device = self._devices.get(device_id)
        if device is not None:
            self._devices[device_id] = dataclasses.replace(device, last_seen_at=now)

    async def use_jti(self, device_id: str, jti: str, expires_at: float, now: float) -> bool:
        if device_id not in self._devices:
            return False  # Revoked: nothing may be done with its tokens.
        return self._spend(TokenUse(device_id, jti, expires_at, now))

    def _spend(self, use: TokenUse) -> bool:
        if self._seen(use.device_id, use.jti, use.now):
            return False
        key = f"{use.device_id}\x00{use.jti}"
        self._jti[key] = use.expires_at
        self._later(use.expires_at, "jti", key)
        return True

    def _seen(self, device_id: str, jti: str, now: float) -> bool:
        return self._jti.get(f"{device_id}\x00{jti}", 0.0) > now

    async def answer_context(
        self, device_id: str, challenge_id: str, jti: str, now: float
    ) -> AnswerContext:
        return AnswerContext(
            self._devices.get(device_id),
            self._challenges.get(challenge_id),
            self._seen(device_id, jti, now),
        )

    # Challenges
    async def create_challenge(
        self, challenge: Challenge, limits: Limits, idempotency_key: str | None, now: float
    ) -> Created:
        # Scoped to the app and the user, as on Redis where the key lives in the user's slot.
        idem = (
            f"{challenge.app_id}\x00{challenge.user_id}\x00{idempotency_key}"
            if idempotency_key
            else None
        )
        earlier = self._idempotency.get(idem) if idem else None
        if earlier is not None and earlier in self._challenges:
            return Created(self._challenges[earlier], new=False)
        devices = (self._devices[d] for d in self._user_devices.get(challenge.user_id, ()))
        if not any(d.serves(challenge.app_id) for d in devices):
            raise no_devices()
        self._check_limits(challenge.user_id, limits, now)
        standing = self._standing.get(challenge.user_id, Standing())
        refusal = fatigue.refusal(standing, limits.policy, now)
        if refusal is not None:
            raise refusal
        self._standing[challenge.user_id] = dataclasses.replace(
            standing, unapproved=standing.unapproved + 1
        )
        self._recent[challenge.user_id].append(now)
        self._challenges[challenge.challenge_id] = challenge
        self._pending[challenge.user_id].add(challenge.challenge_id)
        heapq.heappush(self._deadlines, (challenge.expires_at, challenge.challenge_id))
        self._later(challenge.expires_at + RETENTION, "challenge", challenge.challenge_id)
        if idem is not None:
            self._idempotency[idem] = challenge.challenge_id
            self._later(now + IDEMPOTENCY_TTL, "idempotency", idem)
        self._announce(ChallengeCreated(challenge))
        return Created(challenge, new=True)

    def _check_limits(self, user_id: str, limits: Limits, now: float) -> None:
        if len(self._pending.get(user_id, ())) >= limits.max_pending:
            raise too_many_pending(limits)
        recent = self._recent[user_id]
        while recent and recent[0] <= now - limits.rate_window:
            recent.popleft()
        if len(recent) >= limits.rate_limit:
            retry = max(1, int(recent[0] + limits.rate_window - now + 0.999))
            raise too_frequent(retry)

    async def get_challenge(self, challenge_id: str) -> Challenge | None:
        return self._challenges.get(challenge_id)

    async def pending_for_user(self, user_id: str) -> list[Challenge]:
        found = (self._challenges[c] for c in self._pending.get(user_id, ()))
        return sorted(found, key=lambda c: c.created_at)

    async def list_challenges(
        self, *, status: str | None, app_id: str | None, user_id: str | None, limit: int
    ) -> list[Challenge]:
        found = [
            c
            for c in reversed(self._challenges.values())
            if (status is None or c.status == status)
            and (app_id is None or c.app_id == app_id)
            and (user_id is None or c.user_id == user_id)
        ]
        return found[:limit]

    async def finish(
        self,
        ended: Challenge,
        delivery: Delivery | None = None,
        change: Change = NO_CHANGE,
        spend: TokenUse | None = None,
    ) -> bool:
        if spend is not None and not self._spend(spend):
            raise replayed()
        current = self._challenges.get(ended.challenge_id)
        if current is None or not current.pending:
            return False
        self._challenges[ended.challenge_id] = ended
        self._pending[ended.user_id].discard(ended.challenge_id)
        if change != NO_CHANGE:
            standing = self._standing.get(ended.user_id, Standing())
            self._standing[ended.user_id] = fatigue.apply(standing, change)
        if delivery is not None:
            await self.save_delivery(delivery)
        self._announce(ChallengeEnded(ended))
        return True

    async def due(self, now: float, limit: int) -> list[Challenge]:
        self._forget_expired(now)
        found: list[Challenge] = []
        while self._deadlines and self._deadlines[0][0] <= now and len(found) < limit:
            _, challenge_id = heapq.heappop(self._deadlines)
            challenge = self._challenges.get(challenge_id)
            if challenge is not None and challenge.pending:
                found.append(challenge)
        return found

    # Webhook outbox
    async def claim_deliveries(self, now: float, lease: float, limit: int) -> list[Delivery]:
        claimed: list[Delivery] = []
        while self._schedule and self._schedule[0][0] <= now and len(claimed) < limit:
            due_at, delivery_id = heapq.heappop(self._schedule)
            delivery = self._deliveries.get(delivery_id)
            if delivery is None or delivery.next_at != due_at or not _scheduled(delivery):
                continue
            leased = dataclasses.replace(delivery, next_at=now + lease)
            await self.save_delivery(leased)
            claimed.append(delivery)
        return claimed

    async def save_delivery(self, delivery: Delivery) -> None:
        self._deliveries[delivery.delivery_id] = delivery
        if _scheduled(delivery):
            heapq.heappush(self._schedule, (delivery.next_at, delivery.delivery_id))
        else:
            self._later(delivery.created_at + RETENTION, "delivery", delivery.delivery_id)

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        return self._deliveries.get(delivery_id)

    async def list_deliveries(self, state: DeliveryState | None, limit: int) -> list[Delivery]:
        found = [d for d in reversed(self._deliveries.values()) if state in (None, d.state)]
        return found[:limit]

    def _forget_challenge(self, challenge_id: str, now: float) -> None:
        challenge = self._challenges.get(challenge_id)
        if challenge is not None and challenge.pending:
            # Expiry has not run yet (a stalled loop): it must end the challenge first.
            self._later(now + RETENTION, "challenge", challenge_id)
            return
        self._challenges.pop(challenge_id, None)

    # Push-fatigue standing
    async def get_standing(self, user_id: str) -> Standing:
        return self._standing.get(user_id, Standing())

    async def reset_standing(self, user_id: str) -> None:
        self._standing.pop(user_id, None)

    # Presence
    async def present(self, instance_id: str, device_ids: Collection[str], until: float) -> None:
        for device_id in device_ids:
            self._presence[device_id][instance_id] = until

    async def absent(self, instance_id: str, device_id: str) -> None:
        instances = self._presence.get(device_id, {})
        instances.pop(instance_id, None)
        if not instances:
            self._presence.pop(device_id, None)

    async def connected(self, device_ids: Collection[str], now: float) -> set[str]:
        return {d for d in device_ids if any(t > now for t in self._presence.get(d, {}).values())}

    async def announce(self, event: Event) -> None:
        self._announce(event)

    # Audit trail
    async def append_audit(self, events: Sequence[AuditEvent], keep: int) -> None:
        self._audit.extend(events)
        while len(self._audit) > keep:
            self._audit.popleft()

    async def read_audit(self, query: AuditQuery) -> list[AuditEvent]:
        found: list[AuditEvent] = []
        for event in reversed(self._audit):
            if query.before is not None and event.event_id >= query.before:
                continue
            if query.matches(event):
                found.append(event)
                if len(found) >= query.limit:
                    break
        return found

    def _later(self, when: float, kind: str, key: str) -> None:
        heapq.heappush(self._forget, (when, kind, key))

    def _forget_expired(self, now: float) -> None:
        while self._forget and self._forget[0][0] <= now:
            _, kind, key = heapq.heappop(self._forget)
            if kind == "jti" and self._jti.get(key, now + 1) <= now:
                del self._jti[key]
            elif kind == "enrollment":
                self._enrollments.pop(key, None)
                self._attempts.pop(key, None)
            elif kind == "challenge":
                self._forget_challenge(key, now)
            elif kind == "idempotency":
                self._idempotency.pop(key, None)
            elif kind == "delivery" and not _scheduled(self._deliveries.get(key)):
                self._deliveries.pop(key, None)


def _scheduled(delivery: Delivery | None) -> bool:
    return delivery is not None and delivery.state in (DeliveryState.PENDING, DeliveryState.FAILING)
