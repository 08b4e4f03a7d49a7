"""Helpers of the fleet tests: HTTP calls, raw and SDK phones, and waits that always end.

`Endpoint` calls one instance (or the load balancer) and returns status and JSON; `PhoneLink` is a
raw phone's stream that keeps every frame; `SdkPhone` drives the SDK's self-reconnecting stream
and keeps every event. Every wait polls until a deadline and then fails with what it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp

from client_sdk import Backoff, DeviceClient, DeviceStream, PushApprovalError
from client_sdk.events import StreamEvent
from tests.conftest import ADMIN_TOKEN
from tests.phone import Phone
from tests.waiting import eventually
from tests.webhooks.receiver import Receiver

T = TypeVar("T")

WAIT = 5.0
"""The default bound of a wait; each returns as soon as what it waits for is there."""
FAST_BACKOFF = Backoff(base=0.2, cap=1.0)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


def is_contract_error(reply: Reply, status: int, code: str) -> bool:
    """The answer has this status and exactly the contract's error body with this code."""
    body = reply.body
    return (
        reply.status == status
        and isinstance(body, dict)
        and set(body) == {"error"}
        and isinstance(body["error"], dict)
        and set(body["error"]) == {"code", "message"}
        and body["error"]["code"] == code
        and isinstance(body["error"]["message"], str)
        and body["error"]["message"] != ""
    )


