"""Webhook fixtures: a private CA the sender trusts, HTTPS receivers on 127.0.0.1, and the
service configured to retry fast. `serve(**env)` starts another service with other settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from push_service.app import create_app
from push_service.config import Settings
from tests.conftest import World, make_settings
from tests.webhooks.receiver import Pki, Receiver, make_pki

Serve = Callable[..., Awaitable[World]]
Receivers = Callable[[], Awaitable[Receiver]]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(Path(tmp_path_factory.mktemp("pki")))


def webhook_settings(pki: Pki, **env: str) -> Settings:
    base = {
        "PUSH_CALLBACK_CA_FILE": str(pki.ca),
        "PUSH_CALLBACK_RETRY_BASE": "0.05",
        "PUSH_RATE_LIMIT": "1000",
        "PUSH_MAX_PENDING": "100",
    }
    return make_settings(**{**base, **env})


@pytest.fixture
def settings(pki: Pki) -> Settings:
    return webhook_settings(pki)


@pytest.fixture
async def receivers(pki: Pki) -> AsyncIterator[Receivers]:
    started: list[Receiver] = []

    async def start() -> Receiver:
        receiver = Receiver(pki.server_context())
        await receiver.start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        await receiver.close()


@pytest.fixture
async def receiver(receivers: Receivers) -> Receiver:
    return await receivers()


@pytest.fixture
def serve(aiohttp_client: Callable[..., Awaitable[Any]], pki: Pki) -> Serve:
    async def start(**env: str) -> World:
        return World(await aiohttp_client(create_app(webhook_settings(pki, **env))))

    return start
