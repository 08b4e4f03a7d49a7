"""The cost of the irreducible work in one approval flow on this machine, each by a perf_counter
loop: token checks in this process; HTTP and websocket round trips to a trivial aiohttp server in
a subprocess, whose CPU per request is read from /proc; and from these a floor for one flow.

    python -m bench.limit [--redis-url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import select
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import aiohttp
import hiredis
import jwt
import redis.asyncio as redis
from aiohttp import web

from client_sdk import DeviceKey, response_token
from client_sdk.keys import b64url_decode
from push_service import signatures
from push_service import tokens as service_tokens
from push_service.loops import new_loop

from .harness import Instance, event_loop_runner, percentile, redis_server, report

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
ISSUER = "push-approval"
DEVICE_ID = "dev_bench"
BATCH = 50
START_SECONDS = 20.0
QUICK_SECONDS = 0.2
FRAME = "x" * 400  # about the size of a challenge frame or a signed response
FLOW = {"http_requests": 2, "ws_frames": 3, "token_checks": 1, "redis_round_trips": 4}
"""One flow as the service sees it: the app's create and long-poll; the challenge frame down,
the signed response up and its result down; one response token checked; and on Redis the four
round trips the design allows (create; the long-poll's read; the answer's read; the finish)."""

Op = Callable[[], Awaitable[object]]


# In-process work: microseconds per call, over a loop of `seconds`.
def per_call_us(call: Callable[[], object], seconds: float) -> float:
    calls, started = 0, time.perf_counter()
    while True:
        for _ in range(BATCH):
            call()
        calls += BATCH
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return round(elapsed / calls * 1e6, 1)


def token_costs(seconds: float) -> dict[str, object]:
    """A signed response token, checked four ways: its bare signature by OpenSSL and by
    libsodium, PyJWT, the service (which uses the faster of the two when installed)."""
    key = DeviceKey.generate()
    token = response_token(
        key,
        DEVICE_ID,
        ISSUER,
        challenge_id="ch_bench",
        nonce="n" * 22,
        decision="approve",
        number="123",
    )
    signed, _, signature = token.rpartition(".")
    public, message, raw_signature = key.public_key, signed.encode(), b64url_decode(signature)
    x = key.public_jwk()["x"]

    def decode() -> object:
        return jwt.decode(token, public, algorithms=["EdDSA"], audience=ISSUER, issuer=DEVICE_ID)

    sodium = signatures.SODIUM
    return {
        "ed25519_verify_us": per_call_us(lambda: public.verify(raw_signature, message), seconds),
        "ed25519_verify_libsodium_us": (
            per_call_us(lambda: sodium(x, raw_signature, message), seconds) if sodium else None
        ),
        "jwt_decode_us": per_call_us(decode, seconds),
        "service_token_check_us": per_call_us(lambda: _service_check(token, x), seconds),
        "service_signatures": signatures.BACKEND,
    }


def _service_check(token: str, x: str) -> object:
    unverified = service_tokens.peek(token)
    return service_tokens.verify_device_token(
        unverified,
        x,
        device_id=DEVICE_ID,
        issuer=ISSUER,
        now=time.time(),
        kind=service_tokens.Kind.RESPONSE,
    )


# The trivial server: GET /ping answers "ok"; /ws echoes every text frame.
async def _ping(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    async for message in ws:
        if message.type is aiohttp.WSMsgType.TEXT:
            await ws.send_str(message.data)
    return ws


def serve() -> None:
    """Run the trivial server; its port is the first line on stdout."""
    app = web.Application()
    app.router.add_get("/ping", _ping)
    app.router.add_get("/ws", _echo)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    sock.listen(128)
    print(sock.getsockname()[1], flush=True)
    loop, _ = new_loop("auto")  # the loop the service itself runs on
    web.run_app(app, sock=sock, print=None, access_log=None, loop=loop)


@contextmanager
def trivial_server() -> Iterator[Instance]:
    command = [sys.executable, "-m", "bench.limit", "--serve"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], START_SECONDS)
        line = process.stdout.readline() if ready else b""
        if not line.strip():
            raise RuntimeError("the trivial server did not start")
        yield Instance(f"http://{LOOPBACK}:{int(line)}", process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


# Round trips: one at a time for the latency, then `workers` at once for the server's CPU.
async def timed_loop(op: Op, until: float, latencies: list[float]) -> None:
    while time.perf_counter() < until:
        started = time.perf_counter()
        await op()
        latencies.append(time.perf_counter() - started)


async def round_trips(ops: list[Op], seconds: float, server: Instance | None) -> dict[str, float]:
    single: list[float] = []
    await timed_loop(ops[0], time.perf_counter() + seconds, single)
    many: list[float] = []
    cpu_before = server.cpu_seconds() if server else 0.0
    client_before, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(timed_loop(op, started + seconds, many) for op in ops))
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - client_before
    figures = {
        "client_cpu_us": round(client_cpu / len(many) * 1e6, 1),
        "rtt_us_p50": round(percentile(single, 0.5) * 1e6, 1),
        "one_at_a_time_per_second": round(len(single) / seconds),
        "workers": len(ops),
        "per_second": round(len(many) / elapsed),
    }
    if server is not None:
        figures["server_cpu_us"] = round((server.cpu_seconds() - cpu_before) / len(many) * 1e6, 1)
    return figures


async def http_costs(server: Instance, workers: int, seconds: float) -> dict[str, float]:
    url = f"{server.url}/ping"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=workers)) as session:

        async def get() -> object:
            async with session.get(url) as response:
                return await response.read()

        return await round_trips([get] * workers, seconds, server)


async def ws_costs(server: Instance, workers: int, seconds: float) -> dict[str, float]:
    async with aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(f"{server.url}/ws") for _ in range(workers)]
        try:
            return await round_trips([_echo_op(ws) for ws in sockets], seconds, server)
        finally:
            for ws in sockets:
                await ws.close()


def _echo_op(ws: aiohttp.ClientWebSocketResponse) -> Op:
    async def echo() -> object:
        await ws.send_str(FRAME)
        return await ws.receive()

    return echo


async def redis_costs(url: str, workers: int, seconds: float) -> dict[str, float]:
    client = redis.from_url(url)
    try:
        figures = await round_trips([client.ping] * workers, seconds, None)
    finally:
        await client.aclose()
    # What a round trip costs a client that does nothing else, for comparison with redis-py.
    bare = await _bare_connections(url, workers)
    try:
        least = await round_trips([_bare_ping(c) for c in bare], seconds, None)
    finally:
        for connection in bare:
            connection.close()
    figures["bare_client_cpu_us"] = least["client_cpu_us"]
    return figures


class BareRedis(asyncio.Protocol):
    """The least a Redis client can do: write a packed command, parse replies with hiredis."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._waiting: deque[asyncio.Future[object]] = deque()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP connection's transport: uvloop's is not registered as asyncio's subclass.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            self._waiting.popleft().set_result(reply)

    def call(self, *args: str) -> asyncio.Future[object]:
        assert self._transport is not None
        reply = asyncio.get_running_loop().create_future()
        self._waiting.append(reply)
        # hiredis's stub types the command as a one-item tuple; it takes any length.
        self._transport.write(hiredis.pack_command(args))  # type: ignore[arg-type]
        return reply

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _bare_connections(url: str, count: int) -> list[BareRedis]:
    address = urlsplit(url)
    loop = asyncio.get_running_loop()
    connections = []
    for _ in range(count):
        _, protocol = await loop.create_connection(
            BareRedis, address.hostname or LOOPBACK, address.port or 6379
        )
        connections.append(protocol)
    return connections


