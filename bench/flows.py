"""Complete approval flows per second, and their latency, against real service processes.

N phones hold streams and approve with the number their user reads off the app (shared here in
memory, as a person would read the screen); M apps create challenges and long-poll them.

    python -m bench.flows --apps 10 --phones 10 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from client_sdk import AdminClient, AppClient, ChallengeEvent, DeviceClient, DeviceStream

from .harness import ADMIN_TOKEN, Instance, percentile, redis_reads, redis_server, report, services

# Lifted so the figures show throughput, not the limits: a bench phone answers far more than a
# person could (the stream's frame budget defaults to 20 a second).
LIMITS = {
    "PUSH_RATE_LIMIT": "10000",
    "PUSH_RATE_WINDOW": "1",
    "PUSH_MAX_PENDING": "10",
    "PUSH_WS_FRAMES_PER_SECOND": "10000",
    "PUSH_WS_FRAME_BURST": "100000",
}


@dataclass
class Run:
    numbers: defaultdict[str, asyncio.Future[str]] = field(
        default_factory=lambda: defaultdict(asyncio.get_running_loop().create_future)
    )
    created: dict[str, float] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)
    decided: dict[str, float] = field(default_factory=dict)
    errors: int = 0


async def phone(device: DeviceClient, run: Run, stop: asyncio.Event) -> None:
    async with DeviceStream(device) as stream:
        async for event in stream:
            if stop.is_set():
                return
            if isinstance(event, ChallengeEvent):
                cid = event.challenge.challenge_id
                run.seen[cid] = time.perf_counter()
                number = await run.numbers[cid]
                await stream.send_response(event.challenge, "approve", number=number)


async def app_worker(app: AppClient, users: list[str], run: Run, until: float) -> None:
    index = 0
    while time.perf_counter() < until:
        user = users[index % len(users)]
        index += 1
        started = time.perf_counter()
        try:
            challenge = await app.create_challenge(user)
            run.created[challenge.challenge_id] = started
            run.numbers[challenge.challenge_id].set_result(challenge.match_number or "")
            final = await app.wait(challenge.challenge_id, timeout=30)
        except Exception:  # a failed flow is counted, not fatal
            run.errors += 1
            continue
        if final.status == "approved":
            run.decided[challenge.challenge_id] = time.perf_counter()
        else:
            run.errors += 1


async def enroll_phones(
    urls: list[str], count: int, session: aiohttp.ClientSession, folder: Path
) -> list[DeviceClient]:
    devices = []
    async with AdminClient(urls[0], ADMIN_TOKEN, session=session) as admin:
        for i in range(count):
            enrollment = await admin.create_enrollment(f"user{i}")
            device = await DeviceClient.enroll_from_uri(
                enrollment.uri, f"phone{i}", folder / f"phone{i}.json", session=session
            )
            devices.append(device)
    # Phones are spread over the instances; the key file names the instance they use.
    return [_on(urls[i % len(urls)], d, session) for i, d in enumerate(devices)]


def _on(url: str, device: DeviceClient, session: aiohttp.ClientSession) -> DeviceClient:
    return DeviceClient(dataclasses.replace(device.key_file, base_url=url), session=session)


async def measure(
    instances: list[Instance], apps: int, phones: int, seconds: float, redis_url: str = ""
) -> dict[str, object]:
    urls = [i.url for i in instances]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        with tempfile.TemporaryDirectory() as folder:
            devices = await enroll_phones(urls, phones, session, Path(folder))
        async with AdminClient(urls[0], ADMIN_TOKEN, session=session) as admin:
            api_key = (await admin.create_app("Bench"))["api_key"]
        run, stop = Run(), asyncio.Event()
        phone_tasks = [asyncio.create_task(phone(d, run, stop)) for d in devices]
        await asyncio.sleep(1.0)
        background = await _background_reads(redis_url)
        users = [f"user{i}" for i in range(phones)]
        clients = [AppClient(urls[j % len(urls)], api_key, session=session) for j in range(apps)]
        cpu_before = sum(i.cpu_seconds() for i in instances)
        reads_before = redis_reads(redis_url) if redis_url else 0
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(
            *(app_worker(c, users[j::apps], run, until) for j, c in enumerate(clients))
        )
        elapsed = time.perf_counter() - started
        cpu = sum(i.cpu_seconds() for i in instances) - cpu_before
        reads = redis_reads(redis_url) - reads_before if redis_url else 0
        stop.set()
        for task in phone_tasks:
            task.cancel()
        await asyncio.gather(*phone_tasks, return_exceptions=True)
    figures = _figures(run, elapsed, cpu, apps, phones, len(instances))
    if redis_url:
        flows = max(1, len(run.decided))
        figures["redis_round_trips_per_flow"] = round(reads / flows, 2)
        figures["redis_background_per_flow"] = round(background * elapsed / flows, 2)
    return figures


async def _background_reads(redis_url: str, seconds: float = 2.0) -> float:
    """Round trips per second the instances make while idle (expiry ticks, presence, audit)."""
    if not redis_url:
        return 0.0
    before = redis_reads(redis_url)
    await asyncio.sleep(seconds)
    return (redis_reads(redis_url) - before) / seconds


def _figures(
    run: Run, elapsed: float, cpu: float, apps: int, phones: int, count: int
) -> dict[str, object]:
    done = list(run.decided)
    to_phone = [(run.seen[c] - run.created[c]) * 1000 for c in done if c in run.seen]
    to_decision = [(run.decided[c] - run.created[c]) * 1000 for c in done]
    return {
        "instances": count,
        "apps": apps,
        "phones": phones,
        "seconds": round(elapsed, 2),
        "flows": len(done),
        "errors": run.errors,
        "flows_per_second": round(len(done) / elapsed, 1),
        "create_to_phone_ms": {"p50": _ms(to_phone, 0.5), "p99": _ms(to_phone, 0.99)},
        "create_to_decision_ms": {"p50": _ms(to_decision, 0.5), "p99": _ms(to_decision, 0.99)},
        "server_cpu_us_per_flow": round(cpu / max(1, len(done)) * 1e6),
    }


def _ms(values: list[float], fraction: float) -> float:
    return round(percentile(values, fraction), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apps", type=int, default=10, help="concurrent apps")
    parser.add_argument("--phones", type=int, default=0, help="phones (default: as many as apps)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--redis-url", default="", help="use the Redis engine at this URL")
    parser.add_argument(
        "--redis", action="store_true", help="start a private redis-server and use it"
    )
    parser.add_argument("--quick", action="store_true", help="a tiny run, for smoke tests")
    args = parser.parse_args()
    if args.quick:
        args.apps, args.phones, args.seconds = min(args.apps, 2), min(args.phones or 2, 2), 2.0
    phones = max(args.phones, args.apps)
    with contextlib.ExitStack() as stack:
        url = args.redis_url or (stack.enter_context(redis_server()) if args.redis else "")
        env = dict(LIMITS, **({"PUSH_REDIS_URL": url} if url else {}))
        instances = stack.enter_context(services(args.instances, env))
        figures = asyncio.run(measure(instances, args.apps, phones, args.seconds, url))
    figures["engine"] = "redis" if url else "memory"
    rows = [
        ("engine", f"{figures['engine']} x {figures['instances']} instance(s)"),
        ("apps / phones", f"{figures['apps']} / {figures['phones']}"),
        (
            "complete flows",
            f"{figures['flows']} in {figures['seconds']} s ({figures['errors']} errors)",
        ),
        ("flows per second", str(figures["flows_per_second"])),
        ("create -> phone (ms)", _pair(figures["create_to_phone_ms"])),
        ("create -> decision (ms)", _pair(figures["create_to_decision_ms"])),
        ("server CPU per flow (us)", str(figures["server_cpu_us_per_flow"])),
    ]
    if "redis_round_trips_per_flow" in figures:
        rows.append(("Redis round trips per flow", str(figures["redis_round_trips_per_flow"])))
        rows.append(("  of which background", str(figures["redis_background_per_flow"])))
    report("Complete approval flows", rows, figures)


def _pair(value: object) -> str:
    assert isinstance(value, dict)
    return f"p50 {value['p50']}  p99 {value['p99']}"


if __name__ == "__main__":
    main()
