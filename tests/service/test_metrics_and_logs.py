"""Metrics scraped around a real flow, and log lines that carry facts but no secrets."""

from __future__ import annotations

import json
import logging
import re

import pytest

from push_service.logs import JsonLines
from tests.conftest import World


def _value(text: str, name: str, **labels: str) -> float:
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = (
        "(?m)^"
        + re.escape(name)
        + (r"\{" + re.escape(selector) + r"\}" if labels else "")
        + r" (\S+)"
    )
    match = re.search(pattern, text)
    assert match is not None, f"{name} {labels} not in the scrape"
    return float(match.group(1))


async def _scrape(world: World) -> str:
    response = await world.client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    return await response.text()


async def test_a_flow_moves_the_counters(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    challenge = await world.challenge(app)
    assert _value(await _scrape(world), "push_pending_challenges") == 1
    view = await world.device_view(phone, challenge["challenge_id"])
    token = phone.response(view, "deny", fraud=True)
    await world.client.post(
        f"/v1/challenges/{view['challenge_id']}/response", json={"token": token}
    )
    await world.client.post(
        f"/v1/challenges/{view['challenge_id']}/response", json={"token": token}
    )
    text = await _scrape(world)
    assert _value(text, "push_challenges_created_total", app_id=app["app_id"]) == 1
    assert (
        _value(text, "push_challenge_decisions_total", reason="fraud_reported", status="denied")
        == 1
    )
    assert _value(text, "push_pending_challenges") == 0
    assert _value(text, "push_tokens_refused_total", reason="replay") == 1
    assert _value(text, "push_refusals_total", code="invalid_token") == 1
    assert _value(text, "push_decision_seconds_count", status="denied") == 1
    route = "/v1/challenges/{challenge_id}/response"
    assert _value(text, "push_http_requests_total", method="POST", route=route, status="200") == 1


async def test_connected_streams_gauge_follows_the_hub(world: World) -> None:
    phone = await world.enroll("alice")
    ws = await world.client.ws_connect("/v1/devices/stream")
    nonce = (await ws.receive_json(timeout=2))["nonce"]
    await ws.send_json({"type": "auth", "token": phone.token(nonce=nonce)})
    await ws.receive_json(timeout=2)
    assert _value(await _scrape(world), "push_connected_streams") == 1
    await ws.close()


async def test_json_log_lines_carry_route_status_and_no_secrets(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    app = await world.new_app()
    await world.enroll("alice", app)
    challenge = await world.challenge(app)
    lines = [JsonLines().format(r) for r in caplog.records]
    entries = [json.loads(line) for line in lines]
    access = [e for e in entries if e["logger"] == "push_service.access"]
    created = next(e for e in access if e.get("route") == "/v1/challenges")
    assert created["status"] == 201
    assert len(created["request_id"]) == 16
    audit_line = next(e for e in entries if e["logger"] == "push_service.audit")
    assert audit_line["request_id"]
    audit = [e for e in entries if e["logger"] == "push_service.audit"]
    assert any(e["event"]["kind"] == "challenge.created" for e in audit)
    joined = "\n".join(lines)
    for secret in (app["api_key"], app["webhook_secret"], challenge["match_number"]):
        assert secret not in joined


async def test_a_sane_request_id_is_kept_and_echoed(world: World) -> None:
    given = await world.client.get("/healthz", headers={"X-Request-Id": "lb-1234abcd"})
    assert given.headers["X-Request-Id"] == "lb-1234abcd"
    junk = await world.client.get("/healthz", headers={"X-Request-Id": "x" * 300})
    assert junk.headers["X-Request-Id"] != "x" * 300
    assert len(junk.headers["X-Request-Id"]) == 16
