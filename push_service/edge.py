"""What every HTTP handler shares: the service key, JSON in and out, bearer credentials, and the
one middleware that turns every failure into the contract's error body (never a traceback)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMessage, web

from . import jsonbody, tokens
from .auditing import REQUEST_ID, SOURCE
from .errors import ErrorCode, PushError
from .models import Device
from .service import Caller, PushService

SERVICE = web.AppKey("service", PushService)
log = logging.getLogger("push_service.http")
access = logging.getLogger("push_service.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_CODES = {
    404: (ErrorCode.NOT_FOUND, "There is nothing at this path."),
    405: (ErrorCode.INVALID_REQUEST, "This method is not allowed on this path."),
    413: (ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large."),
}


def service(request: web.Request) -> PushService:
    return request.app[SERVICE]


def reply(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=jsonbody.dumps(body), status=status, content_type="application/json")


def error_response(exc: PushError) -> web.Response:
    response = reply(exc.body(), exc.status)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    if exc.code in (ErrorCode.UNAUTHORIZED, ErrorCode.INVALID_TOKEN):
        response.headers["WWW-Authenticate"] = 'Bearer realm="push-approval"'
    return response


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes the contract's error body; every request is counted and logged."""
    SOURCE.set(request.remote)
    request_id = _request_id(request)
    REQUEST_ID.set(request_id)
    started = time.perf_counter()
    response = await _answer(request, handler)
    _observe(request, response.status, time.perf_counter() - started)
    if not response.prepared:
        response.headers["X-Request-Id"] = request_id
    return response


def _request_id(request: web.Request) -> str:
    """The caller's X-Request-Id when it is a sane token (so one id follows a request through
    a load balancer), else a new one."""
    given = request.headers.get("X-Request-Id", "")
    if 8 <= len(given) <= 64 and given.isascii() and given.replace("-", "").isalnum():
        return given
    return secrets.token_hex(8)


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except PushError as exc:
        service(request).metrics.refusals.labels(exc.code.value).inc()
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, message = _HTTP_CODES.get(exc.status, (ErrorCode.INVALID_REQUEST, exc.reason))
        response = error_response(PushError(code, message))
        response.set_status(exc.status)
        return response
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return reply({"error": {"code": "internal", "message": "An internal error occurred."}}, 500)


def _observe(request: web.Request, status: int, seconds: float) -> None:
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    metrics = service(request).metrics
    metrics.http_requests.labels(request.method, route, str(status)).inc()
    metrics.http_seconds.labels(route).observe(seconds)
    if not access.isEnabledFor(logging.INFO):
        return
    access.info(
        "%s %s %d %.1fms",
        request.method,
        route,
        status,
        seconds * 1000,
        extra={
            "route": route,
            "status": status,
            "ms": round(seconds * 1000, 2),
            "request_id": REQUEST_ID.get(),
        },
    )


async def json_body(request: web.Request) -> Any:
    """The request's JSON body, strictly parsed; 400 invalid_request or 413 otherwise."""
    limit = service(request).settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PushError(ErrorCode.PAYLOAD_TOO_LARGE, f"The body is larger than {limit} bytes.")
    if request.content_type != "application/json":
        raise PushError(
            ErrorCode.INVALID_REQUEST, "Send the body as Content-Type: application/json."
        )
    settings = service(request).settings
    try:
        async with asyncio.timeout(settings.http_request_timeout):
            raw = await request.read()
    except TimeoutError:
        raise PushError(
            ErrorCode.REQUEST_TIMEOUT,
            f"The body did not arrive within {settings.http_request_timeout:g} s.",
        ) from None
    return jsonbody.loads(raw, max_depth=settings.max_json_depth)


def bearer(request: web.Request, code: ErrorCode = ErrorCode.UNAUTHORIZED) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip() or not value.isascii():
        raise PushError(code, "Send credentials as 'Authorization: Bearer <token>'.")
    return value.strip()


async def caller(
    request: web.Request, *, app_only: bool = False, operator_only: bool = False
) -> Caller:
    """The app or operator behind the bearer credential, or 401 unauthorized."""
    token = bearer(request)
    push = service(request)
    if not app_only and push.is_admin(token):
        return Caller(None)
    if not operator_only:
        app = await push.app_for_key(token)
        if app is not None:
            return Caller(app)
    raise PushError(ErrorCode.UNAUTHORIZED, "The API key or admin token is not valid.")


async def device(request: web.Request) -> Device:
    """The active device behind a device token in the Authorization header."""
    token = bearer(request, ErrorCode.INVALID_TOKEN)
    found, _ = await service(request).device_from_token(token, tokens.Kind.PLAIN)
    return found


def int_query(request: web.Request, name: str, low: int, high: int, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise PushError(
            ErrorCode.INVALID_REQUEST, f"'{name}' must be a whole number from {low} to {high}."
        )
    return int(raw)


async def first_message(ws: web.WebSocketResponse, seconds: float) -> WSMessage:
    """The first message of a websocket, within a fixed deadline.

    aiohttp's own receive timeout restarts on every ping, so a client that keeps pinging
    would never be asked to authenticate; this deadline does not move. Raises TimeoutError.
    """
    async with asyncio.timeout(seconds):
        return await ws.receive()
