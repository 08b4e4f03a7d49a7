"""PUSH_EVENT_LOOP: the service runs on uvloop when it is installed, and on asyncio's loop when
asked to; the choice is named when the service starts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvloop

from push_service.config import Settings
from push_service.loops import new_loop
from tests.processes import serve_once, served


@pytest.mark.parametrize(("choice", "name"), [("auto", "uvloop"), ("uvloop", "uvloop")])
def test_uvloop_is_used_when_installed(choice: str, name: str) -> None:
    loop, loop_name = new_loop(choice)
    try:
        assert isinstance(loop, uvloop.Loop)
        assert loop_name == name
    finally:
        loop.close()


def test_asyncio_can_be_chosen() -> None:
    loop, loop_name = new_loop("asyncio")
    try:
        assert not isinstance(loop, uvloop.Loop)
        assert isinstance(loop, asyncio.AbstractEventLoop)
        assert loop_name == "asyncio"
    finally:
        loop.close()


@pytest.mark.parametrize("choice", ["asyncio", "uvloop"])
async def test_the_service_runs_on_the_chosen_loop_and_says_so(choice: str, tmp_path: Path) -> None:
    async with served("loop", {"PUSH_EVENT_LOOP": choice}, tmp_path / "service.log") as service:
        pass
    assert f"in-process engine, {choice} loop, libsodium signatures" in service.log_text()


def test_an_unknown_loop_is_a_configuration_error() -> None:
    done = serve_once({"PUSH_EVENT_LOOP": "tokio"})
    assert done.returncode == 2
    assert "PUSH_EVENT_LOOP='tokio' is not usable" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_setting_defaults_to_auto() -> None:
    assert Settings.from_env({}).event_loop == "auto"
