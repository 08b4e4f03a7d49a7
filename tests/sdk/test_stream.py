"""The device stream against the fake service: handshake, answers, reconnects, final closes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp import web

from client_sdk import (
    Backoff,
    ChallengeEvent,
    DeviceClient,
    DeviceStream,
    Disconnected,
    PushApprovalError,
    Ready,
    Resolved,
    Result,
    StreamError,
    StreamEvent,
)
from client_sdk.stream import stream_url

from .conftest import Running, ServerFactory

FAST = Backoff(base=0.01, cap=0.05)


@pytest.fixture
async def stream(device: DeviceClient) -> AsyncIterator[DeviceStream]:
    async with DeviceStream(device, backoff=FAST, proxy=None) as opened:
        yield opened


async def next_event(stream: DeviceStream) -> StreamEvent:
    return await asyncio.wait_for(anext(stream), 5)


def test_stream_url_follows_the_base_url_scheme_and_prefix() -> None:
    assert stream_url("http://127.0.0.1:8080") == "ws://127.0.0.1:8080/v1/devices/stream"
    assert stream_url("https://push.example.com/auth/") == (
        "wss://push.example.com/auth/v1/devices/stream"
    )


async def test_handshake_answers_hello_with_a_nonce_token_then_yields_ready_and_challenges(
    running: Running, device: DeviceClient, stream: DeviceStream
) -> None:
    challenge = running.service.add_challenge()
    ready = await next_event(stream)
    assert ready == Ready(device_id=device.device_id, reconnected=False)
    assert running.service.auth_claims[0]["iss"] == device.device_id
    event = await next_event(stream)
    assert isinstance(event, ChallengeEvent)
    assert event.challenge.challenge_id == challenge.challenge_id
    assert event.challenge.nonce == challenge.view["nonce"]


async def test_response_sent_over_the_socket_yields_the_result(
    running: Running, stream: DeviceStream
) -> None:
    challenge = running.service.add_challenge(match_number="314")
    await next_event(stream)
    event = await next_event(stream)
    assert isinstance(event, ChallengeEvent)
    await stream.send_response(event.challenge, "approve", "314")
    assert await next_event(stream) == Result(challenge.challenge_id, "approved")
    assert running.service.response_claims[-1]["cid"] == challenge.challenge_id


async def test_refused_response_yields_a_stream_error(
    running: Running, stream: DeviceStream
) -> None:
    challenge = running.service.add_challenge()
    await next_event(stream)
    event = await next_event(stream)
    assert isinstance(event, ChallengeEvent)
    challenge.status = "expired"
    await stream.send_response(event.challenge, "deny")
    error = await next_event(stream)
    assert isinstance(error, StreamError)
    assert error.code == "challenge_not_pending"


async def test_stream_reconnects_by_itself_after_the_server_closes_the_socket(
    running: Running, stream: DeviceStream
) -> None:
    running.service.script.close_after_ready = {0: 1011}
    assert isinstance(await next_event(stream), Ready)
    dropped = await next_event(stream)
    assert isinstance(dropped, Disconnected)
    assert "1011" in dropped.reason
    assert 0 <= dropped.retry_in <= FAST.ceiling(0)
    assert await next_event(stream) == Ready(event_device_id(running), reconnected=True)
    assert running.service.connections == 2
    assert stream.connected


async def test_a_challenge_resent_after_a_reconnect_is_yielded_once(
    running: Running, stream: DeviceStream
) -> None:
    first = running.service.add_challenge()
    running.service.script.close_after_ready = {0: 1001}
    assert isinstance(await next_event(stream), Ready)
    event = await next_event(stream)
    assert isinstance(event, ChallengeEvent)
    assert event.challenge.challenge_id == first.challenge_id
    second = running.service.add_challenge()
    assert isinstance(await next_event(stream), Disconnected)
    assert await next_event(stream) == Ready(event_device_id(running), reconnected=True)
    # The service re-sends both pending challenges; only the new one comes through.
    event = await next_event(stream)
    assert isinstance(event, ChallengeEvent)
    assert event.challenge.challenge_id == second.challenge_id
    marker = {"type": "resolved", "challenge_id": "marker", "status": "expired"}
    await running.service.push(marker)
    assert await next_event(stream) == Resolved("marker", "expired")


def event_device_id(running: Running) -> str:
    (device_id,) = running.service.devices
    return device_id


async def test_a_resolved_challenge_is_announced_and_forgotten(
    running: Running, stream: DeviceStream
) -> None:
    challenge = running.service.add_challenge()
    await next_event(stream)
    await next_event(stream)
    await running.service.push(
        {"type": "resolved", "challenge_id": challenge.challenge_id, "status": "expired"}
    )
    assert await next_event(stream) == Resolved(challenge.challenge_id, "expired")


async def test_unknown_message_types_are_skipped(running: Running, stream: DeviceStream) -> None:
    running.service.script.extra_messages = [{"type": "news", "text": "later version"}]
    challenge = running.service.add_challenge()
    await next_event(stream)
    event = await next_event(stream)
    assert isinstance(event, ChallengeEvent)
    assert event.challenge.challenge_id == challenge.challenge_id


async def test_close_code_4401_is_final_and_not_retried(
    running: Running, stream: DeviceStream
) -> None:
    running.service.script.refuse_auth_with = 4401
    with pytest.raises(PushApprovalError) as caught:
        await next_event(stream)
    assert (caught.value.code, caught.value.close_code) == ("invalid_token", 4401)
    await asyncio.sleep(0.1)
    assert running.service.connections == 1
    with pytest.raises(StopAsyncIteration):
        await next_event(stream)


async def test_close_code_4403_while_connected_is_final_device_revoked(
    running: Running, stream: DeviceStream
) -> None:
    await next_event(stream)
    await running.service.close_sockets(4403)
    with pytest.raises(PushApprovalError) as caught:
        await next_event(stream)
    assert (caught.value.code, caught.value.close_code) == ("device_revoked", 4403)
    assert running.service.connections == 1


async def test_send_response_while_disconnected_raises_not_connected(
    running: Running, device: DeviceClient
) -> None:
    running.service.add_challenge()
    (challenge,) = await device.pending()
    stream = DeviceStream(device, backoff=FAST, proxy=None)
    with pytest.raises(PushApprovalError) as caught:
        await stream.send_response(challenge, "deny")
    assert caught.value.code == "not_connected"


async def test_unreachable_service_is_retried_until_max_attempts(device: DeviceClient) -> None:
    unreachable = DeviceClient(replace(device.key_file, base_url="http://127.0.0.1:9"))
    async with (
        unreachable,
        DeviceStream(unreachable, backoff=FAST, max_attempts=2, proxy=None) as s,
    ):
        events = [await next_event(s), await next_event(s)]
        assert all(isinstance(e, Disconnected) for e in events)
        assert [e.attempt for e in events if isinstance(e, Disconnected)] == [1, 2]
        with pytest.raises(PushApprovalError) as caught:
            await next_event(s)
    assert caught.value.code == "connection_error"


async def test_close_ends_the_iteration(running: Running, stream: DeviceStream) -> None:
    await next_event(stream)
    waiter = asyncio.create_task(next_event(stream))
    await asyncio.sleep(0.05)
    await stream.close()
    with pytest.raises(StopAsyncIteration):
        await waiter


async def test_an_http_refusal_of_the_upgrade_is_final(
    aiohttp_server: ServerFactory, device: DeviceClient
) -> None:
    server = await aiohttp_server(web.Application())  # no stream endpoint: 404
    base_url = str(server.make_url("")).rstrip("/")
    elsewhere = DeviceClient(replace(device.key_file, base_url=base_url))
    async with elsewhere, DeviceStream(elsewhere, backoff=FAST, proxy=None) as s:
        with pytest.raises(PushApprovalError) as caught:
            await next_event(s)
        assert caught.value.status == 404
        with pytest.raises(StopAsyncIteration):
            await next_event(s)
