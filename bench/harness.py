"""Starting service processes for benchmarks, and the arithmetic of their figures.

Everything listens on 127.0.0.1 only; every process started here is stopped on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"  # noqa: S105 (a loopback-only bench)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Instance:
    url: str
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


def _wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service at {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):  # noqa: S310 (loopback)
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the service at {url} did not become healthy")


@contextmanager
def services(count: int = 1, env: dict[str, str] | None = None) -> Iterator[list[Instance]]:
    """Start `count` push-service processes on free loopback ports, sharing `env`."""
    started: list[Instance] = []
    try:
        for _ in range(count):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            full_env = {
                **os.environ,
                "PUSH_ADMIN_TOKEN": ADMIN_TOKEN,
                "PUSH_PUBLIC_URL": url,
                "PUSH_LOG_LEVEL": "WARNING",
                **(env or {}),
            }
            command = [sys.executable, "-m", "push_service.cli", "serve", "--port", str(port)]
            process = subprocess.Popen(command, env=full_env, stdout=subprocess.DEVNULL)
            started.append(Instance(url, process))
            _wait_healthy(url, process)
        yield started
    finally:
        for instance in started:
            instance.process.send_signal(signal.SIGTERM)
        for instance in started:
            try:
                instance.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                instance.process.kill()


def raise_open_files(wanted: int) -> tuple[int, int]:
    """Raise this process's soft open-file limit towards `wanted`, never past the hard limit;
    processes started afterwards inherit it. Returns the (soft, hard) limits now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def event_loop_runner() -> asyncio.Runner:
    """A runner for a bench script's own event loop, on uvloop when it is installed: the load
    generator shares the cores with the service, so every cycle it saves goes to the service."""
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def p50_p99_ms(seconds: Sequence[float]) -> dict[str, float]:
    """The median and 99th percentile of durations given in seconds, in milliseconds."""
    return {
        "p50": round(percentile(seconds, 0.5) * 1000, 2),
        "p99": round(percentile(seconds, 0.99) * 1000, 2),
    }


def show_pair(value: object) -> str:
    """A {"p50", "p99"} figure as table text."""
    assert isinstance(value, dict)
    return f"p50 {value['p50']}  p99 {value['p99']}"


def report(title: str, rows: list[tuple[str, str]], figures: dict[str, object]) -> None:
    """Print a readable table, then the figures as one JSON line (the last line)."""
    width = max(len(name) for name, _ in rows)
    print(title)
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")
    print(json.dumps(figures, sort_keys=True))


@contextmanager
def redis_server() -> Iterator[str]:
    """A private redis-server on a free loopback port, for the Redis-engine benchmarks."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", folder]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            _wait_redis(port, process)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_redis(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError):
            redis_reads(f"redis://127.0.0.1:{port}/0")
            return
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def redis_reads(url: str) -> int:
    """Requests the server has read from its clients so far (INFO total_reads_processed):
    a pipeline or a script is one read, so the difference over a run counts round trips."""
    return int(_redis_info(url, "stats")["total_reads_processed"])


def redis_cpu_seconds(url: str) -> float:
    """CPU the Redis server process has used so far, system and user (INFO cpu)."""
    cpu = _redis_info(url, "cpu")
    return sum(float(cpu[name]) for name in ("used_cpu_sys", "used_cpu_user"))


def _redis_info(url: str, section: str) -> dict[str, str]:
    """One INFO section over a plain socket: one short request, no client library."""
    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        sock.sendall(f"INFO {section}\r\n".encode())
        data = b""
        # A bulk reply: "$<length>\r\n<body>\r\n".
        while not data.endswith(b"\r\n") or len(data) < _bulk_end(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    fields = dict(line.split(":", 1) for line in data.decode().splitlines()[1:] if ":" in line)
    if not fields:
        raise RuntimeError(f"INFO {section} answered nothing")
    return fields


def _bulk_end(data: bytes) -> int:
    header, _, _ = data.partition(b"\r\n")
    return len(header) + 2 + int(header[1:] or 0) + 2