class Endpoint:
    """HTTP calls to one instance (or the proxy in front of them); answers as `Reply`."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        within: float = 10.0,
    ) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        timeout = aiohttp.ClientTimeout(total=within)
        async with self.session.request(
            method, self.url + path, json=body, headers=sent, timeout=timeout
        ) as response:
            raw = await response.read()
        try:
            decoded: Any = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw.decode(errors="replace")
        return Reply(response.status, decoded)

    async def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        reply = await self.call(method, path, **kwargs)
        assert reply.status == status, f"{method} {path} on {self.url}: {reply}"
        return reply.body

    # The operator
    async def new_app(self, name: str = "Intranet") -> dict[str, Any]:
        app: dict[str, Any] = await self.ok(
            "POST", "/v1/admin/apps", 201, token=ADMIN_TOKEN, body={"name": name}
        )
        return app

    async def revoke(self, device_id: str) -> None:
        await self.ok("DELETE", f"/v1/admin/devices/{device_id}", 204, token=ADMIN_TOKEN)

    async def devices(self, user_id: str) -> dict[str, dict[str, Any]]:
        body = await self.ok("GET", f"/v1/admin/users/{user_id}/devices", token=ADMIN_TOKEN)
        return {d["device_id"]: d for d in body["devices"]}

    async def audit(self, **query: str) -> list[dict[str, Any]]:
        path = "/v1/admin/audit?" + urlencode({**query, "limit": "1000"})
        events: list[dict[str, Any]] = (await self.ok("GET", path, token=ADMIN_TOKEN))["events"]
        return events

    async def deliveries(self) -> list[dict[str, Any]]:
        body = await self.ok("GET", "/v1/admin/webhooks?limit=1000", token=ADMIN_TOKEN)
        found: list[dict[str, Any]] = body["deliveries"]
        return found

    async def admin_challenges(self, user_id: str) -> list[dict[str, Any]]:
        path = "/v1/admin/challenges?" + urlencode({"user_id": user_id})
        found: list[dict[str, Any]] = (await self.ok("GET", path, token=ADMIN_TOKEN))["challenges"]
        return found

    # Enrollment
    async def enrollment(self, user_id: str, app: dict[str, Any] | None = None) -> dict[str, Any]:
        token = app["api_key"] if app is not None else ADMIN_TOKEN
        made: dict[str, Any] = await self.ok(
            "POST", "/v1/enrollments", 201, token=token, body={"user_id": user_id}
        )
        return made

    async def enroll(self, user_id: str, app: dict[str, Any] | None = None) -> Phone:
        """A new phone of `user_id`, enrolled for `app` (every app when None)."""
        code = (await self.enrollment(user_id, app))["code"]
        phone = Phone(user_id=user_id)
        body = {"code": code, "public_key": phone.jwk, "name": "pixel", "proof": phone.proof(code)}
        phone.device_id = (await self.ok("POST", "/v1/devices", 201, body=body))["device_id"]
        return phone

    # The app
    async def challenge(self, app: dict[str, Any], user_id: str, **body: Any) -> dict[str, Any]:
        made: dict[str, Any] = await self.ok(
            "POST", "/v1/challenges", 201, token=app["api_key"], body={"user_id": user_id, **body}
        )
        return made

    async def get(self, app: dict[str, Any], challenge_id: str, wait: int | None = None) -> Any:
        query = f"?wait={wait}" if wait is not None else ""
        within = 10.0 + (wait or 0)
        path = f"/v1/challenges/{challenge_id}{query}"
        return await self.ok("GET", path, token=app["api_key"], within=within)

    # A phone over HTTP
    async def pending(self, phone: Phone) -> Reply:
        return await self.call("GET", "/v1/devices/me/challenges", headers=phone.bearer())

    async def respond(
        self, phone: Phone, view: dict[str, Any], decision: str, **extra: Any
    ) -> Reply:
        token = phone.response(view, decision, **extra)
        path = f"/v1/challenges/{view['challenge_id']}/response"
        return await self.call("POST", path, body={"token": token})


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + "/v1/devices/stream"


class PhoneLink:
    """A raw phone's stream: hello, auth, ready, then every frame kept in arrival order."""

    def __init__(self, phone: Phone, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.phone = phone
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.ready: dict[str, Any] | None = None
        self.close_code: int | None = None
        self.local_port: int = ws.get_extra_info("sockname")[1]
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, session: aiohttp.ClientSession, base_url: str, phone: Phone, within: float = WAIT
    ) -> PhoneLink:
        """Connect and authenticate; `ready` is None when the service closed instead."""
        async with asyncio.timeout(within):
            ws = await session.ws_connect(ws_url(base_url), autoping=True)
            link = cls(phone, ws)
            try:
                await link._handshake()
            except BaseException:
                await ws.close()
                raise
        link._reader = asyncio.create_task(link._read())
        return link

    async def _handshake(self) -> None:
        hello = await self.ws.receive_json()
        assert hello["type"] == "hello", hello
        await self.ws.send_json({"type": "auth", "token": self.phone.token(nonce=hello["nonce"])})
        message = await self.ws.receive()
        if message.type is aiohttp.WSMsgType.TEXT:
            self.ready = json.loads(message.data)
            assert self.ready is not None
            assert self.ready["type"] == "ready", self.ready
        else:
            self._closed_by(message)

    @classmethod
    async def open(
        cls, session: aiohttp.ClientSession, base_url: str, phone: Phone, within: float = WAIT
    ) -> PhoneLink:
        """Connect, and insist on `ready`."""
        link = await cls.connect(session, base_url, phone, within)
        assert link.ready is not None, f"auth refused with close code {link.close_code}"
        return link

    def _closed_by(self, message: aiohttp.WSMessage) -> None:
        # The code from the close frame itself: answering it may fail on a transport the server
        # already shut, and then aiohttp reports 1006 instead.
        if message.type is aiohttp.WSMsgType.CLOSE:
            self.close_code = int(message.data)
        elif self.close_code is None:
            self.close_code = self.ws.close_code or 1006

    async def _read(self) -> None:
        while self.close_code is None:
            message = await self.ws.receive()
            if message.type is aiohttp.WSMsgType.TEXT:
                self.frames.append(json.loads(message.data))
            else:
                self._closed_by(message)

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    def of(self, kind: str, challenge_id: str | None = None) -> list[dict[str, Any]]:
        """Frames of `kind`, about `challenge_id` when given."""
        return [
            f
            for f in self.frames
            if f["type"] == kind and (challenge_id is None or _challenge_id(f) == challenge_id)
        ]

    def about(self, challenge_id: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if _challenge_id(f) == challenge_id]

    async def next_of(
        self, kind: str, challenge_id: str | None = None, within: float = WAIT
    ) -> dict[str, Any]:
        found: list[dict[str, Any]] = await eventually(
            lambda: self.of(kind, challenge_id),
            f"a {kind!r} frame{f' for {challenge_id}' if challenge_id else ''} "
            f"on {self.phone.device_id} (frames: {self.frames}, closed: {self.close_code})",
            within,
        )
        return found[0]

    async def outcome(self, challenge_id: str, within: float = WAIT) -> dict[str, Any]:
        """The answer to this phone's response: its `result`, or the `error` refusing it."""
        found: list[dict[str, Any]] = await eventually(
            lambda: self.of("result", challenge_id) + self.of("error", challenge_id),
            f"a result or error for {challenge_id} on {self.phone.device_id} "
            f"(frames: {self.frames}, closed: {self.close_code})",
            within,
        )
        return found[0]

    async def challenge(self, challenge_id: str, within: float = WAIT) -> dict[str, Any]:
        """The device view of a challenge this phone was shown."""
        frame = await self.next_of("challenge", challenge_id, within)
        view: dict[str, Any] = frame["challenge"]
        return view

    async def send_response(self, view: dict[str, Any], decision: str, **extra: Any) -> None:
        token = self.phone.response(view, decision, **extra)
        await self.ws.send_json({"type": "response", "token": token})

    async def closed_with(self, within: float = WAIT) -> int:
        await eventually(
            lambda: self.closed, f"the stream of {self.phone.device_id} to close", within
        )
        assert self.close_code is not None
        return self.close_code

    async def close(self) -> None:
        with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError):
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError, ConnectionError):
                await self._reader


