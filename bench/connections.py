"""Many idle phones on one instance: the time to connect them all, the service memory each
connection holds, and how fast a new challenge reaches one phone while all are connected.
The phones are bare websockets held by this one process, authenticating with SDK tokens.

    python -m bench.connections --phones 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from client_sdk import AdminClient, AppClient, PushApprovalError, stream_auth_token
from client_sdk.stream import stream_url

from .devices import Enrolled, enroll_many
from .harness import (
    ADMIN_TOKEN,
    Instance,
    p50_p99_ms,
    raise_open_files,
    report,
    services,
    show_pair,
)

SPARE_FILES = 512
"""Files this process (and the service) keep open besides the phones' sockets."""
SETTLE_SECONDS = 1.0
HANDSHAKE_SECONDS = 30.0
FRAME_SECONDS = 10.0
CLOSING_AT_ONCE = 500


@dataclass
class Phone:
    device: Enrolled
    ws: ClientConnection


@dataclass
class Snapshot:
    """Memory and CPU of the service and of this process at one moment."""

    server_rss: int
    server_cpu: float
    client_rss: int
    client_cpu: float

    @classmethod
    def take(cls, instance: Instance) -> Snapshot:
        return cls(instance.rss_bytes(), instance.cpu_seconds(), _own_rss(), time.process_time())


@dataclass
class Run:
    phones: list[Phone] = field(default_factory=list)
    connect_errors: int = 0
    first_error: str | None = None
    figures: dict[str, object] = field(default_factory=dict)


