"""The operator dashboard: a page, and the live feed it reads."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
