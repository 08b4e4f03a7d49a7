"""Webhook deliveries per second to a fast local HTTPS receiver, and the delay from a challenge's
end (the return of its cancelling DELETE) to its signed callback's arrival at the receiver.
Challenges are ended by the app cancelling them: the cheapest terminal transition (no phone).

    python -m bench.webhooks --workers 8 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from client_sdk import AdminClient, AppClient, PushApprovalError

from .devices import enroll_many
from .harness import ADMIN_TOKEN, Instance, p50_p99_ms, report, services, show_pair
from .receiver import Certificates, Receiver, make_certificates

# Lifted: every challenge here is a push its user never approves, which the fatigue defences
# would soon refuse; and the receiver is on loopback.
LIMITS = {
    "PUSH_RATE_LIMIT": "10000",
    "PUSH_RATE_WINDOW": "1",
    "PUSH_MAX_PENDING": "100",
    "PUSH_MAX_UNAPPROVED": "100000",
    "PUSH_CALLBACK_ALLOW_PRIVATE": "1",
}
POLL_SECONDS = 0.02


@dataclass
class Run:
    decided: dict[str, float] = field(default_factory=dict)
    """Challenge id -> when its DELETE returned (time.perf_counter)."""
    errors: int = 0


class Pacer:
    """Hands out start times `1 / rate` apart to every worker; a rate of 0 never waits."""

    def __init__(self, rate: float) -> None:
        self._gap = 1.0 / rate if rate > 0 else 0.0
        self._next = time.perf_counter()

    async def wait(self) -> None:
        if not self._gap:
            return
        now = time.perf_counter()
        slot = max(now, self._next)
        self._next = slot + self._gap
        await asyncio.sleep(slot - now)


@dataclass(frozen=True)
class Load:
    users: Sequence[str]
    urls: Sequence[str]
    until: float
    pacer: Pacer


async def worker(app: AppClient, load: Load, first: int, step: int, run: Run) -> None:
    index = first
    while time.perf_counter() < load.until:
        await load.pacer.wait()
        user, url = load.users[index % len(load.users)], load.urls[index % len(load.urls)]
        index += step
        try:
            challenge = await app.create_challenge(user, callback_url=url, number_matching=False)
            await app.cancel(challenge.challenge_id)
        except PushApprovalError:
            run.errors += 1
            continue
        run.decided[challenge.challenge_id] = time.perf_counter()


async def drain(receiver: Receiver, run: Run, seconds: float) -> None:
    """Wait until every ended challenge's callback arrived, or `seconds` passed."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if all(cid in receiver.arrivals for cid in run.decided):
            return
        await asyncio.sleep(POLL_SECONDS)


@dataclass(frozen=True)
class Settings:
    workers: int
    users: int
    receivers: int
    seconds: float
    rate: float
    drain: float


async def measure(
    instance: Instance, receiver: Receiver, urls: list[str], s: Settings
) -> dict[str, object]:
    users = [f"user{i}" for i in range(s.users)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await enroll_many(instance.url, users, session)
        async with AdminClient(instance.url, ADMIN_TOKEN, session=session) as admin:
            made = await admin.create_app("Bench")
        receiver.secret = made["webhook_secret"]
        app = AppClient(instance.url, made["api_key"], session=session)
        run, cpu_before = Run(), instance.cpu_seconds()
        started = time.perf_counter()
        load = Load(users, urls, started + s.seconds, Pacer(s.rate))
        await asyncio.gather(*(worker(app, load, j, s.workers, run) for j in range(s.workers)))
        stopped = time.perf_counter()
        backlog = sum(1 for cid in run.decided if cid not in receiver.arrivals)
        await drain(receiver, run, s.drain)
        cpu = instance.cpu_seconds() - cpu_before
    figures = _figures(receiver, run, started, stopped, cpu)
    figures["backlog_at_stop"] = backlog
    return figures


def _figures(
    receiver: Receiver, run: Run, started: float, stopped: float, cpu: float
) -> dict[str, object]:
    arrived = {cid: receiver.arrivals[cid] for cid in run.decided if cid in receiver.arrivals}
    delays = [arrived[cid] - run.decided[cid] for cid in arrived]
    last = max(arrived.values(), default=stopped)
    return {
        "challenges": len(run.decided),
        "deliveries": len(arrived),
        "missing": len(run.decided) - len(arrived),
        "duplicates": receiver.duplicates,
        "bad_signatures": receiver.bad_signatures,
        "errors": run.errors,
        "seconds": round(stopped - started, 2),
        "cancels_per_second": round(len(run.decided) / (stopped - started), 1),
        "deliveries_per_second": round(len(arrived) / max(last - started, 1e-9), 1),
        "decision_to_delivery_ms": p50_p99_ms(delays),
        "server_cpu_us_per_challenge": round(cpu / max(1, len(run.decided)) * 1e6),
    }


async def bench(instance: Instance, certificates: Certificates, s: Settings) -> dict[str, object]:
    receiver = Receiver()
    urls = await receiver.start(certificates.server_context(), s.receivers)
    try:
        return await measure(instance, receiver, urls, s)
    finally:
        await receiver.close()


def rows(f: dict[str, object]) -> list[tuple[str, str]]:
    paced = f"{f['rate']}/s" if f["rate"] else "as fast as they go"
    return [
        ("load", f"{f['workers']} apps, {f['users']} users, {f['receivers']} receiver port(s)"),
        ("challenge pace", paced),
        ("ended by", "the app's cancel (DELETE /v1/challenges/{id})"),
        ("challenges ended", f"{f['challenges']} in {f['seconds']} s ({f['errors']} errors)"),
        ("cancels per second", str(f["cancels_per_second"])),
        ("deliveries per second", f"{f['deliveries_per_second']} (first create to last arrival)"),
        ("delivered / missing", f"{f['deliveries']} / {f['missing']}"),
        ("not yet delivered at stop", str(f["backlog_at_stop"])),
        ("duplicates / bad signatures", f"{f['duplicates']} / {f['bad_signatures']}"),
        ("decision -> delivery (ms)", show_pair(f["decision_to_delivery_ms"])),
        (
            "server CPU per challenge (us)",
            f"{f['server_cpu_us_per_challenge']} (create, cancel, send)",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=8, help="concurrent apps")
    parser.add_argument("--users", type=int, default=50, help="users, one device each")
    parser.add_argument("--receivers", type=int, default=1, help="receiver ports (destinations)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="challenges per second (0: unpaced)"
    )
    parser.add_argument("--drain", type=float, default=15.0, help="seconds to wait for stragglers")
    parser.add_argument("--quick", action="store_true", help="a tiny run, for smoke tests")
    args = parser.parse_args()
    if args.quick:
        args.workers, args.users, args.seconds = min(args.workers, 4), min(args.users, 10), 2.0
    s = Settings(args.workers, args.users, args.receivers, args.seconds, args.rate, args.drain)
    with tempfile.TemporaryDirectory() as folder:
        certificates = make_certificates(Path(folder))
        env = {**LIMITS, "PUSH_CALLBACK_CA_FILE": str(certificates.ca)}
        with services(1, env) as instances:
            figures = asyncio.run(bench(instances[0], certificates, s))
    figures.update(workers=s.workers, users=s.users, receivers=s.receivers, rate=s.rate)
    figures["ended_by"] = "cancel"
    report("Webhook deliveries", rows(figures), figures)


if __name__ == "__main__":
    main()