def _local_ports() -> int | None:
    """How many local ports this machine hands out: the phones' ceiling, with one address."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except (OSError, ValueError):
        return None
    return int(high) - int(low) + 1


def _own_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# One phone: connect, answer hello with a signed auth token, wait for ready.
async def open_stream(url: str, device: Enrolled) -> Phone:
    ws = await connect(
        url,
        ping_interval=None,  # the service pings; the library answers without a task of its own
        compression=None,
        proxy=None,
        open_timeout=HANDSHAKE_SECONDS,
        close_timeout=2,
    )
    try:
        async with asyncio.timeout(HANDSHAKE_SECONDS):
            hello = json.loads(await ws.recv())
            token = stream_auth_token(device.key, device.device_id, device.issuer, hello["nonce"])
            await ws.send(json.dumps({"type": "auth", "token": token}))
            ready = json.loads(await ws.recv())
        if ready.get("type") != "ready":
            raise ValueError(f"expected ready, got {ready.get('type')!r}")
    except BaseException:
        await ws.close()
        raise
    return Phone(device, ws)


async def connect_all(url: str, devices: list[Enrolled], at_once: int, run: Run) -> None:
    gate = asyncio.Semaphore(at_once)

    async def one(device: Enrolled) -> None:
        async with gate:
            try:
                run.phones.append(await open_stream(url, device))
            except (OSError, TimeoutError, WebSocketException, ValueError, KeyError) as exc:
                run.connect_errors += 1
                run.first_error = run.first_error or f"{type(exc).__name__}: {exc}"[:200]

    await asyncio.gather(*(one(device) for device in devices))


async def close_all(phones: list[Phone]) -> None:
    gate = asyncio.Semaphore(CLOSING_AT_ONCE)

    async def one(phone: Phone) -> None:
        async with gate:
            await phone.ws.close()

    await asyncio.gather(*(one(phone) for phone in phones), return_exceptions=True)


# Create-to-phone latency: one challenge at a time, each to a different random phone.
async def probe(phones: list[Phone], app: AppClient, count: int) -> tuple[list[float], int]:
    delays: list[float] = []
    errors = 0
    for phone in random.sample(phones, min(count, len(phones))):
        try:
            delays.append(await _time_one(phone, app))
        except (PushApprovalError, TimeoutError, ConnectionClosed, ValueError, KeyError):
            errors += 1
    return delays, errors


async def _time_one(phone: Phone, app: AppClient) -> float:
    frame = asyncio.create_task(_next_challenge(phone.ws))
    started = time.perf_counter()
    try:
        challenge = await app.create_challenge(phone.device.user_id, number_matching=False)
        async with asyncio.timeout(FRAME_SECONDS):
            challenge_id, arrived = await frame
    finally:
        frame.cancel()
    if challenge_id != challenge.challenge_id:
        raise ValueError("the phone received another challenge")
    return arrived - started


async def _next_challenge(ws: ClientConnection) -> tuple[str, float]:
    while True:
        message = json.loads(await ws.recv())
        if message.get("type") == "challenge":
            return str(message["challenge"]["challenge_id"]), time.perf_counter()


async def server_streams(session: aiohttp.ClientSession, url: str) -> int:
    """The service's own count of open streams, from its metrics."""
    async with session.get(f"{url}/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith("push_connected_streams "):
            return int(float(line.split()[1]))
    return -1


async def measure(instance: Instance, phones: int, challenges: int, at_once: int) -> Run:
    run = Run()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        devices = await _enroll(instance.url, phones, session, run)
        async with AdminClient(instance.url, ADMIN_TOKEN, session=session) as admin:
            api_key = (await admin.create_app("Bench"))["api_key"]
        try:
            await _connect(instance, devices, at_once, run)
            run.figures["server_streams"] = await server_streams(session, instance.url)
            app = AppClient(instance.url, api_key, session=session)
            delays, probe_errors = await probe(run.phones, app, challenges)
        finally:
            await close_all(run.phones)
    run.figures["challenges"] = len(delays)
    run.figures["probe_errors"] = probe_errors
    run.figures["errors"] = run.connect_errors + probe_errors
    run.figures["create_to_phone_ms"] = p50_p99_ms(delays)
    return run


async def _enroll(url: str, count: int, session: aiohttp.ClientSession, run: Run) -> list[Enrolled]:
    started = time.perf_counter()
    devices = await enroll_many(url, [f"user{i}" for i in range(count)], session)
    run.figures["enroll_seconds"] = round(time.perf_counter() - started, 2)
    return devices


async def _connect(instance: Instance, devices: list[Enrolled], at_once: int, run: Run) -> None:
    await asyncio.sleep(SETTLE_SECONDS)
    before = Snapshot.take(instance)
    started = time.perf_counter()
    await connect_all(stream_url(instance.url), devices, at_once, run)
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - before.client_cpu
    await asyncio.sleep(SETTLE_SECONDS)
    run.figures.update(_connect_figures(run, before, Snapshot.take(instance), elapsed))
    run.figures["client_cpu_seconds_connecting"] = round(client_cpu, 2)


def _connect_figures(
    run: Run, before: Snapshot, after: Snapshot, elapsed: float
) -> dict[str, object]:
    count = max(1, len(run.phones))
    return {
        "connected": len(run.phones),
        "connect_errors": run.connect_errors,
        "first_error": run.first_error,
        "connect_seconds": round(elapsed, 2),
        "connects_per_second": round(len(run.phones) / elapsed, 1),
        "server_rss_before_mb": round(before.server_rss / 2**20, 1),
        "server_rss_after_mb": round(after.server_rss / 2**20, 1),
        "server_rss_per_connection_kb": _kb((after.server_rss - before.server_rss) / count),
        "server_cpu_us_per_connection": round((after.server_cpu - before.server_cpu) / count * 1e6),
        "client_rss_per_connection_kb": _kb((after.client_rss - before.client_rss) / count),
    }


def _kb(size: float) -> float:
    return round(size / 1024, 1)


def rows(figures: dict[str, object]) -> list[tuple[str, str]]:
    f = figures
    limits = f["client_open_files"]
    assert isinstance(limits, dict)
    failed = f"{f['connect_errors']} failed" + (f": {f['first_error']}" if f["first_error"] else "")
    capped = (
        f", {f['phones_requested']} asked: open-file limit" if f["capped_by_open_files"] else ""
    )
    return [
        ("phones connected", f"{f['connected']} of {f['phones']} ({failed}{capped})"),
        ("service's open streams", str(f["server_streams"])),
        ("enrollment", f"{f['phones']} devices in {f['enroll_seconds']} s"),
        ("connecting all", f"{f['connect_seconds']} s ({f['connects_per_second']} per second)"),
        ("service RSS (MB)", f"{f['server_rss_before_mb']} -> {f['server_rss_after_mb']}"),
        ("service RSS per connection", f"{f['server_rss_per_connection_kb']} KB"),
        ("service CPU per connection", f"{f['server_cpu_us_per_connection']} us (upgrade + auth)"),
        ("create -> phone (ms)", show_pair(f["create_to_phone_ms"])),
        ("", f"{f['challenges']} challenges, one at a time, each to another random phone"),
        ("challenge errors", str(f["probe_errors"])),
        ("client process", "one Python process holding every phone's socket"),
        ("  open files (soft/hard)", f"{limits['soft']} / {limits['hard']}"),
        ("  local ports available", str(f["client_local_ports"])),
        ("  RSS per connection", f"{f['client_rss_per_connection_kb']} KB"),
        (
            "  CPU while connecting",
            f"{f['client_cpu_seconds_connecting']} s of {f['connect_seconds']} s",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phones", type=int, default=None, help="idle phones (default 10000)")
    parser.add_argument("--challenges", type=int, default=200, help="challenges to time")
    parser.add_argument("--at-once", type=int, default=100, help="handshakes in flight")
    parser.add_argument("--quick", action="store_true", help="a small run, for smoke tests")
    args = parser.parse_args()
    wanted = args.phones or (500 if args.quick else 10_000)
    if args.quick:
        args.challenges = min(args.challenges, 50)
    soft, hard = raise_open_files(wanted + SPARE_FILES)  # before the service starts: it inherits
    phones = max(1, min(wanted, soft - SPARE_FILES))
    with services(1) as instances:  # the service's defaults: one push per user here
        run = asyncio.run(measure(instances[0], phones, args.challenges, args.at_once))
    figures = run.figures
    figures.update(
        phones=phones,
        phones_requested=wanted,
        capped_by_open_files=phones < wanted,
        client_open_files={"soft": soft, "hard": hard},
        client_local_ports=_local_ports(),
    )
    report("Idle phone connections on one instance", rows(figures), figures)


if __name__ == "__main__":
    main()
