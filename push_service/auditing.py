"""The audit trail as the service writes it: recorded without waiting, stored in batches.

`record` never awaits and never fails a request; a background flush writes batches through the
engine. If the store is down, events wait in a bounded buffer (the oldest are dropped first, and
counted). The request's source address comes from a context variable set by the HTTP edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar

from . import tasks
from .audit import AuditEvent
from .engine.base import Engine
from .errors import PushError

log = logging.getLogger("push_service.audit")

SOURCE: ContextVar[str | None] = ContextVar("source", default=None)
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
FLUSH_INTERVAL = 0.2
NOISY = frozenset({"token.refused", "enrollment.failed"})
NOISY_PER_MINUTE = 30
BUFFER_LIMIT = 10_000


class AuditTrail:
    def __init__(self, engine: Engine, keep: int, clock: Callable[[], float]) -> None:
        self._engine = engine
        self._keep = keep
        self._clock = clock
        self._buffer: deque[AuditEvent] = deque(maxlen=BUFFER_LIMIT)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self._sequence = itertools.count()
        self._instance = secrets.token_hex(3)
        self._noise: dict[str | None, tuple[int, int, int]] = {}

    def record(self, kind: str, actor: str, **fields: str | None) -> None:
        if kind in NOISY and not self._allow(SOURCE.get()):
            return
        self._append(kind, actor, fields)

    def _allow(self, source: str | None) -> bool:
        """Anonymous refusals from one source are kept up to NOISY_PER_MINUTE a minute, so junk
        cannot push the rest of the trail out; the overflow is summarised once a minute."""
        minute = int(self._clock() // 60)
        start, seen, dropped = self._noise.get(source, (minute, 0, 0))
        if start != minute:
            if dropped:
                self._append("audit.suppressed", "system", {"count": str(dropped)})
            start, seen, dropped = minute, 0, 0
        allowed = seen < NOISY_PER_MINUTE
        self._noise[source] = (start, seen + 1, dropped + (not allowed))
        if len(self._noise) > BUFFER_LIMIT:
            self._noise.clear()
        return allowed

    def _append(self, kind: str, actor: str, fields: dict[str, str | None]) -> None:
        detail = {k: v for k, v in fields.items() if k not in _COLUMNS and v is not None}
        columns = {k: v for k, v in fields.items() if k in _COLUMNS}
        now = self._clock()
        # Sortable ids: time, then this process's sequence, then a tie-break between instances.
        event_id = f"{int(now * 1000):013d}-{next(self._sequence):010d}-{self._instance}"
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1
        event = AuditEvent(
            event_id, now, kind, actor, source=SOURCE.get(), detail=detail, **columns
        )
        self._buffer.append(event)
        if log.isEnabledFor(logging.INFO):
            extra = {"event": event.public(), "request_id": REQUEST_ID.get()}
            log.info("%s by %s", kind, actor, extra=extra)

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name="audit")

    async def close(self) -> None:
        await tasks.stop(self._task)
        with contextlib.suppress(PushError):
            await self.flush()

    async def flush(self) -> None:
        if not self._buffer:
            return
        batch, self._buffer = list(self._buffer), deque(maxlen=BUFFER_LIMIT)
        try:
            await self._engine.append_audit(batch, self._keep)
        except PushError:
            # Put the batch back before what arrived meanwhile; the deque keeps the newest.
            self._buffer = deque([*batch, *self._buffer], maxlen=BUFFER_LIMIT)
            raise

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await self.flush()
            except PushError as exc:
                log.warning("audit events wait for the store: %s", exc.message)


_COLUMNS = frozenset({"app_id", "user_id", "device_id", "challenge_id"})
