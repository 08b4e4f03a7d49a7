"""The device's live websocket stream: authenticate, receive challenges, answer them.

Reconnects by itself with backoff; close codes 4401 (auth refused) and 4403 (revoked) are final.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from .backoff import Backoff
from .device import DeviceClient
from .errors import (
    CONNECTION_ERROR,
    DEVICE_REVOKED,
    NOT_CONNECTED,
    PushApprovalError,
)
from .events import (
    ChallengeEvent,
    Disconnected,
    Ready,
    Resolved,
    Result,
    StreamEvent,
    parse_event,
)
from .models import DeviceChallenge
from .tokens import Decision
from .transport import USER_AGENT

STREAM_PATH = "/v1/devices/stream"
CLOSE_AUTH_REFUSED = 4401
CLOSE_DEVICE_REVOKED = 4403
# A challenge id is remembered (to drop re-sends) until this long after its expiry.
_FORGET_AFTER = timedelta(seconds=30)

log = logging.getLogger(__name__)


def stream_url(base_url: str) -> str:
    """Derive the stream's websocket URL from the service's base URL.

    Args:
        base_url: ``http://...`` or ``https://...``, optionally with a path prefix.

    Returns:
        The ``ws://`` or ``wss://`` URL of ``/v1/devices/stream``.

    Raises:
        ValueError: If the base URL is not http(s).
    """
    parts = urlsplit(base_url)
    schemes = {"http": "ws", "https": "wss"}
    if parts.scheme not in schemes:
        raise ValueError(f"{base_url!r} is not an http(s) URL")
    prefix = parts.path.rstrip("/")
    return urlunsplit((schemes[parts.scheme], parts.netloc, prefix + STREAM_PATH, "", ""))


class _Transient(Exception):
    """The connection failed in a way worth retrying; the text says why."""


class DeviceStream:
    """An async iterator over a device's stream events, reconnecting as needed.

    Events are `Ready` (after each successful connection), `ChallengeEvent`, `Result`,
    `Resolved`, `StreamError` and `Disconnected` (before each reconnection). A challenge is
    yielded once, even when the service re-sends it after a reconnection.

    Use as::

        async with DeviceStream(device) as stream:
            async for event in stream:
                ...
    """

    def __init__(
        self,
        client: DeviceClient,
        *,
        backoff: Backoff | None = None,
        handshake_timeout: float = 15.0,
        stable_after: float = 10.0,
        max_attempts: int | None = None,
        ping_interval: float | None = 20.0,
        proxy: str | Literal[True] | None = True,
    ) -> None:
        """Set up the stream; it connects on the first iteration.

        Args:
            client: The device client whose identity and key authenticate the stream.
            backoff: Reconnection delays (default: base 0.5 s, cap 30 s, full jitter).
            handshake_timeout: Seconds allowed to connect and get ``ready``.
            stable_after: A connection that lasted this long resets the backoff.
            max_attempts: Give up after this many failed attempts in a row (None: never).
            ping_interval: Seconds between keepalive pings (None disables them).
            proxy: Proxy for the websocket (True: from the environment; None: no proxy).

        Raises:
            ValueError: If the client's base URL is not http(s).
        """
        self._client = client
        self._url = stream_url(client.base_url)
        self._backoff = backoff or Backoff()
        self._handshake_timeout = handshake_timeout
        self._stable_after = stable_after
        self._max_attempts = max_attempts
        self._ping_interval = ping_interval
        self._proxy = proxy
        self._ws: ClientConnection | None = None
        self._closed = False
        self._wake = asyncio.Event()
        self._attempt = 0
        self._retry_delay: float | None = None
        self._connected_at: float | None = None
        self._ever_ready = False
        self._shown: dict[str, datetime] = {}

    @property
    def url(self) -> str:
        """The websocket URL this stream connects to."""
        return self._url

    @property
    def connected(self) -> bool:
        """True while an authenticated connection is open."""
        return self._ws is not None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> StreamEvent:
        """Return the next event, connecting or reconnecting first when needed.

        Raises:
            StopAsyncIteration: After `close`.
            PushApprovalError: On close code 4401 (``invalid_token``) or 4403
                (``device_revoked``), an HTTP refusal of the upgrade, or when ``max_attempts``
                failures in a row were reached (``connection_error``).
        """
        while not self._closed:
            ws = self._ws
            if ws is None:
                event = await self._connect()
                if event is not None:
                    return event
                continue
            try:
                raw = await ws.recv()
            except ConnectionClosed as exc:
                self._ws = None
                if self._closed:
                    break
                self._raise_if_final(exc)
                return self._schedule_retry(_describe_close(exc))
            received = self._accept(raw)
            if received is not None:
                return received
        raise StopAsyncIteration

    async def send_response(
        self,
        challenge: DeviceChallenge,
        decision: Decision,
        number: str | None = None,
        fraud: bool = False,
    ) -> None:
        """Answer a challenge over the stream; the outcome arrives as a `Result` or
        `StreamError` event.

        Args:
            challenge: The challenge answered.
            decision: ``"approve"`` or ``"deny"``.
            number: The match number the user typed, when number matching is on.
            fraud: With ``"deny"``: the user did not start this login.

        Raises:
            ValueError: If the arguments do not form a valid response.
            PushApprovalError: ``not_connected`` when the stream is down (answer with
                `DeviceClient.respond` instead, or after the reconnection).
        """
        token = self._client.response_token(challenge, decision, number, fraud)
        ws = self._ws
        if ws is None:
            raise _not_connected()
        try:
            await ws.send(json.dumps({"type": "response", "token": token}))
        except ConnectionClosed:
            raise _not_connected() from None

    async def close(self) -> None:
        """Close the connection and end the iteration; safe to call more than once."""
        self._closed = True
        self._wake.set()
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    async def _connect(self) -> StreamEvent | None:
        """Wait out any backoff, then connect; return `Ready`, `Disconnected` or None."""
        if self._retry_delay is not None:
            delay, self._retry_delay = self._retry_delay, None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            if self._closed:
                return None
        try:
            ws, device_id = await self._open()
        except _Transient as exc:
            return self._schedule_retry(str(exc))
        if self._closed:
            await ws.close()
            return None
        self._ws = ws
        self._connected_at = time.monotonic()
        reconnected, self._ever_ready = self._ever_ready, True
        return Ready(device_id=device_id, reconnected=reconnected)

    async def _open(self) -> tuple[ClientConnection, str]:
        """Connect and authenticate: hello, auth, ready."""
        try:
            ws = await connect(
                self._url,
                open_timeout=self._handshake_timeout,
                ping_interval=self._ping_interval,
                proxy=self._proxy,
                user_agent_header=USER_AGENT,
            )
        except InvalidStatus as exc:
            self._raise_if_refused(exc)
            raise _Transient(f"the service answered HTTP {exc.response.status_code}") from exc
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise _Transient(f"cannot connect: {exc or type(exc).__name__}") from exc
        try:
            async with asyncio.timeout(self._handshake_timeout):
                hello = _decode(await ws.recv())
                nonce = hello.get("nonce") if hello.get("type") == "hello" else None
                if not isinstance(nonce, str) or not nonce:
                    raise _Transient("the service did not start with a valid hello")
                token = self._client.token(nonce=nonce)
                await ws.send(json.dumps({"type": "auth", "token": token}))
                while True:
                    message = _decode(await ws.recv())
                    if message.get("type") == "ready":
                        device_id = message.get("device_id")
                        return ws, device_id if isinstance(device_id, str) else ""
                    log.debug("ignoring %r before ready", message.get("type"))
        except ConnectionClosed as exc:
            self._raise_if_final(exc)
            raise _Transient(_describe_close(exc)) from exc
        except TimeoutError:
            await ws.close()
            raise _Transient("no ready from the service in time") from None
        except BaseException:
            await ws.close()
            raise

    def _accept(self, raw: str | bytes) -> StreamEvent | None:
        """Turn a received frame into an event, dropping re-sent challenges."""
        try:
            event = parse_event(_decode(raw), reconnected=True)
        except (ValueError, _Transient) as exc:
            log.warning("ignoring a malformed stream message: %s", exc)
            return None
        if isinstance(event, ChallengeEvent):
            challenge = event.challenge
            self._forget_expired()
            if challenge.challenge_id in self._shown:
                return None
            self._shown[challenge.challenge_id] = challenge.expires_at
        elif isinstance(event, Result | Resolved):
            self._shown.pop(event.challenge_id, None)
        elif isinstance(event, Ready):
            return None  # only the handshake's ready counts
        return event

    def _forget_expired(self) -> None:
        limit = datetime.now(UTC) - _FORGET_AFTER
        for challenge_id, expires_at in list(self._shown.items()):
            if expires_at < limit:
                del self._shown[challenge_id]

    def _schedule_retry(self, reason: str) -> Disconnected:
        if self._connected_at is not None:
            if time.monotonic() - self._connected_at >= self._stable_after:
                self._attempt = 0
            self._connected_at = None
        if self._max_attempts is not None and self._attempt >= self._max_attempts:
            self._closed = True
            raise PushApprovalError(
                CONNECTION_ERROR,
                f"The stream could not connect after {self._attempt} attempts: {reason}.",
            )
        delay = self._backoff.delay(self._attempt)
        self._attempt += 1
        self._retry_delay = delay
        return Disconnected(reason=reason, attempt=self._attempt, retry_in=delay)

    def _raise_if_final(self, exc: ConnectionClosed) -> None:
        code = exc.rcvd.code if exc.rcvd is not None else None
        if code in (CLOSE_AUTH_REFUSED, CLOSE_DEVICE_REVOKED):
            self._closed = True
        if code == CLOSE_AUTH_REFUSED:
            raise PushApprovalError(
                "invalid_token",
                "The service refused this device's authentication (unknown device, wrong "
                "key, or a clock more than 60 seconds off).",
                close_code=code,
            ) from exc
        if code == CLOSE_DEVICE_REVOKED:
            raise PushApprovalError(
                DEVICE_REVOKED, "This device has been revoked.", close_code=code
            ) from exc

    def _raise_if_refused(self, exc: InvalidStatus) -> None:
        status = exc.response.status_code
        if 400 <= status < 500 and status not in (408, 429):
            self._closed = True
            body: Any
            try:
                body = json.loads(exc.response.body or b"")
            except ValueError:
                body = None
            raise PushApprovalError.from_response(
                status, body, dict(exc.response.headers.raw_items())
            ) from exc


def _decode(raw: str | bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        raise _Transient("the service sent a frame that is not JSON") from None
    if not isinstance(data, dict):
        raise _Transient("the service sent a frame that is not a JSON object")
    return data


def _describe_close(exc: ConnectionClosed) -> str:
    if exc.rcvd is None:
        return "the connection was lost"
    reason = f": {exc.rcvd.reason}" if exc.rcvd.reason else ""
    return f"the service closed the connection (code {exc.rcvd.code}{reason})"


def _not_connected() -> PushApprovalError:
    return PushApprovalError(
        NOT_CONNECTED,
        "The stream is not connected; answer over HTTP or after it reconnects.",
    )
