"""Two instances on one Redis: a feed on one sees what happens on the other."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from push_service.app import create_app
from tests.conftest import World, make_settings
from tests.dashboard.conftest import connect_phone, next_of, signed_in
from tests.redis_server import RedisServer


async def test_a_feed_sees_challenges_and_devices_of_another_instance(
    aiohttp_client: Callable[..., Awaitable[Any]], redis_server: RedisServer
) -> None:
    env = {"PUSH_REDIS_URL": redis_server.url, "PUSH_REDIS_PREFIX": f"dash:{secrets.token_hex(6)}:"}
    here = await aiohttp_client(create_app(make_settings(**env)))
    there = World(await aiohttp_client(create_app(make_settings(**env))))
    app = await there.new_app("Intranet")
    phone = await there.enroll("alice", app)
    early = await there.challenge(app)
    stream = await connect_phone(there, phone)
    ws, snapshot = await signed_in(here)
    assert [c["challenge_id"] for c in snapshot["pending"]] == [early["challenge_id"]]
    assert [d["device_id"] for d in snapshot["devices"]] == [phone.device_id]
    made = await there.challenge(app)
    created = await next_of(ws, "challenge.created")
    assert created["challenge"]["challenge_id"] == made["challenge_id"]
    await stream.close()
    offline = await next_of(ws, "device.presence")
    assert offline["device"] == {
        "device_id": phone.device_id,
        "user_id": "alice",
        "name": "pixel",
        "connected": False,
    }
    await ws.close()
