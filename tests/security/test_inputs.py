"""Hostile request bodies: too big, too deep, ambiguous, non-finite, unencodable, or disguised."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import ADMIN, World
from tests.phone import Phone
from tests.security.helpers import before, error_of, new_events, stage, unchanged


async def _victim(world: World) -> tuple[dict[str, Any], Any]:
    """An app and a user with a phone, and the state before the attack."""
    app = await world.new_app()
    await world.enroll("alice", app)
    return app, await before(world)


async def _post_raw(world: World, app: dict[str, Any], raw: bytes | Any, **headers: str) -> Any:
    return await world.client.post(
        "/v1/challenges",
        data=raw,
        headers={**app["headers"], "Content-Type": "application/json", **headers},
    )


async def _nothing_created(world: World, was: Any) -> None:
    listed = await world.client.get("/v1/admin/challenges", headers=ADMIN)
    assert (await listed.json())["challenges"] == []
    await unchanged(world, was)
    assert [e["kind"] for e in await new_events(world, was, "challenge")] == []


async def test_oversized_declared_body_is_413(world: World) -> None:
    app, was = await _victim(world)
    padding = " " * (64 * 1024)
    response = await _post_raw(world, app, f'{{"user_id": "alice"{padding}}}'.encode())
    assert await error_of(response) == (413, "payload_too_large")
    await _nothing_created(world, was)


async def test_oversized_chunked_body_without_length_is_413(world: World) -> None:
    app, was = await _victim(world)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"user_id": "alice", "context": {"a": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}}'

    response = await _post_raw(world, app, chunks())
    assert await error_of(response) == (413, "payload_too_large")
    await _nothing_created(world, was)


@pytest.mark.parametrize("depth", [17, 5000])
async def test_deeply_nested_json_is_refused(world: World, depth: int) -> None:
    app, was = await _victim(world)
    nested = '{"a":' * depth + '"x"' + "}" * depth
    response = await _post_raw(world, app, f'{{"user_id": "alice", "context": {nested}}}'.encode())
    assert await error_of(response) == (400, "invalid_request")
    await _nothing_created(world, was)


@pytest.mark.parametrize(
    "raw",
    [
        '{"user_id": "alice", "user_id": "bob"}',
        '{"user_id": "alice", "context": {"ip": "198.51.100.4", "ip": "203.0.113.9"}}',
        '{"user_id": "alice", "number_matching": true, "number_matching": false}',
    ],
)
async def test_duplicate_member_names_are_refused(world: World, raw: str) -> None:
    app, was = await _victim(world)
    assert await error_of(await _post_raw(world, app, raw.encode())) == (400, "invalid_request")
    await _nothing_created(world, was)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
async def test_nan_and_infinity_are_refused(world: World, number: str) -> None:
    app, was = await _victim(world)
    raw = f'{{"user_id": "alice", "ttl_seconds": {number}}}'.encode()
    assert await error_of(await _post_raw(world, app, raw)) == (400, "invalid_request")
    await _nothing_created(world, was)


@pytest.mark.parametrize("digits", [20, 400, 5000, 60000])
async def test_huge_integer_is_refused_quickly(world: World, digits: int) -> None:
    app, was = await _victim(world)
    raw = b'{"user_id": "alice", "ttl_seconds": 1' + b"0" * digits + b"}"
    started = time.monotonic()
    assert await error_of(await _post_raw(world, app, raw)) == (400, "invalid_request")
    assert time.monotonic() - started < 1.0
    await _nothing_created(world, was)


@pytest.mark.parametrize(
    "raw",
    [
        '{"user_id": "\\ud800"}',
        '{"user_id": "alice", "context": {"action": "Sign in \\udfff"}}',
        '{"user_id": "alice", "context": {"\\udbff": "x"}}',
    ],
)
async def test_lone_surrogate_is_refused(world: World, raw: str) -> None:
    app, was = await _victim(world)
    assert await error_of(await _post_raw(world, app, raw.encode())) == (400, "invalid_request")
    await _nothing_created(world, was)


@pytest.mark.parametrize(
    "raw", [b'{"user_id": "al\xffice"}', b'{"user_id": "\xc0\xae"}', b'{"user_id": "\xed\xa0\x80"}']
)
async def test_invalid_utf8_is_refused(world: World, raw: bytes) -> None:
    app, was = await _victim(world)
    assert await error_of(await _post_raw(world, app, raw)) == (400, "invalid_request")
    await _nothing_created(world, was)


@pytest.mark.parametrize(
    "extra",
    [
        {"status": "approved"},
        {"match_number": "123"},
        {"app_id": "app_someone_else"},
        {"app": {"name": "Your Bank"}},
        {"nonce": "chosen-by-the-app"},
        {"expires_at": "2099-01-01T00:00:00Z"},
    ],
)
async def test_unknown_fields_are_refused_not_assigned(world: World, extra: dict[str, Any]) -> None:
    app, was = await _victim(world)
    response = await world.client.post(
        "/v1/challenges", json={"user_id": "alice", **extra}, headers=app["headers"]
    )
    assert await error_of(response) == (400, "invalid_request")
    await _nothing_created(world, was)


async def test_unknown_fields_at_enrollment_are_refused(world: World) -> None:
    created = await world.client.post("/v1/enrollments", json={"user_id": "bob"}, headers=ADMIN)
    code = (await created.json())["code"]
    phone = Phone()
    body = {"code": code, "public_key": phone.jwk, "name": "x", "proof": phone.proof(code)}
    for extra in ({"user_id": "admin"}, {"app_ids": None}, {"device_id": "dev_chosen"}):
        response = await world.client.post("/v1/devices", json={**body, **extra})
        assert await error_of(response) == (400, "invalid_request")
    devices = await world.client.get("/v1/admin/users/bob/devices", headers=ADMIN)
    assert (await devices.json())["devices"] == []
    assert (await world.client.post("/v1/devices", json=body)).status == 201


@pytest.mark.parametrize(
    "text",
    [
        "Sign in\u202e",
        "\u2066Sign in\u2069",
        "Sign\u200fin",
        "Sign in\x00",
        "\x1b[2JSign in",
        "Sign in\nApprove",
        "Sign in\x85",
        "\u202dSign in",
    ],
)
@pytest.mark.parametrize("where", ["value", "key"])
async def test_control_characters_and_bidi_overrides_in_context_are_refused(
    world: World, text: str, where: str
) -> None:
    app, was = await _victim(world)
    context = {"action": text} if where == "value" else {text: "Sign in"}
    response = await world.client.post(
        "/v1/challenges", json={"user_id": "alice", "context": context}, headers=app["headers"]
    )
    assert await error_of(response) == (400, "invalid_request")
    await _nothing_created(world, was)


async def test_body_without_json_content_type_is_refused(world: World) -> None:
    app, was = await _victim(world)
    response = await _post_raw(
        world, app, b'{"user_id": "alice"}', **{"Content-Type": "text/plain"}
    )
    assert await error_of(response) == (400, "invalid_request")
    await _nothing_created(world, was)


@pytest.mark.parametrize(
    "body",
    [{"token": "x" * 8193}, {"token": ["a.b.c"]}, {"token": "a.b.c", "decision": "approve"}, []],
)
async def test_response_body_that_is_not_one_token_string_is_refused(
    world: World, body: Any
) -> None:
    scene = await stage(world)
    was = await before(world)
    response = await world.client.post(f"/v1/challenges/{scene.cid}/response", json=body)
    assert await error_of(response) == (400, "invalid_request")
    await unchanged(world, was, pending=[scene])


async def test_many_bad_bodies_at_once_leave_the_service_answering(world: World) -> None:
    app, was = await _victim(world)
    bad = [b'{"user_id": "alice", "user_id": "x"}', b"[" * 5000, b'{"ttl_seconds": NaN}'] * 30
    answers = await asyncio.gather(*(_post_raw(world, app, raw) for raw in bad))
    assert {await error_of(a) for a in answers} == {(400, "invalid_request")}
    assert (await world.client.get("/healthz")).status == 200
    await _nothing_created(world, was)
