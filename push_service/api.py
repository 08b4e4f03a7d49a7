"""REST handlers for apps and devices: parse, call the service, shape the answer. No rules here."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from .edge import caller, device, int_query, json_body, reply, service
from .errors import invalid
from .models import Challenge, rfc3339
from .requests import NewChallenge, NewDevice, NewEnrollment, NewKey, parse_token

routes = web.RouteTableDef()


@routes.get("/.well-known/push-approval")
async def discovery(request: web.Request) -> web.Response:
    settings = service(request).settings
    return reply(
        {
            "issuer": settings.issuer,
            "version": "1",
            "base_url": settings.base_url,
            "stream_path": "/v1/devices/stream",
            "algorithms": ["EdDSA"],
            "match_digits": settings.match_digits,
        }
    )


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return reply({"status": "ok"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = service(request).metrics.exposition()
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    await service(request).engine.ping()
    return reply({"status": "ready"})


# Enrollment and devices
@routes.post("/v1/enrollments")
async def create_enrollment(request: web.Request) -> web.Response:
    who = await caller(request)
    wanted = NewEnrollment.parse(await json_body(request), operator=who.operator)
    push = service(request)
    enrollment, code = await push.create_enrollment(who, wanted)
    query = urlencode({"code": code, "url": push.settings.base_url, "issuer": push.settings.issuer})
    body = {
        "enrollment_id": enrollment.enrollment_id,
        "user_id": enrollment.user_id,
        "code": code,
        "uri": f"pushapproval://enroll?{query}",
        "expires_at": rfc3339(enrollment.expires_at),
        "app_ids": list(enrollment.app_ids) if enrollment.app_ids is not None else None,
    }
    return reply(body, 201)


@routes.post("/v1/devices")
async def enroll_device(request: web.Request) -> web.Response:
    push = service(request)
    enrolled = await push.enroll_device(NewDevice.parse(await json_body(request)))
    body = {
        "device_id": enrolled.device_id,
        "user_id": enrolled.user_id,
        "issuer": push.settings.issuer,
    }
    return reply(body, 201)


@routes.get("/v1/devices/me/challenges")
async def my_challenges(request: web.Request) -> web.Response:
    me = await device(request)
    pending = await service(request).pending_for(me)
    return reply({"challenges": [c.device_view() for c in pending]})


@routes.delete("/v1/devices/me")
async def revoke_me(request: web.Request) -> web.Response:
    me = await device(request)
    await service(request).revoke_device(me.device_id, f"device:{me.device_id}")
    return web.Response(status=204)


@routes.post("/v1/devices/me/key")
async def rotate_key(request: web.Request) -> web.Response:
    me = await device(request)
    await service(request).rotate_key(me, NewKey.parse(await json_body(request)))
    return reply({"device_id": me.device_id, "rotated": True})


@routes.post("/v1/challenges/{challenge_id}/response")
async def respond(request: web.Request) -> web.Response:
    token = parse_token(await json_body(request))
    ended = await service(request).respond(token, request.match_info["challenge_id"])
    return reply({"challenge_id": ended.challenge_id, "status": ended.status.value})


# Challenges
@routes.post("/v1/challenges")
async def create_challenge(request: web.Request) -> web.Response:
    who = await caller(request, app_only=True)
    assert who.app is not None
    wanted = NewChallenge.parse(await json_body(request))
    key = _idempotency_key(request)
    push = service(request)
    challenge = await push.create_challenge(who.app, wanted, key)
    return reply(_app_view(request, challenge), 201)


@routes.get("/v1/challenges/{challenge_id}")
async def get_challenge(request: web.Request) -> web.Response:
    who = await caller(request)
    wait = _wait_seconds(request)
    challenge = await service(request).wait(who, request.match_info["challenge_id"], wait)
    return reply(_app_view(request, challenge, owner=not who.operator))


@routes.delete("/v1/challenges/{challenge_id}")
async def cancel_challenge(request: web.Request) -> web.Response:
    who = await caller(request)
    challenge = await service(request).cancel(who, request.match_info["challenge_id"])
    return reply(_app_view(request, challenge, owner=False))


def _app_view(request: web.Request, challenge: Challenge, owner: bool = True) -> dict[str, object]:
    shown = owner and challenge.pending and challenge.number_matching
    number = service(request).match_number(challenge) if shown else None
    return challenge.public(number)


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    # aiohttp turns bytes that are not UTF-8 into surrogates: only visible ASCII is accepted.
    if not 1 <= len(key) <= 255 or not (key.isascii() and key.isprintable()):
        raise invalid("'Idempotency-Key' must be 1 to 255 printable characters.")
    return key


def _wait_seconds(request: web.Request) -> int:
    return int_query(request, "wait", 1, 60, 0) if "wait" in request.query else 0
