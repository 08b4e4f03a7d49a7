"""PUSH_LISTEN_BACKLOG: the queue of connections the kernel holds for the service, read back
from the listening socket itself (`ss` shows a listener's backlog in its Send-Q column)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.processes import serve_once, served

SOMAXCONN = int(Path("/proc/sys/net/core/somaxconn").read_text())


def listening_backlog(port: int) -> int:
    done = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    return int(lines[0].split()[2])  # State Recv-Q Send-Q ...


async def backlog_served_with(env: dict[str, str], log_path: Path) -> int:
    async with served("backlog", env, log_path) as service:
        return listening_backlog(service.port)


async def test_the_chosen_backlog_is_the_listeners(tmp_path: Path) -> None:
    assert await backlog_served_with({"PUSH_LISTEN_BACKLOG": "777"}, tmp_path / "log") == 777


async def test_the_default_is_4096_within_the_kernels_cap(tmp_path: Path) -> None:
    assert await backlog_served_with({}, tmp_path / "log") == min(4096, SOMAXCONN)


@pytest.mark.parametrize("value", ["8", "70000", "many"])
def test_a_backlog_out_of_range_is_a_configuration_error(value: str) -> None:
    done = serve_once({"PUSH_LISTEN_BACKLOG": value, "PUSH_ADMIN_TOKEN": ADMIN_TOKEN})
    assert done.returncode == 2
    assert "PUSH_LISTEN_BACKLOG" in done.stderr
    assert "Traceback" not in done.stderr
