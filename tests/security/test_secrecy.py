"""The match number and other secrets stay out of phones, operator views, callbacks, logs, store."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from push_service.logs import JsonLines
from push_service.models import to_record
from tests.conftest import ADMIN, ADMIN_TOKEN, World, make_settings
from tests.security.helpers import (
    Scene,
    audit,
    connect,
    deliveries,
    next_frame,
    service_of,
    stage,
)

SIX_DIGITS = [make_settings(PUSH_MATCH_DIGITS="6")]
"""Six digits, so a match number found anywhere is no accident of timestamps or counters."""


def _leaks(number: str, text: str) -> bool:
    return "match_number" in text or re.search(rf"(?<![0-9]){number}(?![0-9])", text) is not None


async def _approved(world: World) -> tuple[Scene, str]:
    """A challenge approved with its number; returns the scene and that number."""
    scene = await stage(world, context={"action": "Sign in"})
    number = scene.challenge["match_number"]
    assert re.fullmatch(r"[0-9]{6}", number)
    answer = await scene.answer(scene.approval())
    assert (await answer.json())["status"] == "approved"
    return scene, number


@pytest.mark.parametrize("settings", SIX_DIGITS)
async def test_match_number_never_reaches_the_phone(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    tablet = await world.enroll("alice", app)
    ws_phone, ws_tablet = await connect(world, phone), await connect(world, tablet)
    scene = await stage(world, app=app, phone=phone)
    number = scene.challenge["match_number"]
    polled = await (
        await world.client.get("/v1/devices/me/challenges", headers=phone.bearer())
    ).text()
    pushed = [await next_frame(ws_phone), await next_frame(ws_tablet)]
    await ws_phone.send_json({"type": "response", "token": scene.approval()})
    result = await next_frame(ws_phone)
    resolved = await next_frame(ws_tablet)
    assert (result["status"], resolved["status"]) == ("approved", "approved")
    for seen in (polled, json.dumps(pushed), json.dumps(result), json.dumps(resolved)):
        assert not _leaks(number, seen), seen
    await ws_phone.close()
    await ws_tablet.close()


@pytest.mark.parametrize("settings", SIX_DIGITS)
async def test_match_number_never_reaches_the_operator(world: World) -> None:
    scene = await stage(world)
    number = scene.challenge["match_number"]
    views = [
        await (await world.client.get(f"/v1/challenges/{scene.cid}", headers=ADMIN)).text(),
        await (await world.client.get(f"/v1/challenges/{scene.cid}?wait=1", headers=ADMIN)).text(),
        await (await world.client.get("/v1/admin/challenges", headers=ADMIN)).text(),
        await (await world.client.delete(f"/v1/challenges/{scene.cid}", headers=ADMIN)).text(),
        json.dumps(await audit(world)),
    ]
    for view in views:
        assert not _leaks(number, view), view


@pytest.mark.parametrize("settings", SIX_DIGITS)
async def test_match_number_never_reaches_the_callback(world: World) -> None:
    scene, number = await _approved(world)
    [listed] = await deliveries(world)
    assert listed["type"] == "challenge.approved"
    [stored] = await service_of(world).engine.list_deliveries(None, 10)
    payload = json.loads(stored.payload)
    assert payload["data"]["challenge_id"] == scene.cid
    assert payload["data"]["response_token"]
    assert not _leaks(number, stored.payload), stored.payload
    assert not _leaks(number, json.dumps(listed))


@pytest.mark.parametrize("settings", SIX_DIGITS)
async def test_match_number_and_credentials_never_reach_the_logs_or_the_audit_trail(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    scene, number = await _approved(world)
    enrollment = await world.client.post("/v1/enrollments", json={"user_id": "bob"}, headers=ADMIN)
    code = (await enrollment.json())["code"]
    lines = "\n".join(JsonLines().format(record) for record in caplog.records)
    trail = json.dumps(await audit(world))
    assert "challenge.approved" in lines
    assert "challenge.approved" in trail
    assert not _leaks(number, lines)
    assert not _leaks(number, trail)
    secrets = [
        scene.app["api_key"],
        scene.app["webhook_secret"],
        code,
        ADMIN_TOKEN,
        scene.view["nonce"],
        scene.approval().split(".")[2],
    ]
    for secret in secrets:
        assert secret not in lines
        assert secret not in trail


@pytest.mark.parametrize("settings", SIX_DIGITS)
async def test_match_number_is_not_stored(world: World) -> None:
    scene = await stage(world)
    number = scene.challenge["match_number"]
    stored = await service_of(world).engine.get_challenge(scene.cid)
    assert stored is not None
    assert not _leaks(number, json.dumps(to_record(stored), default=str))


@pytest.mark.parametrize("settings", SIX_DIGITS)
async def test_match_number_is_shown_only_to_its_app_and_only_while_pending(
    world: World,
) -> None:
    scene = await stage(world)
    number = scene.challenge["match_number"]
    assert (await scene.as_app())["match_number"] == number
    other = await world.new_app("Other")
    theirs = await world.client.get(f"/v1/challenges/{scene.cid}", headers=other["headers"])
    assert theirs.status == 404
    assert not _leaks(number, await theirs.text())
    answer = await scene.answer(scene.approval())
    assert (await answer.json())["status"] == "approved"
    after: dict[str, Any] = await scene.as_app()
    assert after["status"] == "approved"
    assert not _leaks(number, json.dumps(after))


@pytest.mark.parametrize("settings", SIX_DIGITS)
async def test_cancelled_challenge_answer_to_the_app_carries_no_number(world: World) -> None:
    scene = await stage(world)
    number = scene.challenge["match_number"]
    cancelled = await world.client.delete(
        f"/v1/challenges/{scene.cid}", headers=scene.app["headers"]
    )
    assert (await cancelled.json())["status"] == "cancelled"
    assert not _leaks(number, await cancelled.text())
