"""Redis going away and coming back under a running fleet of instances.

While it is gone: honest 503s, processes up, nothing half-written, phones told to come back.
Once it is back: pushes flow again by themselves, and with append-only persistence nothing is
forgotten across a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from client_sdk.events import ChallengeEvent, Disconnected, Ready, Result
from tests.conftest import ADMIN_TOKEN
from tests.fleet.conftest import Scene
from tests.fleet.support import Endpoint, Reply, eventually, is_contract_error
from tests.phone import Phone

BACK_WITHIN = 5.0
"""How long instances may take to be ready again once Redis answers."""
OUTAGE = 2.0
"""How long Redis stays away once every instance has noticed."""


async def _ready(endpoint: Endpoint) -> bool:
    return (await endpoint.call("GET", "/readyz")).status == 200


async def _not_ready(endpoint: Endpoint) -> Reply | None:
    reply = await endpoint.call("GET", "/readyz")
    return reply if reply.status == 503 else None


def api_calls(
    app: dict[str, Any], phone: Phone, challenge: dict[str, Any], code: str
) -> list[tuple[str, str, dict[str, Any]]]:
    """One call of each kind that needs the store: (method, path, request options)."""
    key, cid = app["api_key"], challenge["challenge_id"]
    newcomer = Phone(user_id=phone.user_id)
    enrollment = {
        "code": code,
        "public_key": newcomer.jwk,
        "name": "new",
        "proof": newcomer.proof(code),
    }
    response = {"token": phone.response({"challenge_id": cid, "nonce": "n" * 22}, "approve")}
    return [
        ("POST", "/v1/challenges", {"token": key, "body": {"user_id": phone.user_id}}),
        ("GET", f"/v1/challenges/{cid}", {"token": key}),
        ("GET", f"/v1/challenges/{cid}?wait=3", {"token": key}),
        ("DELETE", f"/v1/challenges/{cid}", {"token": key}),
        ("POST", "/v1/enrollments", {"token": key, "body": {"user_id": phone.user_id}}),
        ("POST", "/v1/enrollments", {"token": ADMIN_TOKEN, "body": {"user_id": "newcomer"}}),
        ("POST", "/v1/devices", {"body": enrollment}),
        ("GET", "/v1/devices/me/challenges", {"headers": phone.bearer()}),
        ("POST", f"/v1/challenges/{cid}/response", {"body": response}),
        ("POST", "/v1/admin/apps", {"token": ADMIN_TOKEN, "body": {"name": "Later"}}),
        ("GET", "/v1/admin/apps", {"token": ADMIN_TOKEN}),
        ("GET", "/v1/admin/challenges?status=pending", {"token": ADMIN_TOKEN}),
        ("GET", f"/v1/admin/users/{phone.user_id}/devices", {"token": ADMIN_TOKEN}),
        ("DELETE", f"/v1/admin/devices/{phone.device_id}", {"token": ADMIN_TOKEN}),
        ("GET", "/v1/admin/audit", {"token": ADMIN_TOKEN}),
        ("GET", "/v1/admin/webhooks", {"token": ADMIN_TOKEN}),
    ]


async def test_while_redis_is_down_every_instance_stays_up_and_answers_503_unavailable(
    scene: Scene,
) -> None:
    redis = scene.redis(durable=True)
    fleet = await scene.fleet(redis, 3)
    one, two, three = endpoints = [scene.endpoint(url) for url in fleet.urls]
    app = await one.new_app()
    phone = await two.enroll("jo", app)
    before = await two.challenge(app, "jo", ttl_seconds=300)
    spare_code = (await three.enrollment("jo", app))["code"]

    redis.stop()
    for endpoint in endpoints:
        reply = await eventually(lambda endpoint=endpoint: _not_ready(endpoint), "/readyz 503")
        assert is_contract_error(reply, 503, "unavailable"), reply
        assert (await endpoint.call("GET", "/healthz")).status == 200
        for method, path, options in api_calls(app, phone, before, spare_code):
            started = time.monotonic()
            reply = await endpoint.call(method, path, **options)
            assert is_contract_error(reply, 503, "unavailable"), (endpoint.url, method, path, reply)
            assert time.monotonic() - started < 5.0, (method, path)
    assert all(instance.running for instance in fleet.instances), fleet.logs()

    redis.start()  # Same port, and the append-only file brings the data back.
    for endpoint in endpoints:
        await eventually(lambda endpoint=endpoint: _ready(endpoint), "/readyz 200", BACK_WITHIN)
    # Nothing was half-written: no challenge from the outage, the device kept, the code unused.
    # (503s right after the return are another test's subject; here they are only retried.)
    listed = await served(three, "GET", "/v1/admin/challenges?user_id=jo", token=ADMIN_TOKEN)
    assert [c["challenge_id"] for c in listed.body["challenges"]] == [before["challenge_id"]]
    path = f"/v1/challenges/{before['challenge_id']}"
    kept = await served(one, "GET", path, token=app["api_key"])
    assert kept.body["status"] == "pending"
    devices = await served(one, "GET", "/v1/admin/users/jo/devices", token=ADMIN_TOKEN)
    assert [d["device_id"] for d in devices.body["devices"]] == [phone.device_id]
    newcomer = Phone(user_id="jo")
    body = {
        "code": spare_code,
        "public_key": newcomer.jwk,
        "name": "new",
        "proof": newcomer.proof(spare_code),
    }
    enrolled = await served(three, "POST", "/v1/devices", body=lambda: body, expect=201)
    assert enrolled.body["user_id"] == "jo"


@pytest.mark.timeout(60)
async def test_after_a_redis_outage_a_new_challenge_reaches_a_phone_that_streamed_through_it(
    scene: Scene,
) -> None:
    redis = scene.redis(durable=True)
    fleet = await scene.fleet(redis, 3)
    one, two, _ = endpoints = [scene.endpoint(url) for url in fleet.urls]
    app = await one.new_app()
    # The SDK phone streams to instance 1 (its enrollment URI names it) from before the outage.
    client = await scene.device_client((await one.enrollment("lee", app))["uri"], "sdk")
    sdk = scene.stream(client)
    await sdk.next_of(Ready)

    redis.stop()
    for endpoint in endpoints:
        await eventually(lambda endpoint=endpoint: _not_ready(endpoint), "/readyz 503")
    await asyncio.sleep(OUTAGE)
    redis.start()
    back = time.monotonic()
    for endpoint in endpoints:
        await eventually(lambda endpoint=endpoint: _ready(endpoint), "/readyz 200", BACK_WITHIN)
    ready_in = time.monotonic() - back

    # Every instance says it is ready: a challenge made now must reach the phone, whether its
    # stream lived through the outage or it reconnected meanwhile.
    made = await served(
        two,
        "POST",
        "/v1/challenges",
        token=app["api_key"],
        body=lambda: {"user_id": "lee"},
        expect=201,
    )
    cid = made.body["challenge_id"]
    event = await sdk.next_of(ChallengeEvent, lambda e: e.challenge.challenge_id == cid)
    await sdk.stream.send_response(event.challenge, "approve", number=made.body["match_number"])
    result = await sdk.next_of(Result, lambda e: e.challenge_id == cid)
    assert result.status == "approved"
    assert ready_in < BACK_WITHIN


async def test_a_phone_connecting_while_redis_is_down_is_told_to_come_back_not_that_its_auth_is_bad(
    scene: Scene,
) -> None:
    redis = scene.redis(durable=True)
    fleet = await scene.fleet(redis, 2)
    one, two = (scene.endpoint(url) for url in fleet.urls)
    app = await one.new_app()
    phone = await one.enroll("max", app)
    client = await scene.device_client((await two.enrollment("max", app))["uri"], "sdk")

    redis.stop()
    await eventually(lambda: _not_ready(two), "/readyz 503")
    attempt = await scene.attempt(two.url, phone)
    assert attempt.ready is None
    code = await attempt.closed_with()
    # 4401 says the credentials are bad, so a phone must not retry with them: the SDK stops.
    assert code != 4401, "a store outage was reported to the phone as a refused auth"
    sdk = scene.stream(client)  # Starts while Redis is still down, and keeps trying.
    await eventually(lambda: sdk.of(Disconnected) or sdk.error, "the SDK phone turned away")
    redis.start()
    ready = await sdk.next_of(Ready, within=BACK_WITHIN)
    assert ready.device_id == client.device_id


async def test_with_append_only_persistence_a_redis_restart_forgets_no_app_device_or_challenge(
    scene: Scene,
) -> None:
    redis = scene.redis(durable=True)
    fleet = await scene.fleet(redis, 2)
    one, two = (scene.endpoint(url) for url in fleet.urls)
    app = await one.new_app("Payroll")
    phone = await one.enroll("kim", app)
    link = await scene.link(one.url, phone)
    made = await two.challenge(app, "kim", ttl_seconds=300)
    cid = made["challenge_id"]
    view = await link.challenge(cid)

    redis.restart()
    for endpoint in (one, two):
        await eventually(lambda endpoint=endpoint: _ready(endpoint), "/readyz 200", BACK_WITHIN)
    refused: list[str] = []
    key = app["api_key"]

    async def call(endpoint: Endpoint, method: str, path: str, **options: Any) -> Reply:
        return await served(endpoint, method, path, refused=refused, **options)

    apps = await call(one, "GET", "/v1/admin/apps", token=ADMIN_TOKEN)
    assert [a["app_id"] for a in apps.body["apps"]] == [app["app_id"]]
    seen = await call(two, "GET", f"/v1/challenges/{cid}", token=key)
    assert seen.body["status"] == "pending"  # The API key still works, the challenge is kept.
    devices = await call(two, "GET", "/v1/admin/users/kim/devices", token=ADMIN_TOKEN)
    assert [d["device_id"] for d in devices.body["devices"]] == [phone.device_id]
    pending = await call(two, "GET", "/v1/devices/me/challenges", headers=phone.bearer)
    assert [c["challenge_id"] for c in pending.body["challenges"]] == [cid]

    def answer() -> dict[str, str]:
        return {"token": phone.response(view, "approve", number=made["match_number"])}

    answered = await call(two, "POST", f"/v1/challenges/{cid}/response", body=answer)
    assert answered.body == {"challenge_id": cid, "status": "approved"}
    final = await call(one, "GET", f"/v1/challenges/{cid}", token=key)
    assert final.body["status"] == "approved"
    assert final.body["device_id"] == phone.device_id

    # Once /readyz said 200 on both instances, no call should have failed for want of Redis.
    assert not refused, f"503 after /readyz was 200 again: {refused}"


async def served(
    endpoint: Endpoint,
    method: str,
    path: str,
    *,
    refused: list[str] | None = None,
    token: str | None = None,
    body: Callable[[], Any] | None = None,
    headers: Callable[[], dict[str, str]] | None = None,
    expect: int = 200,
) -> Reply:
    """The answer to a call once Redis is back. A 503 is noted in `refused` and the call made
    again (fresh tokens each time, for a few seconds at most), so what Redis kept is still
    checked; whether any 503 should have happened is for the caller to judge."""
    deadline = time.monotonic() + 3.0
    while True:
        reply = await endpoint.call(
            method,
            path,
            token=token,
            body=body() if body else None,
            headers=headers() if headers else None,
        )
        if reply.status != 503 or time.monotonic() > deadline:
            break
        if refused is not None:
            refused.append(f"{method} {path} on {endpoint.url}")
        await asyncio.sleep(0.1)
    assert reply.status == expect, (method, path, reply)
    return reply
