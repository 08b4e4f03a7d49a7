"""Orchestration: each use case of the contract as one method, over an engine and a hub.

It owns the order of checks (who may do what, then what the state machine says, then the atomic
write) and the process-local waiting (long-polls, the expiry clock). It knows no HTTP: the edge
turns requests into calls and PushErrors into answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from . import fatigue, frames, lifecycle, tasks, tokens
from .auditing import AuditTrail
from .config import Settings
from .engine.base import (
    AppDeleted,
    ChallengeCreated,
    ChallengeEnded,
    DeviceRevoked,
    Engine,
    Event,
    Limits,
    Listener,
    Resynced,
    TokenUse,
    replayed,
)
from .errors import ErrorCode, PushError, invalid_token, not_found
from .fatigue import Policy, Standing
from .hub import Hub
from .ids import hash_secret, match_number, new_id, new_secret, same_secret, webhook_secret
from .lifecycle import Decision
from .metrics import Metrics
from .models import App, Challenge, Delivery, Device, Enrollment
from .presence import Presence
from .requests import NewChallenge, NewDevice, NewEnrollment, NewKey
from .webhooks import guard, schedule
from .webhooks.events import delivery_for

log = logging.getLogger("push_service")

LAST_SEEN_GRANULARITY = 60.0
APP_CACHE_SECONDS = 5.0
CATCH_UP_ATTEMPTS = 10

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NewApp:
    app: App
    api_key: str
    webhook_secret: str


@dataclass(frozen=True, slots=True)
class Answer:
    """A phone's verified answer token, with the device that signed it and the challenge it
    names (None when there is no such challenge)."""

    device: Device
    claims: dict[str, object]
    challenge: Challenge | None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: an app, or an operator (app is None)."""

    app: App | None

    @property
    def operator(self) -> bool:
        return self.app is None

    @property
    def actor(self) -> str:
        return "operator" if self.app is None else f"app:{self.app.app_id}"


