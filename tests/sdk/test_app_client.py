"""The relying app's and operator's clients against a tiny fake of the service's HTTP API."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from client_sdk import AdminClient, AppClient, Challenge, PushApprovalError, app_client

from .fake_service import error_response, rfc3339

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def challenge_json(status: str = "pending", **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "challenge_id": "ch_1",
        "app_id": "app_1",
        "user_id": "alice",
        "status": status,
        "context": {"action": "Sign in"},
        "number_matching": True,
        "created_at": rfc3339(now),
        "expires_at": rfc3339(now + timedelta(seconds=60)),
        "a_field_from_a_later_version": [1, 2, 3],
    }
    if status == "pending":
        data["match_number"] = "042"
    data.update(extra)
    return data


class Recorder:
    """Routes and the requests they received."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.app = web.Application()

    def route(self, method: str, path: str, respond: Callable[[web.Request, Any], Any]) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            body = await request.json() if request.can_read_body else None
            self.requests.append((request.method, request.path_qs, dict(request.headers), body))
            result = respond(request, body)
            if isinstance(result, web.StreamResponse):
                return result
            return web.json_response(result[1], status=result[0])

        self.app.router.add_route(method, path, handler)


async def start(aiohttp_server: ServerFactory, recorder: Recorder) -> str:
    server = await aiohttp_server(recorder.app)
    return str(server.make_url("")).rstrip("/")


async def test_create_challenge_sends_api_key_body_and_idempotency_key(
    aiohttp_server: ServerFactory,
) -> None:
    rec = Recorder()
    rec.route("POST", "/v1/challenges", lambda r, b: (201, challenge_json()))
    async with AppClient(await start(aiohttp_server, rec), "key_123") as app:
        challenge = await app.create_challenge(
            "alice",
            context={"action": "Sign in"},
            ttl_seconds=90,
            number_matching=True,
            idempotency_key="login-77",
        )
    _, _, headers, body = rec.requests[0]
    assert headers["Authorization"] == "Bearer key_123"
    assert headers["Idempotency-Key"] == "login-77"
    assert body == {
        "user_id": "alice",
        "context": {"action": "Sign in"},
        "ttl_seconds": 90,
        "number_matching": True,
    }
    assert challenge.match_number == "042"
    assert challenge.is_pending


async def test_challenge_times_are_aware_and_unknown_fields_are_ignored(
    aiohttp_server: ServerFactory,
) -> None:
    data = challenge_json(
        "approved", decided_at="2026-12-03T15:40:00Z", device_id="dev_1", response_token="t"
    )
    rec = Recorder()
    rec.route("GET", "/v1/challenges/{cid}", lambda r, b: (200, data))
    async with AppClient(await start(aiohttp_server, rec), "k") as app:
        challenge = await app.get_challenge("ch_1")
    assert challenge.created_at.tzinfo is not None
    assert challenge.decided_at == datetime(2026, 12, 3, 15, 40, tzinfo=UTC)
    assert challenge.device_id == "dev_1"
    assert challenge.reason is None
    assert challenge.approved


def test_challenge_from_json_refuses_a_time_without_zone() -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        Challenge.from_json(challenge_json(created_at="2026-12-03T15:40:00"))


async def test_429_with_retry_after_becomes_an_error_with_code_and_retry_after(
    aiohttp_server: ServerFactory,
) -> None:
    rec = Recorder()
    rec.route(
        "POST",
        "/v1/challenges",
        lambda r, b: web.json_response(
            {"error": {"code": "rate_limited", "message": "Too many challenges."}},
            status=429,
            headers={"Retry-After": "7"},
        ),
    )
    async with AppClient(await start(aiohttp_server, rec), "k") as app:
        with pytest.raises(PushApprovalError) as caught:
            await app.create_challenge("alice")
    assert caught.value.code == "rate_limited"
    assert caught.value.status == 429
    assert caught.value.retry_after == 7.0
    assert caught.value.message == "Too many challenges."


async def test_422_no_devices_maps_to_its_code_without_retry_after(
    aiohttp_server: ServerFactory,
) -> None:
    rec = Recorder()
    rec.route("POST", "/v1/challenges", lambda r, b: error_response(422, "no_devices"))
    async with AppClient(await start(aiohttp_server, rec), "k") as app:
        with pytest.raises(PushApprovalError) as caught:
            await app.create_challenge("bob")
    assert (caught.value.code, caught.value.status, caught.value.retry_after) == (
        "no_devices",
        422,
        None,
    )


