"""The application factory: one `create_app(settings)` builds everything, with no globals."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from . import admin_api, api, dashboard, dashboard_feed, openapi, stream
from .config import Settings
from .edge import SERVICE, errors_middleware
from .engine import engine_for
from .engine.base import Engine
from .service import PushService
from .webhooks.sender import WebhookSender

GOING_AWAY = 1001


def create_app(settings: Settings, engine: Engine | None = None) -> web.Application:
    app = web.Application(
        middlewares=[errors_middleware],
        client_max_size=settings.max_body_bytes,
        # The keep-alive timer also bounds how long a request's headers may take to arrive,
        # which cuts off clients that trickle them (slowloris).
        handler_args={"keepalive_timeout": settings.http_request_timeout},
    )
    push = PushService(settings, engine or engine_for(settings))
    # The sender reads the service's clock, so both agree even where a test replaces it.
    sender = WebhookSender(
        push.engine,
        settings,
        push.webhooks_due,
        clock=lambda: push.clock(),
        on_outcome=push.metrics.webhook,
    )
    app[SERVICE] = push
    app.router.add_routes(api.routes)
    app.router.add_routes(admin_api.routes)
    app.router.add_routes(dashboard.routes)
    app.router.add_routes(openapi.routes)
    app.router.add_get("/v1/devices/stream", stream.stream)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await push.start()
        yield
        await push.close()

    async def webhooks(_: web.Application) -> AsyncIterator[None]:
        await sender.start()
        yield
        await sender.close()

    async def on_shutdown(_: web.Application) -> None:
        push.hub.close_all(GOING_AWAY, "server shutting down")
        dashboard_feed.close_all(push, GOING_AWAY, "server shutting down")

    app.cleanup_ctx.append(lifecycle)
    app.cleanup_ctx.append(webhooks)  # after the service: stopped before it on the way down
    app.on_shutdown.append(on_shutdown)
    return app
