"""SSRF through callback URLs: private, loopback, link-local and disguised targets are refused."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN, World, make_settings
from tests.security.helpers import audit, before, error_of, unchanged

STRICT_CALLBACKS = [make_settings(PUSH_CALLBACK_ALLOW_PRIVATE="0")]

AUDITED = {
    "loopback": "https://127.0.0.1/hook",
    "private 10/8": "https://10.0.0.1/hook",
    "cloud metadata": "https://169.254.169.254/latest/meta-data/",
    "IPv6 loopback": "https://[::1]/hook",
    "IPv4-mapped loopback": "https://[::ffff:127.0.0.1]/hook",
    "IPv6 metadata": "https://[fd00:ec2::254]/latest/meta-data/",
    "carrier-grade NAT metadata": "https://100.100.100.200/latest/meta-data/",
    "unspecified": "https://0.0.0.0:8080/hook",
    "loopback on another port": "https://127.0.0.1:6379/",
    "name resolving to loopback": "https://localhost/hook",
    "decimal loopback": "https://2130706433/hook",
    "hex and short loopback": "https://0x7f.1/hook",
    "credentials in the URL": "https://user:secret@example.com/hook",
}
"""Refused by the guard while creating the challenge, which audits the refusal."""

UNAUDITED = {
    "plain http": "http://example.com/hook",
    "file scheme": "file:///etc/passwd",
    "gopher scheme": "gopher://127.0.0.1:6379/_INFO",
}
"""Refused while the body is read, before any challenge is attempted."""


async def _attempt(world: World, url: str) -> tuple[int, str | None]:
    app = await world.new_app()
    await world.enroll("alice", app)
    was = await before(world)
    response = await world.client.post(
        "/v1/challenges", json={"user_id": "alice", "callback_url": url}, headers=app["headers"]
    )
    result = await error_of(response)
    listed = await world.client.get("/v1/admin/challenges", headers=ADMIN)
    assert (await listed.json())["challenges"] == []
    await unchanged(world, was)
    return result


@pytest.mark.parametrize("settings", STRICT_CALLBACKS)
@pytest.mark.parametrize("target", list(AUDITED))
async def test_callback_url_aimed_inside_the_network_is_rejected(world: World, target: str) -> None:
    assert await _attempt(world, AUDITED[target]) == (400, "callback_url_rejected")
    [event] = await audit(world, kind="challenge.refused")
    assert event["detail"]["reason"] == "callback_url_rejected"


@pytest.mark.parametrize("settings", STRICT_CALLBACKS)
@pytest.mark.parametrize("target", list(UNAUDITED))
async def test_callback_url_without_https_is_rejected(world: World, target: str) -> None:
    assert await _attempt(world, UNAUDITED[target]) == (400, "callback_url_rejected")