def _challenge_id(frame: dict[str, Any]) -> str | None:
    if frame["type"] == "challenge":
        return str(frame["challenge"]["challenge_id"])
    found = frame.get("challenge_id")
    return found if isinstance(found, str) else None


class SdkPhone:
    """The SDK's device client and its self-reconnecting stream, read by a task that records
    every event (and the error that ended the stream, if one did)."""

    def __init__(self, client: DeviceClient, backoff: Backoff = FAST_BACKOFF) -> None:
        """Start streaming at once, to the client's base URL (from its enrollment URI)."""
        self.client = client
        self.stream = DeviceStream(client, backoff=backoff, proxy=None)
        self.events: list[StreamEvent] = []
        self.error: PushApprovalError | None = None
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for event in self.stream:
                self.events.append(event)
        except PushApprovalError as exc:
            self.error = exc

    def of(self, kind: type[T]) -> list[T]:
        return [e for e in self.events if isinstance(e, kind)]

    async def next_of(
        self, kind: type[T], where: Callable[[T], bool] = lambda _: True, within: float = WAIT
    ) -> T:
        """The first recorded event of `kind` that satisfies `where`, waiting for it."""
        found: list[T] = await eventually(
            lambda: [e for e in self.of(kind) if where(e)] or self._failed(),
            f"a {kind.__name__} on {self.client.device_id} (events: {self.events})",
            within,
        )
        return found[0]

    def _failed(self) -> list[T]:
        if self.error is not None:
            raise AssertionError(f"the stream of {self.client.device_id} ended: {self.error!r}")
        return []

    async def close(self) -> None:
        await self.stream.close()
        try:
            async with asyncio.timeout(WAIT):
                await self._task
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()


ENDINGS = ("challenge.approved", "challenge.denied", "challenge.expired", "challenge.cancelled")
SETTLE = 1.0
"""Seconds to wait after the expected has happened, for duplicates that should not come."""


async def one_delivery_each(at: Endpoint, receiver: Receiver, ended: dict[str, str]) -> None:
    """Each ended challenge (id -> status) has exactly one callback delivery, of its outcome,
    delivered, and the receiver got it exactly once, whichever instances took part."""

    def received() -> list[dict[str, Any]]:
        return [json.loads(hit.body) for hit in receiver.hits]

    def all_received() -> bool:
        seen = {body["data"]["challenge_id"] for body in received()}
        return seen >= set(ended)

    await eventually(all_received, f"a callback for each of {sorted(ended)}")
    await asyncio.sleep(SETTLE)
    deliveries = await at.deliveries()
    for cid, status in ended.items():
        mine = [d for d in deliveries if d["challenge_id"] == cid]
        assert len(mine) == 1, f"deliveries for {cid}: {mine}"
        assert mine[0]["type"] == f"challenge.{status}"
        assert mine[0]["state"] == "delivered"
        hits = [body for body in received() if body["data"]["challenge_id"] == cid]
        assert len(hits) == 1, f"callbacks received for {cid}: {hits}"
        assert hits[0]["type"] == f"challenge.{status}"
        assert hits[0]["data"]["status"] == status


async def one_audited_end_each(at: Endpoint, user_id: str, ended: dict[str, str]) -> None:
    """The audit trail (read through `at`) records each challenge's end exactly once."""

    async def ends() -> dict[str, list[str]]:
        events = await at.audit(kind="challenge", user_id=user_id)
        found: dict[str, list[str]] = {cid: [] for cid in ended}
        for event in events:
            if event.get("challenge_id") in found and event["kind"].startswith(ENDINGS):
                found[event["challenge_id"]].append(event["kind"])
        return found

    async def all_there() -> bool:
        return all((await ends()).values())

    # Each instance writes its events in batches: a short wait for all of them, then the count.
    with contextlib.suppress(AssertionError):
        await eventually(all_there, "an audited end for every challenge", within=3.0)
    await asyncio.sleep(SETTLE / 2)
    found = await ends()
    for cid, status in ended.items():
        assert len(found[cid]) == 1, f"audited ends of {cid}: {found[cid]} (all: {found})"
        assert found[cid][0].startswith(f"challenge.{status}"), found[cid]
