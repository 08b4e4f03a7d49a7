"""The operator dashboard: a static page with strict security headers, and the websocket that
feeds it. The page holds no secret and renders nothing as HTML; the feed admits an operator only
after an admin token in its first message (never in the URL, where logs would keep it).
"""

from __future__ import annotations

import functools
from importlib import resources

from aiohttp import WSMsgType, web

from . import frames
from .dashboard_feed import Feed
from .edge import first_message, service
from .errors import PushError
from .service import PushService

routes = web.RouteTableDef()

FEED_MAX_FRAME = 16 * 1024
"""The page sends one small auth message; anything bigger is not the page."""

_FILES = {
    "index.html": "text/html",
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}
_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # data: only for the empty favicon, which spares a 404
        # 'self' covers ws: and wss: on the page's own host in current browsers.
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # Always revalidate, so an upgraded service never runs an old script against a new feed.
    "Cache-Control": "no-cache",
}


@functools.cache
def _static(name: str) -> bytes:
    return resources.files("push_service").joinpath("dashboard_static", name).read_bytes()


def _file(name: str) -> web.Response:
    response = web.Response(body=_static(name), content_type=_FILES[name], charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    return response


@routes.get("/dashboard")
async def page(request: web.Request) -> web.Response:
    return _file("index.html")


@routes.get("/dashboard/{name}")
async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _FILES or name == "index.html":
        raise web.HTTPNotFound()
    return _file(name)


@routes.get("/v1/admin/stream")
async def feed(request: web.Request) -> web.WebSocketResponse:
    push = service(request)
    ws = web.WebSocketResponse(heartbeat=push.settings.ws_heartbeat, max_msg_size=FEED_MAX_FRAME)
    await ws.prepare(request)
    if not await _authenticate(ws, push):
        return ws
    watcher = Feed(ws, push)
    push.watchers.add(watcher)
    try:
        # The page says nothing after auth; reading only notices when it goes away.
        async for message in ws:
            if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
    finally:
        push.watchers.discard(watcher)
        await watcher.stop()
    return ws


async def _authenticate(ws: web.WebSocketResponse, push: PushService) -> bool:
    """Wait for `{"type": "auth", "token": <admin token>}`; close 4401 if it is late or wrong."""
    try:
        message = await first_message(ws, push.settings.ws_auth_timeout)
        if message.type is WSMsgType.TEXT:
            _, token = frames.parse(message.data, {"auth"})
            if push.is_admin(token):
                return True
        reason = "the admin token is not valid"
    except TimeoutError:
        reason = "no auth within the time allowed"
    except PushError as exc:
        reason = exc.message
    await ws.close(code=frames.CLOSE_AUTH, message=reason.encode()[:120])
    return False
