"""Fixtures: a running fake of the service's device side, and a device enrolled with it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from client_sdk import DeviceClient

from .fake_service import FakeService

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


@dataclass
class Running:
    service: FakeService
    base_url: str


@pytest.fixture
async def running(aiohttp_server: ServerFactory) -> Running:
    service = FakeService()
    server = await aiohttp_server(service.app())
    return Running(service, str(server.make_url("")).rstrip("/"))


@pytest.fixture
async def device(running: Running, tmp_path: Path) -> AsyncIterator[DeviceClient]:
    uri = running.service.enrollment_uri(running.base_url)
    client = await DeviceClient.enroll_from_uri(uri, "test phone", tmp_path / "device.json")
    async with client:
        yield client
