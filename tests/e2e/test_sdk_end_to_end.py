"""The SDK against the real service on a loopback socket: what it signs, the service accepts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestServer

from client_sdk import AdminClient, AppClient, DeviceClient, DeviceStream
from client_sdk.events import ChallengeEvent, Ready, Resolved, Result, StreamEvent
from push_service.app import create_app
from tests.conftest import ADMIN_TOKEN, make_settings


@pytest.fixture
async def base_url(
    aiohttp_server: Callable[..., Awaitable[TestServer]], unused_tcp_port: int
) -> str:
    url = f"http://127.0.0.1:{unused_tcp_port}"
    await aiohttp_server(create_app(make_settings(PUSH_PUBLIC_URL=url)), port=unused_tcp_port)
    return url


async def _next(stream: DeviceStream, kind: type[StreamEvent]) -> Any:
    async with asyncio.timeout(5):
        async for event in stream:
            if isinstance(event, kind):
                return event
    raise AssertionError(f"the stream ended before a {kind.__name__}")


async def _enrolled(app: AppClient, tmp_path: Path, name: str) -> DeviceClient:
    enrollment = await app.create_enrollment("alice")
    return await DeviceClient.enroll_from_uri(enrollment.uri, name, tmp_path / f"{name}.json")


async def test_two_phones_first_answer_wins_and_the_other_is_told(
    base_url: str, tmp_path: Path
) -> None:
    async with AdminClient(base_url, ADMIN_TOKEN) as admin:
        made = await admin.create_app("Intranet")
    async with AppClient(base_url, made["api_key"]) as app:
        phone, tablet = (
            await _enrolled(app, tmp_path, "phone"),
            await _enrolled(app, tmp_path, "tablet"),
        )
        async with phone, tablet, DeviceStream(phone) as s1, DeviceStream(tablet) as s2:
            await _next(s1, Ready)
            await _next(s2, Ready)
            shown: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            decision = asyncio.create_task(
                app.request_approval(
                    "alice",
                    context={"ip": "203.0.113.9"},
                    on_created=lambda c: shown.set_result(c.match_number or ""),
                    timeout=10,
                )
            )
            seen = (await _next(s1, ChallengeEvent)).challenge
            await _next(s2, ChallengeEvent)
            # The phone may see the push before the app sees its 201.
            number = await asyncio.wait_for(shown, 5)
            assert seen.app.name == "Intranet"
            assert seen.context == {"ip": "203.0.113.9"}
            await s1.send_response(seen, "approve", number=number)
            assert (await _next(s1, Result)).status == "approved"
            resolved = await _next(s2, Resolved)
            assert (resolved.challenge_id, resolved.status) == (seen.challenge_id, "approved")
            final = await decision
    assert final.status == "approved"
    assert final.device_id == phone.device_id
    public = phone.key_file.key.public_jwk()
    key = jwt.PyJWK({**public, "alg": "EdDSA"})
    claims = jwt.decode(
        final.response_token or "", key, algorithms=["EdDSA"], audience="push-approval"
    )
    assert claims["decision"] == "approve"
    assert claims["cid"] == final.challenge_id


async def test_polling_fallback_rotation_and_self_revocation(base_url: str, tmp_path: Path) -> None:
    async with AdminClient(base_url, ADMIN_TOKEN) as admin:
        made = await admin.create_app("Intranet")
    async with AppClient(base_url, made["api_key"]) as app:
        phone = await _enrolled(app, tmp_path, "phone")
        async with phone:
            created = await app.create_challenge("alice")
            await phone.rotate_key()
            (pending,) = await phone.pending()
            result = await phone.report_fraud(pending)
            assert result.status == "denied"
            final = await app.get_challenge(created.challenge_id)
            assert final.reason == "fraud_reported"
            await phone.revoke()
        async with AdminClient(base_url, ADMIN_TOKEN) as admin:
            assert await admin.list_devices("alice") == []