class PushService:
    def __init__(
        self, settings: Settings, engine: Engine, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.hub = Hub()
        self.clock = clock
        self._waiters: defaultdict[str, set[asyncio.Future[Challenge | None]]] = defaultdict(set)
        self._waiting: Counter[str] = Counter()
        self._apps: dict[str, tuple[App, float]] = {}
        self._match_key = b""
        self._expiry: asyncio.Task[None] | None = None
        self._resync: asyncio.Task[None] | None = None
        self.webhooks_due = asyncio.Event()
        """Set when a delivery may have become due, to wake this process's webhook sender."""
        self.policy = Policy(settings.max_strikes, settings.max_unapproved, settings.fraud_lock)
        self.limits = Limits(
            settings.max_pending, settings.rate_limit, settings.rate_window, self.policy
        )
        self.audit = AuditTrail(engine, settings.audit_keep, lambda: self.clock())
        self.presence = Presence(engine, self.hub, lambda: self.clock())
        self.metrics = Metrics()
        self.metrics.connected.set_function(self.hub.count)
        self._pending_ids: set[str] = set()
        self.metrics.pending.set_function(lambda: len(self._pending_ids))
        self.watchers: set[Listener] = set()
        """Live operator views: each is called with every event from every instance."""

    async def start(self) -> None:
        await self.engine.start(self._on_event)
        configured = self.settings.match_key
        self._match_key = (
            configured.reveal().encode() if configured else await self.engine.match_key()
        )
        pending = await self.engine.list_challenges(
            status="pending", app_id=None, user_id=None, limit=100_000
        )
        self._pending_ids.update(c.challenge_id for c in pending)
        self._expiry = asyncio.create_task(self._expire_forever(), name="expiry")
        self.audit.start()
        self.presence.start()

    async def close(self) -> None:
        await tasks.stop(self._expiry)
        await tasks.stop(self._resync)
        await self.presence.close()
        await self.audit.close()
        await self.engine.close()

    # Credentials
    def is_admin(self, token: str) -> bool:
        matches = [same_secret(token, t.reveal()) for t in self.settings.admin_tokens]
        return any(matches)

    async def app_for_key(self, api_key: str) -> App | None:
        """The app an API key belongs to. Found apps are cached briefly (every request of an
        app would otherwise read the store); a deletion announced by any instance, or missed
        events, empty the cache at once."""
        key_hash = hash_secret(api_key)
        now = self.clock()
        cached = self._apps.get(key_hash)
        app = cached[0] if cached is not None and cached[1] > now else None
        if app is None:
            app = await self.engine.app_by_key_hash(key_hash)
            if app is not None:
                self._apps[key_hash] = (app, now + APP_CACHE_SECONDS)
        return app if app is not None and same_secret(app.key_hash, key_hash) else None

    async def device_from_token(
        self, token: object, kind: tokens.Kind, *, nonce: str | None = None
    ) -> tuple[Device, dict[str, object]]:
        """The active device that signed `token`, and its checked claims; else invalid_token.

        Every refusal is audited with its reason and the device the token claimed to be.
        """

        async def check(unverified: tokens.Unverified) -> tuple[Device, dict[str, object]]:
            device = await self.engine.get_device(unverified.kid) if unverified.kid else None
            device, claims = self._verified(unverified, device, kind, nonce)
            if not await self._spend(device, claims):
                raise replayed()
            await self._touch(device)
            return device, claims

        return await self._audited(token, check)

    async def _audited(
        self, token: object, check: Callable[[tokens.Unverified], Awaitable[T]]
    ) -> T:
        unverified: tokens.Unverified | None = None
        try:
            unverified = tokens.peek(token)
            return await check(unverified)
        except PushError as exc:
            claimed = unverified.kid[:64] if unverified is not None else None
            self.audit.record("token.refused", "anonymous", device_id=claimed, reason=exc.message)
            self.metrics.tokens_refused.labels(exc.reason).inc()
            raise

    def _verified(
        self,
        unverified: tokens.Unverified,
        device: Device | None,
        kind: tokens.Kind,
        nonce: str | None,
    ) -> tuple[Device, dict[str, object]]:
        if device is None:
            raise invalid_token(
                "The token's 'kid' does not name an active device.", "unknown_device"
            )
        claims = tokens.verify_device_token(
            unverified,
            device.public_key,
            device_id=device.device_id,
            issuer=self.settings.issuer,
            now=self.clock(),
            kind=kind,
        )
        if nonce is not None and not same_secret(str(claims["nonce"]), nonce):
            raise invalid_token(
                "The token's 'nonce' is not the one this connection was given.", "nonce"
            )
        return device, claims

    def _token_use(self, device: Device, claims: dict[str, object]) -> TokenUse:
        expires_at = float(str(claims["exp"]))
        return TokenUse(device.device_id, str(claims["jti"]), expires_at, self.clock())

    async def _spend(self, device: Device, claims: dict[str, object]) -> bool:
        use = self._token_use(device, claims)
        return await self.engine.use_jti(use.device_id, use.jti, use.expires_at, use.now)

    async def _touch(self, device: Device) -> None:
        now = self.clock()
        if device.last_seen_at is None or now - device.last_seen_at > LAST_SEEN_GRANULARITY:
            await self.engine.touch_device(device.device_id, now)

    # Apps
    async def create_app(self, name: str) -> NewApp:
        api_key = new_secret("pak_")
        secret = webhook_secret()
        app = App(new_id("app"), name, hash_secret(api_key), (secret,), self.clock())
        await self.engine.add_app(app)
        self.audit.record("app.created", "operator", app_id=app.app_id, name=name)
        return NewApp(app, api_key, secret)

    async def delete_app(self, app_id: str) -> None:
        if not await self.engine.delete_app(app_id):
            raise not_found("app")
        self._forget_app(app_id)
        await self.engine.announce(AppDeleted(app_id))
        self.audit.record("app.deleted", "operator", app_id=app_id)

    async def rotate_webhook_secret(self, app_id: str) -> tuple[App, str]:
        """Give the app a new webhook secret; the old one signs on for the grace period."""
        app = await self.engine.get_app(app_id)
        if app is None:
            raise not_found("app")
        secret = webhook_secret()
        rotated = app.rotated(secret, self.clock(), self.settings.webhook_secret_grace)
        await self.engine.add_app(rotated)
        self.audit.record("app.webhook_secret_rotated", "operator", app_id=app_id)
        return rotated, secret

    async def redeliver(self, delivery_id: str) -> Delivery:
        """Send a delivered or dead webhook again, now, with a fresh retry horizon."""
        delivery = await self.engine.get_delivery(delivery_id)
        if delivery is None:
            raise not_found("delivery")
        if schedule.scheduled(delivery):
            raise PushError(
                ErrorCode.INVALID_REQUEST,
                "The delivery is still being retried; redeliver it once it is delivered or dead.",
            )
        reopened = schedule.reopened(delivery, self.clock(), self.settings.callback_retry_horizon)
        await self.engine.save_delivery(reopened)
        self.webhooks_due.set()
        return reopened

    # Enrollment
    async def create_enrollment(
        self, caller: Caller, request: NewEnrollment
    ) -> tuple[Enrollment, str]:
        scope = request.app_ids
        if caller.app is not None:
            scope = (caller.app.app_id,)
        elif scope is not None:
            for app_id in scope:
                if await self.engine.get_app(app_id) is None:
                    raise PushError(
                        ErrorCode.INVALID_REQUEST, f"'app_ids' names an unknown app {app_id!r}."
                    )
        code = new_secret(nbytes=16)
        now = self.clock()
        enrollment = Enrollment(
            new_id("enr"),
            hash_secret(code),
            request.user_id,
            scope,
            caller.app.app_id if caller.app else "operator",
            now + self.settings.enrollment_ttl,
        )
        await self.engine.add_enrollment(enrollment, now)
        self.audit.record(
            "enrollment.created",
            caller.actor,
            app_id=caller.app.app_id if caller.app else None,
            user_id=request.user_id,
            enrollment_id=enrollment.enrollment_id,
        )
        return enrollment, code

    async def enroll_device(self, request: NewDevice) -> Device:
        code_hash = hash_secret(request.code)
        now = self.clock()
        enrollment = await self.engine.get_enrollment(code_hash, now)
        if enrollment is None:
            raise PushError(
                ErrorCode.INVALID_ENROLLMENT, "The enrollment code is unknown, used or expired."
            )
        try:
            x = tokens.parse_jwk(request.public_key)
            tokens.verify_proof(request.proof, x, claims={"code": request.code}, now=now)
        except PushError as exc:
            await self.engine.fail_enrollment(code_hash)
            self.audit.record(
                "enrollment.failed", "anonymous", user_id=enrollment.user_id, reason=exc.code.value
            )
            raise
        device = Device(new_id("dev"), enrollment.user_id, request.name, x, enrollment.app_ids, now)
        if not await self.engine.redeem_enrollment(code_hash, device, now):
            raise PushError(
                ErrorCode.INVALID_ENROLLMENT, "The enrollment code is unknown, used or expired."
            )
        self.audit.record(
            "device.enrolled",
            f"device:{device.device_id}",
            user_id=device.user_id,
            device_id=device.device_id,
            enrollment_id=enrollment.enrollment_id,
        )
        return device

    async def rotate_key(self, device: Device, request: NewKey) -> None:
        x = tokens.parse_jwk(request.public_key)
        tokens.verify_proof(
            request.proof, x, claims={"device_id": device.device_id}, now=self.clock()
        )
        if not await self.engine.rotate_key(device.device_id, x):
            raise invalid_token("The device was revoked.", "revoked")
        self.audit.record(
            "device.key_rotated",
            f"device:{device.device_id}",
            user_id=device.user_id,
            device_id=device.device_id,
        )

    async def standing(self, user_id: str) -> Standing:
        return await self.engine.get_standing(user_id)

    async def reset_user(self, user_id: str) -> None:
        """Lift a fraud lock and clear the user's strikes and push count."""
        await self.engine.reset_standing(user_id)
        self.audit.record("user.reset", "operator", user_id=user_id)

    async def revoke_device(self, device_id: str, actor: str) -> None:
        device = await self.engine.revoke_device(device_id)
        if device is None:
            raise not_found("device")
        self.audit.record(
            "device.revoked", actor, user_id=device.user_id, device_id=device.device_id
        )

    # Challenges
    def match_number(self, challenge: Challenge) -> str:
        return match_number(self._match_key, challenge.challenge_id, self.settings.match_digits)

    async def create_challenge(
        self, app: App, request: NewChallenge, idempotency_key: str | None
    ) -> Challenge:
        """Store and push a challenge; every refusal is audited with its code."""
        try:
            return await self._create_challenge(app, request, idempotency_key)
        except PushError as exc:
            self.audit.record(
                "challenge.refused",
                f"app:{app.app_id}",
                app_id=app.app_id,
                user_id=request.user_id,
                reason=exc.code.value,
            )
            raise

    async def _create_challenge(
        self, app: App, request: NewChallenge, idempotency_key: str | None
    ) -> Challenge:
        if self.settings.require_number_matching and not request.number_matching:
            raise PushError(
                ErrorCode.INVALID_REQUEST,
                "This service requires number matching; leave 'number_matching' on.",
            )
        if request.callback_url is not None:
            await guard.check_callback(request.callback_url, self.settings.callback_allow_private)
        now = self.clock()
        challenge = Challenge(
            challenge_id=new_id("ch"),
            app_id=app.app_id,
            app_name=app.name,
            user_id=request.user_id,
            context=request.context,
            number_matching=request.number_matching,
            nonce=new_secret(nbytes=16),
            created_at=now,
            expires_at=now + request.ttl_seconds,
            callback_url=request.callback_url,
        )
        created = await self.engine.create_challenge(challenge, self.limits, idempotency_key, now)
        if created.new:
            self.metrics.created.labels(app.app_id).inc()
            self.audit.record(
                "challenge.created",
                f"app:{app.app_id}",
                app_id=app.app_id,
                user_id=challenge.user_id,
                challenge_id=challenge.challenge_id,
            )
        return created.challenge

    async def challenge_for(self, caller: Caller, challenge_id: str) -> Challenge:
        challenge = await self.engine.get_challenge(challenge_id)
        if challenge is None or (caller.app is not None and challenge.app_id != caller.app.app_id):
            raise not_found("challenge")
        return challenge

    async def wait(self, caller: Caller, challenge_id: str, seconds: float) -> Challenge:
        """The challenge as soon as it is not pending, or after `seconds` still pending.

        The waiter is registered before the challenge is read, so an end between the two is
        not missed; the end's event carries the ended challenge, so a decided long-poll reads
        the store once. An app may hold at most `max_waits_per_app` long-polls per instance.
        """
        if self._waiting[caller.actor] >= self.settings.max_waits_per_app:
            raise PushError(
                ErrorCode.RATE_LIMITED,
                f"This app already holds {self.settings.max_waits_per_app} long-polls here; "
                "wait for one to return.",
                retry_after=1,
            )
        waiter: asyncio.Future[Challenge | None] = asyncio.get_running_loop().create_future()
        self._waiters[challenge_id].add(waiter)
        self._waiting[caller.actor] += 1
        try:
            challenge = await self.challenge_for(caller, challenge_id)
            if not challenge.pending or seconds <= 0:
                return challenge
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    ended = await waiter
                    if ended is not None:
                        return ended
            return await self.challenge_for(caller, challenge_id)
        finally:
            self._waiting[caller.actor] -= 1
            self._forget_waiter(challenge_id, waiter)

    def _forget_waiter(self, challenge_id: str, waiter: asyncio.Future[Challenge | None]) -> None:
        waiters = self._waiters.get(challenge_id)
        if waiters is not None:
            waiters.discard(waiter)
            if not waiters:
                del self._waiters[challenge_id]

    async def cancel(self, caller: Caller, challenge_id: str) -> Challenge:
        challenge = await self.challenge_for(caller, challenge_id)
        return await self._finish(challenge, Decision(lifecycle.Event.CANCEL), caller.actor)

    async def respond(
        self, token: object, challenge_id: str | None = None, *, device_id: str | None = None
    ) -> Challenge:
        """Apply a phone's signed answer; returns the challenge as this answer left it.

        `device_id`, on a stream, is the connection's device: a token of any other is refused.
        The device, the challenge and the token's use are read together, and the token is
        spent in the same step as the decision: two round trips on Redis.
        """

        async def check(unverified: tokens.Unverified) -> Answer:
            claims = unverified.claims
            answered = challenge_id or str(claims.get("cid"))
            context = await self.engine.answer_context(
                unverified.kid, answered, str(claims.get("jti")), self.clock()
            )
            device, verified = self._verified(
                unverified, context.device, tokens.Kind.RESPONSE, None
            )
            if context.replayed:
                raise replayed()
            return Answer(device, verified, context.challenge)

        answer = await self._audited(token, check)
        device = answer.device
        await self._touch(device)
        try:
            challenge, decision = self._decision(answer, str(token), device_id)
        except PushError:
            await self._spend(device, answer.claims)  # refused, but a token is used only once
            raise
        spend = self._token_use(device, answer.claims)
        return await self._finish(challenge, decision, f"device:{device.device_id}", spend)

    def _decision(
        self, answer: Answer, token: str, device_id: str | None
    ) -> tuple[Challenge, Decision]:
        device, challenge = answer.device, answer.challenge
        if device_id is not None and device.device_id != device_id:
            raise invalid_token(
                "The token is signed by a different device than this stream's.", "other_device"
            )
        if challenge is None:
            raise not_found("challenge")
        expected = self.match_number(challenge) if challenge.number_matching else None
        try:
            return challenge, self._judge(answer.claims, token, challenge, device, expected)
        except PushError as exc:
            self.audit.record(
                "response.refused",
                f"device:{device.device_id}",
                app_id=challenge.app_id,
                user_id=device.user_id,
                device_id=device.device_id,
                challenge_id=challenge.challenge_id,
                reason=exc.code.value,
            )
            raise

    def _judge(
        self,
        claims: dict[str, object],
        token: str,
        challenge: Challenge,
        device: Device,
        expected: str | None,
    ) -> Decision:
        return lifecycle.judge_response(claims, token, challenge, device, expected, self.clock())

    async def _finish(
        self, challenge: Challenge, decision: Decision, actor: str, spend: TokenUse | None = None
    ) -> Challenge:
        now = self.clock()
        if decision.event is not lifecycle.Event.EXPIRE:
            lifecycle.ensure_open(challenge, now)
        ended = lifecycle.apply(challenge, decision, now)
        delivery = delivery_for(ended, now, self.settings.callback_retry_horizon)
        change = fatigue.change_for(ended, self.policy)
        if not await self.engine.finish(ended, delivery, change, spend):
            latest = await self.engine.get_challenge(challenge.challenge_id)
            raise lifecycle.not_pending(latest or ended)
        self._audit_end(ended, actor)
        self.metrics.ended(ended)
        return ended

    def _audit_end(self, ended: Challenge, actor: str) -> None:
        kind = f"challenge.{ended.status.value}"
        if ended.reason is not None:
            kind += f".{ended.reason.value}"
        self.audit.record(
            kind,
            actor,
            app_id=ended.app_id,
            user_id=ended.user_id,
            device_id=ended.device_id,
            challenge_id=ended.challenge_id,
        )

    async def pending_for(self, device: Device) -> list[Challenge]:
        challenges = await self.engine.pending_for_user(device.user_id)
        now = self.clock()
        return [c for c in challenges if device.serves(c.app_id) and c.expires_at > now]

    # Events and the clock
    def _on_event(self, event: Event) -> None:
        if isinstance(event, ChallengeCreated):
            self._pending_ids.add(event.challenge.challenge_id)
            self.hub.created(event.challenge)
        elif isinstance(event, ChallengeEnded):
            self._ended(event.challenge)
        elif isinstance(event, DeviceRevoked):
            self.hub.revoked(event.device_id)
        elif isinstance(event, AppDeleted):
            self._forget_app(event.app_id)
        elif isinstance(event, Resynced):
            self._apps.clear()
            self._resync = asyncio.create_task(self._catch_up(), name="catch-up")
        for watcher in list(self.watchers):
            watcher(event)

    def _forget_app(self, app_id: str) -> None:
        for key_hash, (app, _) in list(self._apps.items()):
            if app.app_id == app_id:
                del self._apps[key_hash]

    def _ended(self, challenge: Challenge) -> None:
        self._pending_ids.discard(challenge.challenge_id)
        self.hub.ended(challenge)
        if challenge.callback_url is not None:
            self.webhooks_due.set()
        for waiter in self._waiters.get(challenge.challenge_id, ()):
            if not waiter.done():
                waiter.set_result(challenge)

    async def _catch_up(self) -> None:
        """After missed events: show every connected phone what is pending, and let every
        long-poll re-read its challenge."""
        for waiters in list(self._waiters.values()):
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        for attempt in range(CATCH_UP_ATTEMPTS):
            try:
                for outlet in self.hub.outlets():
                    for challenge in await self.pending_for(outlet.device):
                        self.hub.show(outlet, challenge)
                return
            except PushError as exc:
                log.warning("catch-up attempt %d failed: %s", attempt + 1, exc.message)
                await asyncio.sleep(0.5)
        # Still failing: make the phones reconnect, which re-reads what is pending.
        self.hub.close_all(frames.CLOSE_UNAVAILABLE, "missed events; reconnect")

    async def _expire_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.expiry_tick)
            try:
                await self.expire_due()
            except PushError as exc:
                log.warning("expiry paused: %s", exc.message)

    async def expire_due(self) -> int:
        count = 0
        for challenge in await self.engine.due(self.clock(), limit=1000):
            with contextlib.suppress(PushError):
                await self._finish(challenge, Decision(lifecycle.Event.EXPIRE), "system")
                count += 1
        return count

    async def connected(self, device_ids: Iterable[str]) -> set[str]:
        """Which of these devices hold a stream to any instance."""
        return await self.presence.connected(list(device_ids))
