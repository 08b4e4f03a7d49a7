"""The operator feed: admin auth in the first message, a snapshot without secrets, then every
challenge and device event as it happens."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, cast

import pytest
from aiohttp import web

from push_service.dashboard_feed import OUTBOX, Feed
from push_service.edge import SERVICE
from push_service.engine.base import DeviceRevoked, Listener
from tests.conftest import ADMIN, World, make_settings
from tests.dashboard.conftest import (
    answer,
    close_code,
    connect_phone,
    next_of,
    open_feed,
    signed_in,
)


@pytest.mark.parametrize(
    "first", [{"type": "auth", "token": "not-the-admin-token"}, {"type": "hello"}, {"token": "x"}]
)
async def test_a_wrong_or_malformed_auth_closes_with_4401(
    world: World, first: dict[str, Any]
) -> None:
    ws = await world.client.ws_connect("/v1/admin/stream")
    await ws.send_json(first)
    assert await close_code(ws) == 4401


async def test_an_api_key_is_not_an_admin_token(world: World) -> None:
    app = await world.new_app()
    ws = await open_feed(world.client, app["api_key"])
    assert await close_code(ws) == 4401


@pytest.mark.parametrize("settings", [dataclasses.replace(make_settings(), ws_auth_timeout=0.3)])
async def test_no_auth_in_time_closes_with_4401(world: World) -> None:
    ws = await world.client.ws_connect("/v1/admin/stream")
    assert await close_code(ws) == 4401


async def test_snapshot_lists_pending_challenges_without_secrets(world: World) -> None:
    app = await world.new_app("Intranet")
    phone = await world.enroll("alice", app)
    made = await world.challenge(app, context={"ip": "203.0.113.9", "action": "Sign in"})
    assert "match_number" in made  # the app sees it; the operator must not
    nonce = (await world.device_view(phone, made["challenge_id"]))["nonce"]
    ws, snapshot = await signed_in(world.client)
    [shown] = snapshot["pending"]
    assert shown["challenge_id"] == made["challenge_id"]
    assert shown["app_name"] == "Intranet"
    assert shown["context"] == {"ip": "203.0.113.9", "action": "Sign in"}
    assert shown["status"] == "pending"
    assert "match_number" not in shown
    assert "nonce" not in shown
    text = str(snapshot)
    assert nonce not in text
    assert app["api_key"] not in text
    assert app["webhook_secret"] not in text
    await ws.close()


async def test_snapshot_has_recent_decisions_rates_and_server_time(world: World) -> None:
    app = await world.new_app("VPN")
    phone = await world.enroll("alice", app)
    approved = await world.challenge(app)
    assert await answer(world, phone, approved) == "approved"
    pending = await world.challenge(app)
    ws, snapshot = await signed_in(world.client)
    [recent] = snapshot["recent"]
    assert recent["challenge_id"] == approved["challenge_id"]
    assert recent["status"] == "approved"
    assert recent["device_id"] == phone.device_id
    assert "response_token" not in recent
    rates = snapshot["rates"]
    assert rates["window_seconds"] == 60
    counted = rates["apps"][app["app_id"]]
    assert counted["name"] == "VPN"
    assert counted["count"] == 2
    assert {c["challenge_id"] for c in counted["created"]} == {
        approved["challenge_id"],
        pending["challenge_id"],
    }
    assert snapshot["server_time"].endswith("Z")
    await ws.close()


async def test_a_new_challenge_and_its_end_arrive_as_events(world: World) -> None:
    app = await world.new_app()
    await world.enroll("alice", app)
    ws, _ = await signed_in(world.client)
    made = await world.challenge(app, context={"browser": "Firefox"})
    created = await next_of(ws, "challenge.created")
    assert created["challenge"]["challenge_id"] == made["challenge_id"]
    assert created["challenge"]["context"] == {"browser": "Firefox"}
    assert "match_number" not in created["challenge"]
    response = await world.client.delete(f"/v1/challenges/{made['challenge_id']}", headers=ADMIN)
    assert response.status == 200
    ended = await next_of(ws, "challenge.ended")
    assert ended["challenge"]["challenge_id"] == made["challenge_id"]
    assert ended["challenge"]["status"] == "cancelled"
    await ws.close()


async def test_a_fraud_report_arrives_with_its_reason(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    ws, _ = await signed_in(world.client)
    made = await world.challenge(app)
    assert await answer(world, phone, made, decision="deny", fraud=True) == "denied"
    ended = await next_of(ws, "challenge.ended", challenge={"challenge_id": made["challenge_id"]})
    assert ended["challenge"]["status"] == "denied"
    assert ended["challenge"]["reason"] == "fraud_reported"
    assert "response_token" not in ended["challenge"]
    await ws.close()


async def test_presence_events_follow_a_device_stream(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    ws, snapshot = await signed_in(world.client)
    assert snapshot["devices"] == []
    stream = await connect_phone(world, phone)
    online = await next_of(ws, "device.presence")
    assert online["device"] == {
        "device_id": phone.device_id,
        "user_id": "alice",
        "name": "pixel",
        "connected": True,
    }
    await stream.close()
    offline = await next_of(ws, "device.presence")
    assert offline["device"]["device_id"] == phone.device_id
    assert offline["device"]["connected"] is False
    await ws.close()


async def test_snapshot_lists_connected_devices(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    await world.enroll("bob", app)  # enrolled but not connected: not listed
    stream = await connect_phone(world, phone)
    ws, snapshot = await signed_in(world.client)
    assert snapshot["devices"] == [
        {"device_id": phone.device_id, "user_id": "alice", "name": "pixel", "connected": True}
    ]
    await ws.close()
    await stream.close()


async def test_a_revoked_device_is_announced(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    stream = await connect_phone(world, phone)
    ws, _ = await signed_in(world.client)
    response = await world.client.delete(f"/v1/admin/devices/{phone.device_id}", headers=ADMIN)
    assert response.status == 204
    revoked = await next_of(ws, "device.revoked")
    assert revoked == {"type": "device.revoked", "device_id": phone.device_id, "user_id": "alice"}
    assert await close_code(stream) == 4403
    await ws.close()


class Watchers(set[Listener]):
    """The service's watcher set, telling when one leaves."""

    def __init__(self) -> None:
        super().__init__()
        self.left = asyncio.Event()

    def discard(self, element: object) -> None:
        super().discard(element)
        self.left.set()


async def test_the_watcher_leaves_when_the_page_closes(world: World) -> None:
    push = world.client.server.app[SERVICE]
    push.watchers = watchers = Watchers()
    ws, _ = await signed_in(world.client)
    assert len(watchers) == 1
    await ws.close()
    await asyncio.wait_for(watchers.left.wait(), 3)
    assert not watchers


class StuckBrowser:
    """A websocket whose reader never reads: every send waits for ever."""

    def __init__(self) -> None:
        self.closed = False
        self.closed_with: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def send_str(self, data: str) -> None:
        await asyncio.Event().wait()

    async def close(self, *, code: int, message: bytes) -> bool:
        self.closed = True
        self.closed_with.set_result(code)
        return True


async def test_a_browser_that_stops_reading_is_closed_4408_and_never_awaited(world: World) -> None:
    browser = StuckBrowser()
    feed = Feed(cast(web.WebSocketResponse, browser), world.client.server.app[SERVICE])
    for _ in range(OUTBOX + 2):
        feed(DeviceRevoked("dev_x", "alice"))  # returns at once, however full the outbox
    assert await asyncio.wait_for(browser.closed_with, 2) == 4408
    await feed.stop()
