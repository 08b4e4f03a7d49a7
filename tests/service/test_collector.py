"""The served process freezes what is alive once it is up out of later garbage collections,
and goes on serving after it."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from tests.conftest import ADMIN_TOKEN
from tests.processes import served

FROZEN = re.compile(r"(\d+) objects alive at start left out of later collections")


async def test_the_served_process_freezes_its_start_up_objects(tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with (
        served("gc", {}, tmp_path / "log") as service,
        aiohttp.ClientSession() as session,
        # Serving goes on after the freeze: an admin call still answers.
        session.get(f"{service.url}/v1/admin/apps", headers=headers) as response,
    ):
        assert response.status == 200
    found = FROZEN.search(service.log_text())
    assert found, service.log_text()
    # Modules, routes and the engine: tens of thousands, not a handful.
    assert int(found.group(1)) > 10_000