async def test_non_json_error_page_becomes_http_error_with_the_status(
    aiohttp_server: ServerFactory,
) -> None:
    rec = Recorder()
    rec.route("GET", "/v1/challenges/{cid}", lambda r, b: web.Response(status=502, text="<html>"))
    async with AppClient(await start(aiohttp_server, rec), "k") as app:
        with pytest.raises(PushApprovalError) as caught:
            await app.get_challenge("ch_1")
    assert (caught.value.code, caught.value.status) == ("http_error", 502)


async def test_malformed_success_body_becomes_invalid_response(
    aiohttp_server: ServerFactory,
) -> None:
    rec = Recorder()
    rec.route("GET", "/v1/challenges/{cid}", lambda r, b: (200, {"challenge_id": 5}))
    async with AppClient(await start(aiohttp_server, rec), "k") as app:
        with pytest.raises(PushApprovalError) as caught:
            await app.get_challenge("ch_1")
    assert caught.value.code == "invalid_response"


async def test_unreachable_service_becomes_connection_error_without_status() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with AppClient(f"http://127.0.0.1:{port}", "k") as app:
        with pytest.raises(PushApprovalError) as caught:
            await app.get_challenge("ch_1")
    assert caught.value.code == "connection_error"
    assert caught.value.status is None


async def test_ids_are_percent_encoded_in_paths(aiohttp_server: ServerFactory) -> None:
    rec = Recorder()
    rec.route("GET", "/v1/challenges/{cid}", lambda r, b: (200, challenge_json()))
    async with AppClient(await start(aiohttp_server, rec), "k") as app:
        await app.get_challenge("a/b?c")
    assert rec.requests[0][1] == "/v1/challenges/a%2Fb%3Fc"


async def test_wait_long_polls_until_the_challenge_is_no_longer_pending(
    aiohttp_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_client, "MIN_POLL_INTERVAL_SECONDS", 0.01)
    answers = iter(["pending", "pending", "approved"])
    rec = Recorder()
    rec.route("GET", "/v1/challenges/{cid}", lambda r, b: (200, challenge_json(next(answers))))
    async with AppClient(await start(aiohttp_server, rec), "k") as app:
        challenge = await app.wait("ch_1", timeout=600)
    assert challenge.status == "approved"
    assert [path for _, path, _, _ in rec.requests] == ["/v1/challenges/ch_1?wait=60"] * 3


async def test_wait_asks_for_no_more_than_the_time_left(
    aiohttp_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_client, "MIN_POLL_INTERVAL_SECONDS", 0.01)
    answers = iter(["pending", "expired"])
    rec = Recorder()
    rec.route("GET", "/v1/challenges/{cid}", lambda r, b: (200, challenge_json(next(answers))))
    async with AppClient(await start(aiohttp_server, rec), "k") as app:
        challenge = await app.wait("ch_1", timeout=5.5)
    assert challenge.status == "expired"
    waits = [int(path.rsplit("=", 1)[1]) for _, path, _, _ in rec.requests]
    assert waits[0] == 5
    assert all(1 <= wait <= 5 for wait in waits)


async def test_wait_returns_the_pending_challenge_when_time_runs_out_without_hammering(
    aiohttp_server: ServerFactory,
) -> None:
    rec = Recorder()
    rec.route("GET", "/v1/challenges/{cid}", lambda r, b: (200, challenge_json()))
    async with AppClient(await start(aiohttp_server, rec), "k") as app:
        challenge = await app.wait("ch_1", timeout=0.3)
    assert challenge.is_pending
    assert [path for _, path, _, _ in rec.requests] == ["/v1/challenges/ch_1"]


async def test_get_challenge_refuses_a_wait_outside_1_to_60() -> None:
    async with AppClient("http://127.0.0.1:9", "k") as app:
        with pytest.raises(ValueError, match="wait"):
            await app.get_challenge("ch_1", wait=61)


async def test_request_approval_shows_the_match_number_then_returns_the_outcome(
    aiohttp_server: ServerFactory,
) -> None:
    rec = Recorder()
    rec.route("POST", "/v1/challenges", lambda r, b: (201, challenge_json()))
    rec.route(
        "GET",
        "/v1/challenges/{cid}",
        lambda r, b: (200, challenge_json("denied", reason="user_denied")),
    )
    shown: list[str | None] = []
    async with AppClient(await start(aiohttp_server, rec), "k") as app:
        result = await app.request_approval(
            "alice", on_created=lambda c: shown.append(c.match_number), context={"ip": "1.2.3.4"}
        )
    assert shown == ["042"]
    assert (result.status, result.reason) == ("denied", "user_denied")
    assert rec.requests[0][3] == {"user_id": "alice", "context": {"ip": "1.2.3.4"}}


