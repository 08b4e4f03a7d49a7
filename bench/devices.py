"""Enrolling many devices for benchmarks: the SDK's enrollment calls, run concurrently, with each
device's key kept in memory rather than in a key file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from client_sdk import AdminClient, DeviceKey, enroll_device, parse_enrollment_uri

from .harness import ADMIN_TOKEN


@dataclass(frozen=True)
class Enrolled:
    """One enrolled device: what it needs to sign its tokens."""

    key: DeviceKey
    device_id: str
    user_id: str
    issuer: str


async def enroll_many(
    url: str, users: Sequence[str], session: aiohttp.ClientSession, concurrency: int = 32
) -> list[Enrolled]:
    """One device for each of `users`, at most `concurrency` enrollments in flight."""
    gate = asyncio.Semaphore(concurrency)
    async with AdminClient(url, ADMIN_TOKEN, session=session) as admin:

        async def one(user_id: str) -> Enrolled:
            async with gate:
                return await _enroll(admin, user_id, session)

        return list(await asyncio.gather(*(one(user) for user in users)))


async def _enroll(admin: AdminClient, user_id: str, session: aiohttp.ClientSession) -> Enrolled:
    enrollment = await admin.create_enrollment(user_id)
    key = DeviceKey.generate()
    uri = parse_enrollment_uri(enrollment.uri)
    enrolled = await enroll_device(uri, key, f"phone of {user_id}", session=session)
    return Enrolled(key, enrolled.device_id, enrolled.user_id, enrolled.issuer)
