"""Operator REST handlers: apps, webhook deliveries, challenges, users and devices, audit.

Every handler here requires the admin token; none holds a rule of its own.
"""

from __future__ import annotations

from aiohttp import web

from .audit import AuditQuery
from .edge import caller, int_query, json_body, reply, service
from .errors import invalid
from .models import DeliveryState, Status
from .requests import parse_name

routes = web.RouteTableDef()


@routes.post("/v1/admin/apps")
async def create_app(request: web.Request) -> web.Response:
    await caller(request, operator_only=True)
    made = await service(request).create_app(parse_name(await json_body(request)))
    body = {**made.app.public(), "api_key": made.api_key, "webhook_secret": made.webhook_secret}
    return reply(body, 201)


@routes.get("/v1/admin/apps")
async def list_apps(request: web.Request) -> web.Response:
    await caller(request, operator_only=True)
    apps = await service(request).engine.list_apps()
    return reply({"apps": [a.public() for a in apps]})


@routes.delete("/v1/admin/apps/{app_id}")
async def delete_app(request: web.Request) -> web.Response:
    await caller(request, operator_only=True)
    await service(request).delete_app(request.match_info["app_id"])
    return web.Response(status=204)


@routes.post("/v1/admin/apps/{app_id}/webhook-secret")
async def rotate_webhook_secret(request: web.Request) -> web.Response:
    await caller(request, operator_only=True)
    app, secret = await service(request).rotate_webhook_secret(request.match_info["app_id"])
    return reply({"app_id": app.app_id, "webhook_secret": secret})


@routes.get("/v1/admin/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    await caller(request, operator_only=True)
    state = request.query.get("state")
    if state is not None and state not in DeliveryState.__members__.values():
        raise invalid(f"'state' must be one of {', '.join(s.value for s in DeliveryState)}.")
    found = await service(request).engine.list_deliveries(
        DeliveryState(state) if state else None, int_query(request, "limit", 1, 1000, 100)
    )
    return reply({"deliveries": [d.public() for d in found]})


@routes.post("/v1/admin/webhooks/{delivery_id}/redeliver")
async def redeliver_webhook(request: web.Request) -> web.Response:
    await caller(request, operator_only=True)
    delivery = await service(request).redeliver(request.match_info["delivery_id"])
    return reply(delivery.public())


@routes.get("/v1/admin/challenges")
async def admin_challenges(request: web.Request) -> web.Response:
    await caller(request, operator_only=True)
    status = request.query.get("status")
    if status is not None and status not in Status.__members__.values():
        raise invalid(f"'status' must be one of {', '.join(s.value for s in Status)}.")
    found = await service(request).engine.list_challenges(
        status=status,
        app_id=request.query.get("app_id"),
        user_id=request.query.get("user_id"),
        limit=int_query(request, "limit", 1, 1000, 100),
    )
    return reply({"challenges": [c.public() for c in found]})


@routes.get("/v1/admin/users/{user_id}/devices")
async def admin_devices(request: web.Request) -> web.Response:
    await caller(request, operator_only=True)
    push = service(request)
    devices = await push.engine.list_devices(request.match_info["user_id"])
    connected = await push.connected(d.device_id for d in devices)
    return reply({"devices": [d.public(d.device_id in connected) for d in devices]})


@routes.delete("/v1/admin/devices/{device_id}")
async def admin_revoke(request: web.Request) -> web.Response:
    await caller(request, operator_only=True)
    await service(request).revoke_device(request.match_info["device_id"], "operator")
    return web.Response(status=204)


@routes.get("/v1/admin/users/{user_id}")
async def user_standing(request: web.Request) -> web.Response:
    await caller(request, operator_only=True)
    push = service(request)
    user_id = request.match_info["user_id"]
    standing = await push.standing(user_id)
    return reply({"user_id": user_id, **standing.public(push.clock())})


@routes.post("/v1/admin/users/{user_id}/reset")
async def reset_user(request: web.Request) -> web.Response:
    await caller(request, operator_only=True)
    push = service(request)
    user_id = request.match_info["user_id"]
    await push.reset_user(user_id)
    standing = await push.standing(user_id)
    return reply({"user_id": user_id, **standing.public(push.clock())})


@routes.get("/v1/admin/audit")
async def audit_log(request: web.Request) -> web.Response:
    await caller(request, operator_only=True)
    query = AuditQuery(
        kind=request.query.get("kind"),
        app_id=request.query.get("app_id"),
        user_id=request.query.get("user_id"),
        device_id=request.query.get("device_id"),
        before=request.query.get("before"),
        limit=int_query(request, "limit", 1, 1000, 100),
    )
    push = service(request)
    await push.audit.flush()
    events = await push.engine.read_audit(query)
    body: dict[str, object] = {"events": [e.public() for e in events]}
    if len(events) == query.limit:
        body["next_before"] = events[-1].event_id
    return reply(body)