async def test_request_approval_cancels_a_challenge_still_pending_at_timeout(
    aiohttp_server: ServerFactory,
) -> None:
    rec = Recorder()
    rec.route("POST", "/v1/challenges", lambda r, b: (201, challenge_json()))
    rec.route("GET", "/v1/challenges/{cid}", lambda r, b: (200, challenge_json()))
    rec.route("DELETE", "/v1/challenges/{cid}", lambda r, b: (200, challenge_json("cancelled")))
    async with AppClient(await start(aiohttp_server, rec), "k") as app:
        result = await app.request_approval("alice", timeout=0.1)
    assert result.status == "cancelled"
    assert rec.requests[-1][0] == "DELETE"


async def test_request_approval_cancels_the_challenge_when_on_created_fails(
    aiohttp_server: ServerFactory,
) -> None:
    rec = Recorder()
    rec.route("POST", "/v1/challenges", lambda r, b: (201, challenge_json()))
    rec.route("DELETE", "/v1/challenges/{cid}", lambda r, b: (200, challenge_json("cancelled")))

    def broken(challenge: Challenge) -> None:
        raise RuntimeError("screen unavailable")

    async with AppClient(await start(aiohttp_server, rec), "k") as app:
        with pytest.raises(RuntimeError, match="screen"):
            await app.request_approval("alice", on_created=broken)
    assert [method for method, *_ in rec.requests] == ["POST", "DELETE"]


async def test_cancel_of_an_ended_challenge_is_challenge_not_pending(
    aiohttp_server: ServerFactory,
) -> None:
    rec = Recorder()
    rec.route(
        "DELETE", "/v1/challenges/{cid}", lambda r, b: error_response(409, "challenge_not_pending")
    )
    async with AppClient(await start(aiohttp_server, rec), "k") as app:
        with pytest.raises(PushApprovalError) as caught:
            await app.cancel("ch_1")
    assert (caught.value.code, caught.value.status) == ("challenge_not_pending", 409)


async def test_app_enrollment_posts_the_user_and_returns_the_uri(
    aiohttp_server: ServerFactory,
) -> None:
    enrollment = {
        "enrollment_id": "en_1",
        "user_id": "alice",
        "code": "c0de",
        "uri": "pushapproval://enroll?code=c0de&url=https%3A%2F%2Fx&issuer=i",
        "expires_at": "2026-12-03T15:50:00Z",
    }
    rec = Recorder()
    rec.route("POST", "/v1/enrollments", lambda r, b: (201, enrollment))
    async with AppClient(await start(aiohttp_server, rec), "k") as app:
        result = await app.create_enrollment("alice")
    assert result.uri.startswith("pushapproval://enroll?")
    assert result.expires_at.tzinfo is not None
    assert rec.requests[0][3] == {"user_id": "alice"}


async def test_admin_client_sends_the_admin_token_and_filters(
    aiohttp_server: ServerFactory,
) -> None:
    rec = Recorder()
    rec.route("GET", "/v1/admin/challenges", lambda r, b: (200, {"challenges": [challenge_json()]}))
    rec.route("DELETE", "/v1/admin/apps/{app_id}", lambda r, b: web.Response(status=204))
    rec.route(
        "POST",
        "/v1/admin/apps",
        lambda r, b: (
            201,
            {"app_id": "app_2", "name": b["name"], "api_key": "k", "webhook_secret": "whsec_x"},
        ),
    )
    async with AdminClient(await start(aiohttp_server, rec), "admin-token") as admin:
        challenges = await admin.list_challenges(status="pending", user_id="alice")
        await admin.delete_app("app_1")
        created = await admin.create_app("Intranet")
    assert rec.requests[0][1] == "/v1/admin/challenges?status=pending&user_id=alice"
    assert all(h["Authorization"] == "Bearer admin-token" for _, _, h, _ in rec.requests)
    assert challenges[0].challenge_id == "ch_1"
    assert created["name"] == "Intranet"


async def test_admin_client_maps_a_refused_token_to_unauthorized(
    aiohttp_server: ServerFactory,
) -> None:
    rec = Recorder()
    rec.route("GET", "/v1/admin/apps", lambda r, b: error_response(401, "unauthorized"))
    async with AdminClient(await start(aiohttp_server, rec), "wrong") as admin:
        with pytest.raises(PushApprovalError) as caught:
            await admin.list_apps()
    assert (caught.value.code, caught.value.status) == ("unauthorized", 401)


def test_base_url_must_be_http_or_https() -> None:
    with pytest.raises(ValueError, match="http"):
        AppClient("ftp://push.example.com", "k")
