"""Shared fixtures: the service built from its own factory, served by aiohttp's test server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from push_service.app import create_app
from push_service.config import Settings
from tests.phone import Phone
from tests.redis_server import RedisServer

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

Client = TestClient  # type: ignore[type-arg]


def make_settings(**env: str) -> Settings:
    base = {"PUSH_ADMIN_TOKEN": ADMIN_TOKEN, "PUSH_CALLBACK_ALLOW_PRIVATE": "1"}
    base.update(env)
    return Settings.from_env(base)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, shared by the session's tests (each uses
    a key prefix of its own)."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
async def client(aiohttp_client: Callable[..., Awaitable[Any]], settings: Settings) -> Any:
    return await aiohttp_client(create_app(settings))


class World:
    """A running service with helpers to create apps, enroll phones and make challenges."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def new_app(self, name: str = "Intranet") -> dict[str, Any]:
        response = await self.client.post("/v1/admin/apps", json={"name": name}, headers=ADMIN)
        assert response.status == 201, await response.text()
        app: dict[str, Any] = await response.json()
        app["headers"] = {"Authorization": f"Bearer {app['api_key']}"}
        return app

    async def enroll(self, user_id: str = "alice", app: dict[str, Any] | None = None) -> Phone:
        headers = app["headers"] if app else ADMIN
        response = await self.client.post(
            "/v1/enrollments", json={"user_id": user_id}, headers=headers
        )
        assert response.status == 201, await response.text()
        code = (await response.json())["code"]
        phone = Phone(user_id=user_id)
        response = await self.client.post(
            "/v1/devices",
            json={
                "code": code,
                "public_key": phone.jwk,
                "name": "pixel",
                "proof": phone.proof(code),
            },
        )
        assert response.status == 201, await response.text()
        phone.device_id = (await response.json())["device_id"]
        return phone

    async def challenge(self, app: dict[str, Any], user_id: str = "alice", **body: Any) -> Any:
        response = await self.client.post(
            "/v1/challenges", json={"user_id": user_id, **body}, headers=app["headers"]
        )
        assert response.status == 201, await response.text()
        return await response.json()

    async def device_view(self, phone: Phone, challenge_id: str) -> dict[str, Any]:
        response = await self.client.get("/v1/devices/me/challenges", headers=phone.bearer())
        assert response.status == 200, await response.text()
        views = {c["challenge_id"]: c for c in (await response.json())["challenges"]}
        return views[challenge_id]


@pytest.fixture
async def world(client: Any) -> World:
    return World(client)