def _bare_ping(connection: BareRedis) -> Op:
    async def ping() -> object:
        return await connection.call("PING")

    return ping


async def network_costs(
    server: Instance, redis_url: str, workers: int, seconds: float
) -> dict[str, object]:
    figures: dict[str, object] = {
        "http": await http_costs(server, workers, seconds),
        "ws": await ws_costs(server, workers, seconds),
        "redis": await redis_costs(redis_url, workers, seconds) if redis_url else None,
    }
    return figures


def floor(figures: dict[str, object]) -> dict[str, object]:
    """The service's CPU for one flow if it did nothing but the work FLOW counts."""
    http, ws = figures["http"], figures["ws"]
    assert isinstance(http, dict)
    assert isinstance(ws, dict)
    per_frame = ws["server_cpu_us"] / 2  # an echo is one frame in and one out
    us = (
        FLOW["http_requests"] * http["server_cpu_us"]
        + FLOW["ws_frames"] * per_frame
        + FLOW["token_checks"] * float(str(figures["service_token_check_us"]))
    )
    found = {"floor_us_per_flow": round(us, 1), "floor_flows_per_second_per_core": round(1e6 / us)}
    redis_figures = figures["redis"]
    if isinstance(redis_figures, dict):
        # On Redis the service is the client: redis-py's CPU per round trip is what it adds.
        us += FLOW["redis_round_trips"] * redis_figures["client_cpu_us"]
        found["floor_redis_us_per_flow"] = round(us, 1)
        found["floor_redis_flows_per_second_per_core"] = round(1e6 / us)
    return found


