"""The real service on a loopback port, and ``push-admin`` run against it in-process or as the
installed command."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from client_sdk import admin_cli
from push_service.app import create_app
from tests.conftest import ADMIN_TOKEN, make_settings

ServerFactory = Callable[..., Awaitable[TestServer]]
PUSH_ADMIN = Path(sys.executable).with_name("push-admin")


async def start_service(aiohttp_server: ServerFactory, port: int, **env: str) -> str:
    """Serve the real service on 127.0.0.1:``port``; returns its base URL."""
    url = f"http://127.0.0.1:{port}"
    await aiohttp_server(create_app(make_settings(PUSH_PUBLIC_URL=url, **env)), port=port)
    return url


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class AdminCli:
    """Runs ``push-admin`` in-process: in a thread with its own event loop, as in a terminal,
    while the test's loop keeps serving."""

    def __init__(self, url: str) -> None:
        self.url = url

    def environ(self, **changes: str | None) -> dict[str, str]:
        """The default environment (URL and token set), with variables changed or (None)
        removed."""
        env = {admin_cli.URL_ENV: self.url, admin_cli.TOKEN_ENV: ADMIN_TOKEN}
        for name, value in changes.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    async def __call__(self, *argv: str, environ: Mapping[str, str] | None = None) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        env = self.environ() if environ is None else dict(environ)
        command = admin_cli.run(list(argv), out=out, err=err, environ=env)
        code = await asyncio.to_thread(asyncio.run, command)
        return CliResult(code, out.getvalue(), err.getvalue())

    async def ok(self, *argv: str) -> CliResult:
        result = await self(*argv)
        assert result.code == 0, result.err
        assert result.err == "" or result.err.startswith("Warning: "), result.err
        return result


def script_environ(url: str, *, token: str | None = ADMIN_TOKEN) -> dict[str, str]:
    """The environment for the installed command: this one, pointed at ``url``."""
    env = {k: v for k, v in os.environ.items() if k not in (admin_cli.TOKEN_ENV, admin_cli.URL_ENV)}
    env[admin_cli.URL_ENV] = url
    if token is not None:
        env[admin_cli.TOKEN_ENV] = token
    return env


async def run_script(*argv: str, env: Mapping[str, str]) -> CliResult:
    """Run the installed ``push-admin`` to its end."""
    process = await asyncio.create_subprocess_exec(
        str(PUSH_ADMIN),
        *argv,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return CliResult(process.returncode, out.decode(), err.decode())
