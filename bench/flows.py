"""Complete approval flows per second, and their latency, against real service processes.

N phones hold streams and approve with the number their user reads off the app (shared here in
memory, as a person would read the screen). Closed loop (the default): M apps each create a
challenge, long-poll it, then start the next. Open loop (`--rate R`): R flows a second are
started on a fixed schedule, however long earlier ones take, and each flow's latency counts
from the moment it was due, so a slow service cannot hide its delay by slowing the load down.
Before the flows, the same run measures the cost floor (bench.limit) for the engine in use and
reports the service's CPU per flow as a fraction of it.

    python -m bench.flows --apps 10 --phones 10 --seconds 10
    python -m bench.flows --rate 500 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from client_sdk import AdminClient, AppClient, ChallengeEvent, DeviceClient, DeviceStream

from . import limit
from .harness import (
    ADMIN_TOKEN,
    Instance,
    event_loop_runner,
    percentile,
    raise_open_files,
    redis_cpu_seconds,
    redis_reads,
    redis_server,
    report,
    services,
)

# Lifted so the figures show throughput, not the limits: a bench phone answers far more than a
# person could (the stream's frame budget defaults to 20 a second).
LIMITS = {
    "PUSH_RATE_LIMIT": "10000",
    "PUSH_RATE_WINDOW": "1",
    "PUSH_MAX_PENDING": "10",
    "PUSH_WS_FRAMES_PER_SECOND": "10000",
    "PUSH_WS_FRAME_BURST": "100000",
}
# An open loop piles flows up on each user and long-polls on the app while the service falls
# behind; refusing them would end the measurement where it gets interesting.
OPEN_LOOP_LIMITS = {
    **LIMITS,
    "PUSH_MAX_PENDING": "100",
    "PUSH_MAX_UNAPPROVED": "100000",
    "PUSH_MAX_WAITS_PER_APP": "1000000",
}
# Users the open loop spreads its flows over, so that fewer are pending for each at once.
OPEN_LOOP_PHONES = 100
QUICK_OPEN_LOOP_PHONES = 10
# No flow is given longer than this, so a run past saturation still ends.
FLOW_SECONDS = 30.0
# Each loop of the cost floor measured before the flows (bench.limit's default).
LIMIT_SECONDS = 1.0
# Every pending long-poll holds a connection, and past saturation there are thousands.
OPEN_FILES = 65536


@dataclass
class Run:
    numbers: defaultdict[str, asyncio.Future[str]] = field(
        default_factory=lambda: defaultdict(asyncio.get_running_loop().create_future)
    )
    created: dict[str, float] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)
    decided: dict[str, float] = field(default_factory=dict)
    start_lags: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    def fail(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what


async def phone(device: DeviceClient, run: Run, stop: asyncio.Event) -> None:
    async with DeviceStream(device) as stream:
        async for event in stream:
            if stop.is_set():
                return
            if isinstance(event, ChallengeEvent):
                cid = event.challenge.challenge_id
                run.seen[cid] = time.perf_counter()
                try:
                    number = await asyncio.wait_for(asyncio.shield(run.numbers[cid]), FLOW_SECONDS)
                except TimeoutError:  # its app never saw the create answer: leave it unanswered
                    continue
                await stream.send_response(event.challenge, "approve", number=number)


async def app_worker(app: AppClient, users: list[str], run: Run, until: float) -> None:
    index = 0
    while time.perf_counter() < until:
        user = users[index % len(users)]
        index += 1
        await one_flow(app, user, run, time.perf_counter())


async def one_flow(app: AppClient, user: str, run: Run, started: float) -> None:
    """Create a challenge for `user` and long-poll it to its end; latency counts from `started`.
    A failed flow is counted, not fatal."""
    try:
        async with asyncio.timeout(FLOW_SECONDS):
            challenge = await app.create_challenge(user)
            run.created[challenge.challenge_id] = started
            run.numbers[challenge.challenge_id].set_result(challenge.match_number or "")
            final = await app.wait(challenge.challenge_id, timeout=FLOW_SECONDS)
    except Exception as error:
        run.fail(repr(error))
        return
    if final.status == "approved":
        run.decided[challenge.challenge_id] = time.perf_counter()
    else:
        run.fail(f"ended {final.status}")


async def offer(
    clients: list[AppClient], users: list[str], run: Run, rate: float, start: float, seconds: float
) -> None:
    """Start `rate` flows a second from `start` for `seconds`, each in its own task whatever the
    earlier ones are doing (an open loop); return once every flow has ended."""
    flows = []
    for index in range(round(rate * seconds)):
        due = start + index / rate
        # Also yields when behind schedule, so the flows already started make progress.
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        client, user = clients[index % len(clients)], users[index % len(users)]
        flows.append(asyncio.create_task(scheduled_flow(client, user, run, due)))
    await asyncio.gather(*flows)


async def scheduled_flow(app: AppClient, user: str, run: Run, due: float) -> None:
    """One open-loop flow; its latency counts from `due`, when it should have started."""
    run.start_lags.append(time.perf_counter() - due)
    await one_flow(app, user, run, due)


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
    instances: list[Instance],
    apps: int,
    phones: int,
    seconds: float,
    redis_url: str = "",
    rate: float = 0.0,
) -> dict[str, object]:
    """A closed loop of `apps` apps or, given a `rate`, an open loop of that many flows a second."""
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
        own_cpu_before = time.process_time()
        reads_before = redis_reads(redis_url) if redis_url else 0
        redis_cpu_before = redis_cpu_seconds(redis_url) if redis_url else 0.0
        started = time.perf_counter()
        await _drive(clients, users, run, rate, started, seconds)
        elapsed = time.perf_counter() - started
        cpu = sum(i.cpu_seconds() for i in instances) - cpu_before
        own_cpu = time.process_time() - own_cpu_before
        reads = redis_reads(redis_url) - reads_before if redis_url else 0
        redis_cpu = redis_cpu_seconds(redis_url) - redis_cpu_before if redis_url else 0.0
        stop.set()
        for task in phone_tasks:
            task.cancel()
        await asyncio.gather(*phone_tasks, return_exceptions=True)
    figures = _figures(run, elapsed, cpu, apps, phones, len(instances))
    # The load generator shares the machine: its cost per flow says how much of the cores the
    # service could have had.
    figures["load_generator_cpu_us_per_flow"] = round(own_cpu / max(1, len(run.decided)) * 1e6)
    figures["client_event_loop"] = type(asyncio.get_running_loop()).__module__.split(".")[0]
    if rate:
        figures.update(_open_loop_figures(run, rate, started, seconds, elapsed))
    if redis_url:
        flows = max(1, len(run.decided))
        figures["redis_round_trips_per_flow"] = round(reads / flows, 2)
        figures["redis_background_per_flow"] = round(background * elapsed / flows, 2)
        figures["redis_server_cpu_us_per_flow"] = round(redis_cpu / flows * 1e6)
    return figures


async def _drive(
    clients: list[AppClient], users: list[str], run: Run, rate: float, start: float, seconds: float
) -> None:
    if rate:
        await offer(clients, users, run, rate, start, seconds)
        return
    until = start + seconds
    count = len(clients)
    await asyncio.gather(
        *(app_worker(c, users[j::count], run, until) for j, c in enumerate(clients))
    )


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
        "first_error": run.first_error,
        "flows_per_second": round(len(done) / elapsed, 1),
        "create_to_phone_ms": _spread(to_phone),
        "create_to_decision_ms": _spread(to_decision),
        "server_cpu_us_per_flow": round(cpu / max(1, len(done)) * 1e6),
    }


def _open_loop_figures(
    run: Run, rate: float, started: float, seconds: float, elapsed: float
) -> dict[str, object]:
    """Throughput counts the flows decided while the load was offered: past saturation the
    rest are the backlog, drained afterwards."""
    on_time = sum(1 for t in run.decided.values() if t <= started + seconds)
    return {
        "offered_per_second": rate,
        "flows_per_second": round(on_time / seconds, 1),
        "seconds": round(seconds, 2),
        "drain_seconds": round(max(0.0, elapsed - seconds), 2),
        "start_lag_ms": _spread([lag * 1000 for lag in run.start_lags]),
    }


def _spread(values_ms: Sequence[float]) -> dict[str, float]:
    return {
        name: round(percentile(values_ms, fraction), 2)
        for name, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    }


def run_flows(
    *,
    apps: int,
    phones: int,
    seconds: float,
    instances: int = 1,
    redis_url: str = "",
    private_redis: bool = False,
    rate: float = 0.0,
    limit_seconds: float = 0.0,
) -> dict[str, object]:
    """Start the services (and a private redis-server if asked), measure, stop them all.

    Given `limit_seconds`, the cost floor is measured first, in the same run and before the
    services start, and the figures say how close the service came to it."""
    if rate:
        raise_open_files(OPEN_FILES)
    with contextlib.ExitStack() as stack:
        url = redis_url or (stack.enter_context(redis_server()) if private_redis else "")
        floor = limit.measure(limit_seconds, redis_url=url) if limit_seconds else None
        limits = OPEN_LOOP_LIMITS if rate else LIMITS
        env = dict(limits, **({"PUSH_REDIS_URL": url} if url else {}))
        started = stack.enter_context(services(instances, env))
        with event_loop_runner() as runner:
            figures = runner.run(measure(started, apps, phones, seconds, url, rate))
    figures["engine"] = "redis" if url else "memory"
    if floor:
        figures.update(_against_limit(figures, floor))
    return figures


def _against_limit(figures: dict[str, object], floor: dict[str, object]) -> dict[str, object]:
    """The floor for this engine, and the service's CPU per flow as a fraction of it (1.0 would
    be a service doing nothing but the irreducible work)."""
    limit_us = floor.get("floor_redis_us_per_flow") or floor["floor_us_per_flow"]
    assert isinstance(limit_us, float)
    spent = figures["server_cpu_us_per_flow"]
    assert isinstance(spent, int)
    return {
        "limit_us_per_flow": limit_us,
        "limit_flows_per_second_per_core": round(1e6 / limit_us),
        "fraction_of_limit": round(limit_us / max(1, spent), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apps", type=int, default=10, help="concurrent apps")
    parser.add_argument(
        "--phones",
        type=int,
        default=0,
        help=f"phones (default: as many as apps, or {OPEN_LOOP_PHONES} with --rate)",
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=0.0, help="open loop: flows offered a second")
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--redis-url", default="", help="use the Redis engine at this URL")
    parser.add_argument(
        "--redis", action="store_true", help="start a private redis-server and use it"
    )
    parser.add_argument("--quick", action="store_true", help="a tiny run, for smoke tests")
    args = parser.parse_args()
    if args.rate < 0:
        parser.error("--rate cannot be negative")
    apps, phones = _sizes(args)
    if args.quick:
        args.seconds = 2.0
    figures = run_flows(
        apps=apps,
        phones=phones,
        seconds=args.seconds,
        instances=args.instances,
        redis_url=args.redis_url,
        private_redis=args.redis,
        rate=args.rate,
        limit_seconds=limit.QUICK_SECONDS if args.quick else LIMIT_SECONDS,
    )
    report("Complete approval flows", _rows(figures), figures)


def _sizes(args: argparse.Namespace) -> tuple[int, int]:
    """Apps and phones: in a closed loop each app has its own users; an open loop spreads its
    flows over many users."""
    apps = min(args.apps, 2) if args.quick else args.apps
    if args.rate:
        wanted = args.phones or OPEN_LOOP_PHONES
        return apps, min(wanted, QUICK_OPEN_LOOP_PHONES) if args.quick else wanted
    phones = min(args.phones or 2, 2) if args.quick else args.phones
    return apps, max(phones, apps)


def _rows(figures: dict[str, object]) -> list[tuple[str, str]]:
    rows = [
        ("engine", f"{figures['engine']} x {figures['instances']} instance(s)"),
        ("apps / phones", f"{figures['apps']} / {figures['phones']}"),
    ]
    if "offered_per_second" in figures:
        rows.append(("offered flows per second", str(figures["offered_per_second"])))
    rows += [
        (
            "complete flows",
            f"{figures['flows']} in {figures['seconds']} s ({figures['errors']} errors)",
        ),
        ("flows per second", str(figures["flows_per_second"])),
        ("create -> phone (ms)", show_spread(figures["create_to_phone_ms"])),
        ("create -> decision (ms)", show_spread(figures["create_to_decision_ms"])),
        ("server CPU per flow (us)", str(figures["server_cpu_us_per_flow"])),
        ("load generator CPU per flow (us)", str(figures["load_generator_cpu_us_per_flow"])),
    ]
    if "limit_us_per_flow" in figures:
        rows.append(("limit: CPU per flow (us)", f"{figures['limit_us_per_flow']} (same run)"))
        rows.append(
            ("  flows/s per core at the limit", str(figures["limit_flows_per_second_per_core"]))
        )
        rows.append(("  this run as a fraction of it", str(figures["fraction_of_limit"])))
    if "offered_per_second" in figures:
        rows.append(("start behind schedule (ms)", show_spread(figures["start_lag_ms"])))
        rows.append(("drained after the load (s)", str(figures["drain_seconds"])))
    if "redis_round_trips_per_flow" in figures:
        least = limit.FLOW["redis_round_trips"]
        counted = f"{figures['redis_round_trips_per_flow']} (the design's minimum: {least})"
        rows.append(("Redis round trips per flow", counted))
        rows.append(("  of which background", str(figures["redis_background_per_flow"])))
        rows.append(
            ("redis-server CPU per flow (us)", str(figures["redis_server_cpu_us_per_flow"]))
        )
    if figures["first_error"]:
        rows.append(("first error", str(figures["first_error"])))
    return rows


def show_spread(value: object) -> str:
    """A {"p50", "p95", "p99"} figure as table text."""
    assert isinstance(value, dict)
    return f"p50 {value['p50']}  p95 {value['p95']}  p99 {value['p99']}"


if __name__ == "__main__":
    main()