def rows(f: dict[str, object]) -> list[tuple[str, str]]:
    http, ws, redis_figures = f["http"], f["ws"], f["redis"]
    assert isinstance(http, dict)
    assert isinstance(ws, dict)
    table = [
        ("Ed25519 verification (cryptography)", f"{f['ed25519_verify_us']} us"),
        ("Ed25519 verification (libsodium)", f"{f['ed25519_verify_libsodium_us'] or '-'} us"),
        ("PyJWT EdDSA decode of a response token", f"{f['jwt_decode_us']} us"),
        (
            f"the service's own token check ({f['service_signatures']})",
            f"{f['service_token_check_us']} us",
        ),
        ("server", "trivial aiohttp app in a subprocess; CPU from /proc"),
        *_round_trip_rows("HTTP GET (keep-alive session)", http),
        *_round_trip_rows("websocket 400-byte echo", ws),
    ]
    if isinstance(redis_figures, dict):
        table += _round_trip_rows("Redis PING (redis-py)", redis_figures)
        table.append(("", f"{redis_figures['client_cpu_us']} us of client CPU each"))
        bare = f"{redis_figures['bare_client_cpu_us']} us of client CPU each"
        table.append(("Redis PING (bare protocol + hiredis)", bare))
    counted = (
        f"{FLOW['http_requests']} HTTP requests, {FLOW['ws_frames']} websocket frames, "
        f"{FLOW['token_checks']} token check"
    )
    table += [
        ("one flow counted as", counted),
        ("floor: service CPU per flow", f"{f['floor_us_per_flow']} us"),
        ("floor: flows per second per core", str(f["floor_flows_per_second_per_core"])),
    ]
    if "floor_redis_us_per_flow" in f:
        table += [
            ("on Redis, adding", f"{FLOW['redis_round_trips']} round trips"),
            ("floor on Redis: CPU per flow", f"{f['floor_redis_us_per_flow']} us"),
            ("floor on Redis: flows/s per core", str(f["floor_redis_flows_per_second_per_core"])),
        ]
    return table


def _round_trip_rows(name: str, figures: dict[str, float]) -> list[tuple[str, str]]:
    table = [
        (name, f"{figures['rtt_us_p50']} us round trip (p50, one at a time)"),
        ("", f"{figures['per_second']}/s with {figures['workers']} at once"),
    ]
    if "server_cpu_us" in figures:
        table.append(("", f"{figures['server_cpu_us']} us of server CPU each"))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of each loop")
    parser.add_argument("--workers", type=int, default=8, help="round trips in flight at once")
    parser.add_argument("--redis-url", default="", help="also time Redis PINGs at this URL")
    parser.add_argument(
        "--redis", action="store_true", help="start a private redis-server and time it"
    )
    parser.add_argument("--quick", action="store_true", help="short loops, for smoke tests")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    seconds = min(args.seconds, QUICK_SECONDS) if args.quick else args.seconds
    with contextlib.ExitStack() as stack:
        url = args.redis_url or (stack.enter_context(redis_server()) if args.redis else "")
        figures = measure(seconds, args.workers, url)
    report("The irreducible work of one flow", rows(figures), figures)


def measure(seconds: float, workers: int = 8, redis_url: str = "") -> dict[str, object]:
    """Every cost and the floor they make, each loop `seconds` long; Redis too given its URL."""
    figures: dict[str, object] = {**token_costs(seconds)}
    with trivial_server() as server, event_loop_runner() as runner:
        figures.update(runner.run(network_costs(server, redis_url, workers, seconds)))
    figures.update(floor(figures), flow=FLOW, server="aiohttp, subprocess")
    return figures


if __name__ == "__main__":
    main()
