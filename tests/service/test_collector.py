"""The served process freezes what is alive once it is up out of later garbage collections, and
still collects what requests leave behind."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from tests.conftest import ADMIN_TOKEN
from tests.processes import ServiceProcess
from tests.redis_server import free_port

FROZEN = re.compile(r"(\d+) objects alive at start left out of later collections")


async def test_the_served_process_freezes_its_start_up_objects(tmp_path: Path) -> None:
    service = ServiceProcess("gc", free_port(), {"PUSH_ADMIN_TOKEN": ADMIN_TOKEN}, tmp_path / "log")
    service.launch()
    try:
        async with aiohttp.ClientSession() as session:
            await service.wait_healthy(session)
            # Serving goes on after the freeze: an admin call still answers.
            async with session.get(
                f"{service.url}/v1/admin/apps",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            ) as response:
                assert response.status == 200
    finally:
        assert await service.terminate() == 0
    found = FROZEN.search(service.log_text())
    assert found, service.log_text()
    # Modules, routes and the engine: tens of thousands, not a handful.
    assert int(found.group(1)) > 10_000
