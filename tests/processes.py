"""Real `push-service serve` processes for tests: free loopback ports, bounded waits, logs kept.

A `Fleet` is several instances of one deployment: the same Redis, key prefix, admin token and
match key. Waits poll with a deadline and never block the event loop, so phones and proxies in
the test keep running while instances start and stop. `Fleet.kill_all` is the safety net for
finalizers: whatever happened, no process outlives its test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import IO

import aiohttp

from tests.conftest import ADMIN_TOKEN
from tests.redis_server import free_port

START_WITHIN = 20.0
"""Seconds an instance may take from launch to answering /healthz (two cores, cold imports)."""
STOP_WITHIN = 10.0
"""Seconds an instance may take to exit after SIGTERM before it is killed."""
POLL = 0.05


@contextlib.asynccontextmanager
async def served(
    name: str, env: Mapping[str, str], log_path: Path
) -> AsyncIterator[ServiceProcess]:
    """One instance on a free port, healthy for the body of the block and stopped cleanly
    (exit status 0) after it; its log stays readable."""
    service = ServiceProcess(name, free_port(), {"PUSH_ADMIN_TOKEN": ADMIN_TOKEN, **env}, log_path)
    service.launch()
    try:
        async with aiohttp.ClientSession() as session:
            await service.wait_healthy(session)
        yield service
    finally:
        assert await service.terminate() == 0


def serve_once(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `push-service serve` with `env` to its end: for configurations it must refuse."""
    return subprocess.run(
        [sys.executable, "-m", "push_service.cli", "serve", "--port", "0"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


class ServiceProcess:
    """One `push-service serve` on 127.0.0.1:`port`; it can be started again on the same port."""

    def __init__(self, name: str, port: int, env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.port = port
        self.env = dict(env)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> None:
        """Start the process (without waiting for it to answer); output goes to the log file."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self._close_log()
        self._log = self.log_path.open("ab")
        self._log.write(f"--- {self.name} launched on port {self.port}\n".encode())
        self._log.flush()
        command = [sys.executable, "-m", "push_service.cli", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    async def wait_healthy(
        self, session: aiohttp.ClientSession, within: float = START_WITHIN
    ) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.running:
                raise AssertionError(f"{self.name} exited while starting:\n{self.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                timeout = aiohttp.ClientTimeout(total=1)
                async with session.get(f"{self.url}/healthz", timeout=timeout) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(POLL)
        raise AssertionError(
            f"{self.name} did not answer /healthz in {within} s:\n{self.log_tail()}"
        )

    def signal(self, signum: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    async def exited(self, within: float) -> int | None:
        """The exit status once the process has ended, or None if it still runs after `within`."""
        deadline = time.monotonic() + within
        while self.process is not None:
            code = self.process.poll()
            if code is not None:
                self._close_log()
                return code
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(POLL)
        return None

    async def terminate(self, within: float = STOP_WITHIN, *, signalled: bool = False) -> int:
        """SIGTERM (once: a second one cuts the graceful shutdown short), then wait; a process
        still running after `within` is killed and reported."""
        if not signalled:
            self.signal(signal.SIGTERM)
        code = await self.exited(within)
        if code is None:
            self.kill_now()
            raise AssertionError(
                f"{self.name} did not exit within {within} s of SIGTERM:\n{self.log_tail()}"
            )
        return code

    async def kill(self) -> None:
        """SIGKILL: the process dies at once, without closing anything."""
        self.signal(signal.SIGKILL)
        if await self.exited(STOP_WITHIN) is None:
            raise AssertionError(f"{self.name} survived SIGKILL")

    def kill_now(self) -> None:
        """Blocking stop for finalizers: SIGTERM, a short grace, then SIGKILL."""
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_WITHIN)
        self._close_log()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class Fleet:
    """Instances sharing one Redis deployment; index 0 is "instance 1" in test names."""

    def __init__(
        self,
        redis_url: str,
        directory: Path,
        size: int,
        *,
        public_url: str | None = None,
        ports: list[int] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.prefix = f"fleet:{secrets.token_hex(6)}:"
        shared = {
            "PUSH_REDIS_URL": redis_url,
            "PUSH_REDIS_PREFIX": self.prefix,
            "PUSH_ADMIN_TOKEN": ADMIN_TOKEN,
            "PUSH_MATCH_KEY": secrets.token_hex(32),
            "PUSH_LOG_LEVEL": "INFO",
            **(env or {}),
        }
        self.instances: list[ServiceProcess] = []
        for index, port in enumerate(ports or [free_port() for _ in range(size)]):
            name = f"instance-{index + 1}"
            own = {**shared, "PUSH_PUBLIC_URL": public_url or f"http://127.0.0.1:{port}"}
            self.instances.append(ServiceProcess(name, port, own, directory / f"{name}.log"))

    def __getitem__(self, index: int) -> ServiceProcess:
        return self.instances[index]

    def __len__(self) -> int:
        return len(self.instances)

    @property
    def ports(self) -> list[int]:
        return [instance.port for instance in self.instances]

    @property
    def urls(self) -> list[str]:
        return [instance.url for instance in self.instances]

    async def start(self, session: aiohttp.ClientSession, *which: int) -> None:
        """Launch the instances (all, or those at the given indexes) together; wait for each."""
        chosen = [self.instances[i] for i in which] if which else self.instances
        for instance in chosen:
            instance.launch()
        await asyncio.gather(*(instance.wait_healthy(session) for instance in chosen))

    async def terminate_all(self, within: float = STOP_WITHIN) -> list[int]:
        """SIGTERM every running instance at once; their exit statuses, in order."""
        running = [instance for instance in self.instances if instance.running]
        for instance in running:
            instance.signal(signal.SIGTERM)
        stops = (instance.terminate(within, signalled=True) for instance in running)
        return list(await asyncio.gather(*stops))

    def kill_all(self) -> None:
        for instance in self.instances:
            instance.kill_now()

    def logs(self) -> str:
        return "\n".join(f"=== {i.name}\n{i.log_tail()}" for i in self.instances)

    def service_errors(self) -> list[str]:
        """The service's own ERROR log lines: a request that became a 500, a crashed event
        reader or listener, a crashed webhook attempt."""
        return [
            f"{instance.name}: {line}"
            for instance in self.instances
            for line in instance.log_text().splitlines()
            if " ERROR push_service" in line
        ]
