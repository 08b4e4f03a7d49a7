"""The webhook sender: takes due deliveries from the engine's outbox and POSTs them, signed.

One per process. It owns the HTTP client and the concurrency limits; retry rules live in
`schedule` and address rules in `guard`. It never logs secrets, signatures or full URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import logging
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence

import aiohttp
from yarl import URL

from .. import __version__
from ..config import Settings
from ..engine.base import Engine
from ..errors import PushError
from ..models import Delivery
from . import guard, schedule, signing

log = logging.getLogger("push_service.webhooks")

USER_AGENT = f"push-approval-webhooks/{__version__}"
LEASE = 30.0
"""How long a claimed delivery stays hidden from other senders; well over one attempt."""
TIMEOUT = 10.0
MAX_RESPONSE = 4096
BUSY_DELAY = 0.25
"""A delivery whose destination has all its slots in use is put back for this long rather than
waiting here: a wait behind a hanging receiver could outlast the lease, and then another claim
would send the same event a second time."""
IDLE_POLL = 1.0
"""Longest idle wait: deliveries due from other instances or expired leases are found by then."""

Outcome = tuple[int | None, str | None]


def destination(url: str) -> str:
    """What the per-destination limit counts by: scheme, host and port."""
    parsed = URL(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port}"


class WebhookSender:
    """Claims, sends and records deliveries; `wake` is set when new ones may be due."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        wake: asyncio.Event,
        *,
        clock: Callable[[], float] = time.time,
        lookup: guard.Lookup = guard.system_lookup,
        on_outcome: Callable[[Delivery, float], None] | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._wake = wake
        self._clock = clock
        self._lookup = lookup
        self._on_outcome = on_outcome
        self._concurrency = settings.webhook_concurrency
        self._per_destination = settings.webhook_per_destination
        self._busy: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._due: list[float] = []
        self._session: aiohttp.ClientSession | None = None
        self._runner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._session = self._new_session()
        self._runner = asyncio.create_task(self._run(), name="webhook-sender")

    async def close(self) -> None:
        """Stop claiming, abandon attempts in flight (their leases bring them back), close."""
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        in_flight = list(self._tasks)
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def _new_session(self) -> aiohttp.ClientSession:
        tls = ssl.create_default_context()
        if self._settings.callback_ca_file:
            tls.load_verify_locations(cafile=self._settings.callback_ca_file)
        resolver = guard.GuardedResolver(self._settings.callback_allow_private, self._lookup)
        # Per-destination limits are the sender's own (see _dispatch): a connection pool that
        # queued requests instead would hold claimed deliveries past their lease.
        connector = aiohttp.TCPConnector(resolver=resolver, ssl=tls, limit=self._concurrency)
        # No cookies and no proxy from the environment: nothing of one receiver reaches another.
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=TIMEOUT),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )

    # The claim loop: it only claims and spawns, so no receiver can slow it down.
    async def _run(self) -> None:
        while True:
            self._wake.clear()
            now = self._clock()
            try:
                claimed = await self._claim(now)
            except PushError as exc:
                log.warning("webhook outbox unavailable: %s", exc.message)
                claimed = []
            except Exception:
                # Keep the loop alive: a dead sender would stop every app's callbacks silently.
                log.exception("webhook claim failed")
                claimed = []
            if not claimed:
                await self._idle(now)

    async def _claim(self, now: float) -> list[Delivery]:
        free = self._concurrency - len(self._tasks)
        if free <= 0:
            return []
        claimed = await self._engine.claim_deliveries(now, LEASE, free)
        for delivery in claimed:
            await self._dispatch(delivery, now)
        return claimed

    async def _idle(self, now: float) -> None:
        while self._due and self._due[0] <= now:
            heapq.heappop(self._due)
        wait = IDLE_POLL if not self._due else self._due[0] - self._clock()
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands as the
        # event is set, and close() would then wait forever for this loop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(max(wait, 0.0), IDLE_POLL)):
                await self._wake.wait()

    async def _dispatch(self, delivery: Delivery, now: float) -> None:
        origin = destination(delivery.url)
        if self._busy[origin] >= self._per_destination:
            await self._save(schedule.deferred(delivery, now, BUSY_DELAY))
            return
        self._busy[origin] += 1
        task = asyncio.create_task(self._deliver(delivery, origin))
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._finished, origin))

    def _finished(self, origin: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._busy[origin] -= 1
        if self._busy[origin] <= 0:
            del self._busy[origin]
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook attempt crashed", exc_info=task.exception())
        self._wake.set()

    async def _save(self, delivery: Delivery) -> None:
        await self._engine.save_delivery(delivery)
        if schedule.scheduled(delivery):
            heapq.heappush(self._due, delivery.next_at)

    # One attempt
    async def _deliver(self, delivery: Delivery, origin: str) -> None:
        try:
            result = await self._attempt(delivery)
            await self._save(result)
            if self._on_outcome is not None:
                self._on_outcome(result, self._clock())
        except PushError as exc:
            # The lease runs out and the delivery is claimed again, so nothing is lost.
            log.warning("webhook %s: outbox unavailable: %s", delivery.delivery_id, exc.message)
            return
        log.info(
            "webhook %s to %s: %s after %d attempt(s)%s",
            result.delivery_id,
            origin,
            result.state.value,
            result.attempts,
            f" ({result.last_error})" if result.last_error else "",
        )

    async def _attempt(self, delivery: Delivery) -> Delivery:
        app = await self._engine.get_app(delivery.app_id)
        if app is None:
            return schedule.abandoned(delivery, "The app was deleted; its events are not sent.")
        now = self._clock()
        status, error = await self._post(delivery, app.signing_secrets(now), int(now))
        if status is not None and 200 <= status < 300:
            return schedule.delivered(delivery, status)
        base = self._settings.callback_retry_base
        return schedule.failed(
            delivery, self._clock(), base, error=error or "no answer", status=status
        )

    async def _post(self, delivery: Delivery, secrets: Sequence[str], timestamp: int) -> Outcome:
        assert self._session is not None
        body = delivery.payload.encode("utf-8")
        headers = signing.headers(secrets, delivery.delivery_id, timestamp, body)
        headers["Content-Type"] = "application/json"
        try:
            # Literal IPs never reach the resolver, so the URL itself is vetted on every attempt.
            guard.check_url(delivery.url, self._settings.callback_allow_private)
            async with self._session.post(
                delivery.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                # The status is the answer; a body that is slow or broken does not undo it.
                with contextlib.suppress(TimeoutError, aiohttp.ClientError):
                    await response.content.read(MAX_RESPONSE)
                return response.status, _status_error(response.status)
        except PushError as exc:
            return None, exc.message
        except TimeoutError:
            return None, f"No complete answer within {TIMEOUT:g} s."
        except aiohttp.ClientError as exc:
            return None, _describe(exc)


def _status_error(status: int) -> str | None:
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"The receiver answered HTTP {status}; redirects are not followed."
    return f"The receiver answered HTTP {status}."


def _describe(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.InvalidURL):
        return "The callback URL is not usable."  # its text could carry the app's query secrets
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(
        exc.os_error, guard.AddressRefused
    ):
        return f"Refused: {exc.os_error}."
    return f"{type(exc).__name__}: {exc}"[:300]
