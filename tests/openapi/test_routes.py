"""The description lists exactly the routes the application serves: no more, no fewer."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from push_service.app import create_app
from push_service.openapi import document
from tests.conftest import make_settings

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def served(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path template) of every route, less the HEAD routes aiohttp adds to GETs."""
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path") or info.get("prefix")
        if route.method != "HEAD":
            found.add((route.method, str(path)))
    return found


def documented(description: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in description["paths"].items()
        for method in item
        if method in METHODS
    }


def test_every_served_route_is_documented() -> None:
    settings = make_settings()
    missing = served(create_app(settings)) - documented(document(settings))
    assert not missing, f"served but not in /openapi.json: {sorted(missing)}"


def test_every_documented_route_is_served() -> None:
    settings = make_settings()
    stale = documented(document(settings)) - served(create_app(settings))
    assert not stale, f"in /openapi.json but not served: {sorted(stale)}"


def test_a_route_added_without_its_description_is_noticed() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    settings = make_settings()
    app = create_app(settings)
    app.router.add_post("/v1/undocumented/{thing}", handler)
    assert served(app) - documented(document(settings)) == {("POST", "/v1/undocumented/{thing}")}


def test_head_routes_are_left_out_but_methods_are_kept_apart() -> None:
    routes = served(create_app(make_settings()))
    assert ("GET", "/v1/challenges/{challenge_id}") in routes
    assert ("DELETE", "/v1/challenges/{challenge_id}") in routes
    assert not any(method == "HEAD" for method, _ in routes)
