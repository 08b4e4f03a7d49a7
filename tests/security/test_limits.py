"""Resource limits under abuse: stream floods, stream and long-poll caps, slow clients."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections import Counter

import aiohttp
import pytest

from tests.conftest import World, make_settings
from tests.security.helpers import (
    audit,
    before,
    close_code,
    connect,
    error_of,
    first_done,
    frames_until_quiet,
    new_events,
    next_frame,
    prompt,
    stage,
    unchanged,
)

FLOOD = 500
JUNK = json.dumps({"type": "response", "token": "a.b.c"})


async def _flood(ws: aiohttp.ClientWebSocketResponse, count: int = FLOOD) -> float:
    """Send `count` junk response frames as fast as the socket takes them; returns the time."""
    started = time.monotonic()
    for _ in range(count):
        await ws.send_str(JUNK)
    return time.monotonic() - started


async def test_frame_flood_leaves_the_process_and_other_streams_healthy(world: World) -> None:
    flooder = await world.enroll("alice")
    bystander = await stage(world, user="bob")
    ws_flood = await connect(world, flooder)
    ws_bob = await connect(world, bystander.phone)
    assert (await next_frame(ws_bob))["challenge"]["challenge_id"] == bystander.cid
    was = await before(world, "bob")
    started = time.monotonic()
    _, health = await asyncio.gather(_flood(ws_flood), prompt(world))
    assert health < 1.0
    await prompt(world)
    await ws_bob.send_json({"type": "response", "token": bystander.approval()})
    result = await next_frame(ws_bob)
    assert (result["type"], result["status"]) == ("result", "approved")
    elapsed = time.monotonic() - started
    checked = [e for e in await new_events(world, was, "token.refused") if "device_id" not in e]
    # Only frames within the budget (burst 40, then 20 a second) reach the token checks.
    assert len(checked) <= 40 + 20 * elapsed + 5, (len(checked), elapsed)
    await ws_flood.close()
    await ws_bob.close()


async def test_frame_flood_is_refused_frame_by_frame_and_the_stream_stays_open(
    world: World,
) -> None:
    scene = await stage(world)
    ws = await connect(world, scene.phone)
    assert (await next_frame(ws))["challenge"]["challenge_id"] == scene.cid
    was = await before(world)
    await _flood(ws)
    frames, closed = await frames_until_quiet(ws, quiet=1.0)
    codes = Counter(f.get("code") for f in frames)
    assert closed is None, f"closed with {closed} after {len(frames)} answers: {dict(codes)}"
    assert len(frames) == FLOOD, dict(codes)
    assert set(codes) == {"invalid_token", "rate_limited"}
    assert codes["invalid_token"] <= 40 + 25
    await unchanged(world, was, pending=[scene])
    await asyncio.sleep(0.2)
    await ws.send_json({"type": "response", "token": scene.approval()})
    assert (await next_frame(ws))["status"] == "approved"
    await ws.close()


@pytest.mark.parametrize("settings", [make_settings(PUSH_MAX_STREAMS_PER_DEVICE="2")])
async def test_streams_per_device_beyond_the_cap_are_closed_4429(world: World) -> None:
    scene = await stage(world)
    first, second = await connect(world, scene.phone), await connect(world, scene.phone)
    for ws in (first, second):
        assert (await next_frame(ws))["challenge"]["challenge_id"] == scene.cid
    for _ in range(3):
        extra = await world.client.ws_connect("/v1/devices/stream")
        nonce = (await extra.receive_json(timeout=2))["nonce"]
        await extra.send_json({"type": "auth", "token": scene.phone.token(nonce=nonce)})
        assert await close_code(extra) == 4429
    later = await world.challenge(scene.app, "alice")
    for ws in (first, second):
        assert (await next_frame(ws))["challenge"]["challenge_id"] == later["challenge_id"]
    await first.close()
    await second.close()


@pytest.mark.parametrize("settings", [dataclasses.replace(make_settings(), ws_auth_timeout=0.5)])
@pytest.mark.parametrize("behaviour", ["silent", "pinging"])
async def test_stream_that_never_authenticates_is_closed_4401(world: World, behaviour: str) -> None:
    ws = await world.client.ws_connect("/v1/devices/stream", autoping=True)
    await ws.receive_json(timeout=2)
    started = time.monotonic()

    async def keep_pinging() -> None:
        while behaviour == "pinging" and not ws.closed:
            await ws.ping()
            await asyncio.sleep(0.1)

    pinger = asyncio.create_task(keep_pinging())
    try:
        assert await close_code(ws, within=3) == 4401
    finally:
        pinger.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await pinger
    assert 0.4 <= time.monotonic() - started < 2.0


async def test_many_unauthenticated_streams_do_not_starve_the_service(world: World) -> None:
    url = world.client.make_url("/v1/devices/stream")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        idle = []
        for _ in range(200):
            ws = await session.ws_connect(url)
            await ws.receive_json(timeout=2)
            idle.append(ws)
        await prompt(world)
        scene = await stage(world)
        ws = await connect(world, scene.phone)
        assert (await next_frame(ws))["challenge"]["challenge_id"] == scene.cid
        for each in [*idle, ws]:
            await each.close()


@pytest.mark.parametrize("settings", [make_settings(PUSH_MAX_WAITS_PER_APP="5")])
async def test_long_polls_beyond_the_per_app_cap_are_refused(world: World) -> None:
    scene = await stage(world)
    other = await stage(world, user="bob")
    url = f"/v1/challenges/{scene.cid}?wait=60"
    polls = [
        asyncio.create_task(world.client.get(url, headers=scene.app["headers"])) for _ in range(20)
    ]
    done = await first_done(polls, 15, within=5)
    refused = [await error_of(p.result()) for p in done]
    assert set(refused) == {(429, "rate_limited")}
    assert all(p.result().headers["Retry-After"] == "1" for p in polls if p.done())
    held = [p for p in polls if not p.done()]
    assert len(held) == 5
    theirs = await world.client.get(
        f"/v1/challenges/{other.cid}?wait=1", headers=other.app["headers"]
    )
    assert (await theirs.json())["status"] == "pending"
    started = time.monotonic()
    cancelled = await world.client.delete(
        f"/v1/challenges/{scene.cid}", headers=scene.app["headers"]
    )
    assert cancelled.status == 200
    answers = await asyncio.gather(*held)
    assert {(await a.json())["status"] for a in answers} == {"cancelled"}
    assert time.monotonic() - started < 1.0


async def test_long_polls_of_one_app_are_capped_by_default(world: World) -> None:
    scene = await stage(world)
    url = world.client.make_url(f"/v1/challenges/{scene.cid}?wait=60")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        polls = [
            asyncio.create_task(session.get(url, headers=scene.app["headers"])) for _ in range(1005)
        ]
        await first_done(polls, 5, within=10)
        await prompt(world)
        refused = [await error_of(p.result()) for p in polls if p.done()]
        assert refused == [(429, "rate_limited")] * 5
        cancelled = await world.client.delete(
            f"/v1/challenges/{scene.cid}", headers=scene.app["headers"]
        )
        assert cancelled.status == 200
        async with asyncio.timeout(10):
            answers = await asyncio.gather(*polls)
        assert sum(a.status == 200 for a in answers) == 1000
        for answer in answers:
            answer.release()


@pytest.mark.parametrize("settings", [make_settings(PUSH_AUDIT_KEEP="100")])
async def test_junk_tokens_from_one_source_cannot_flush_the_audit_trail(world: World) -> None:
    """Anyone may post a response token without credentials, and every refusal is audited; a
    stranger must not be able to push the operator's history out of the trail that way."""
    scene = await stage(world)
    history = [e["event_id"] for e in await audit(world)]
    assert len(history) == 4
    for _ in range(150):
        await scene.answer("a.b.c")
    kept = {e["event_id"] for e in await audit(world)}
    assert set(history) <= kept, "the trail lost the app, enrollment and challenge events"


# Slow clients, on raw TCP connections to the test server's real port.
REQUEST_TIMEOUT = [make_settings(PUSH_HTTP_REQUEST_TIMEOUT="1")]
"""The limit these tests want: a client has about this many seconds to send a request's headers,
and again its body, before the server drops the connection (or answers 408)."""


async def _open(world: World) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    server = world.client.server
    return await asyncio.open_connection(server.host, server.port)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def _trickle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes, limit: float
) -> float | None:
    """Send `data` one byte every 0.2 s; the time after which the server hung up or answered,
    or None if it was still waiting after `limit` seconds."""
    started = time.monotonic()
    for byte in data:
        if time.monotonic() - started > limit:
            return None
        try:
            writer.write(bytes([byte]))
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(64), 0.2)
        except TimeoutError:
            continue
        except ConnectionError:
            return time.monotonic() - started
        if answer == b"" or answer.startswith(b"HTTP/1.1 408"):
            return time.monotonic() - started
        raise AssertionError(f"the server answered a request it cannot have read: {answer!r}")
    return None


@pytest.mark.parametrize("settings", REQUEST_TIMEOUT)
async def test_request_headers_trickled_byte_by_byte_are_cut_off(world: World) -> None:
    endless = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    clients = [await _open(world) for _ in range(5)]
    try:
        cut = await asyncio.gather(*(_trickle(r, w, endless, limit=4.0) for r, w in clients))
    finally:
        for _, writer in clients:
            await _close(writer)
    assert all(after is not None and after < 3.0 for after in cut), cut


@pytest.mark.parametrize("settings", REQUEST_TIMEOUT)
async def test_request_body_trickled_byte_by_byte_is_cut_off(world: World) -> None:
    app = await world.new_app()
    head = (
        "POST /v1/challenges HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {app['api_key']}\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    reader, writer = await _open(world)
    try:
        writer.write(head)
        await writer.drain()
        cut = await _trickle(reader, writer, b'{"user_id": "' + b"a" * 980, limit=4.0)
    finally:
        await _close(writer)
    assert cut is not None, "the server still waits for the body after 4 s"
    assert cut < 3.0, cut
    await prompt(world)


async def test_many_half_sent_requests_do_not_starve_the_service(world: World) -> None:
    held = []
    for _ in range(300):
        reader, writer = await _open(world)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        held.append((reader, writer))
    await asyncio.gather(*(w.drain() for _, w in held))
    try:
        await prompt(world)
        app = await world.new_app()
        await world.enroll("alice", app)
        await world.challenge(app)
    finally:
        for _, writer in held:
            await _close(writer)
