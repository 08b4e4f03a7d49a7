"""The dashboard page: static files from the package, strict security headers, no inline
script, and a script that never turns server text into HTML."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import pytest

STATIC = resources.files("push_service").joinpath("dashboard_static")


async def test_the_page_is_served_with_strict_security_headers(client: Any) -> None:
    response = await client.get("/dashboard")
    assert response.status == 200
    assert response.content_type == "text/html"
    csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/dashboard/dashboard.js", "text/javascript"), ("/dashboard/dashboard.css", "text/css")],
)
async def test_the_script_and_style_are_served_with_their_types(
    client: Any, path: str, kind: str
) -> None:
    response = await client.get(path)
    assert response.status == 200
    assert response.content_type == kind
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/dashboard/other.js", "/dashboard/index.html", "/dashboard/..%2fservice.py"]
)
async def test_nothing_else_is_served_under_the_page(client: Any, path: str) -> None:
    response = await client.get(path)
    assert response.status == 404


def test_the_page_has_no_inline_script_or_style_and_loads_nothing_external() -> None:
    html = STATIC.joinpath("index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)
    assert scripts == [""]
    assert "<style" not in html
    assert " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    assert not re.search(r"(src|href)=\"(https?:)?//", html)


def test_the_script_never_parses_server_text_as_html() -> None:
    script = STATIC.joinpath("dashboard.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    assert "localStorage" not in script  # the token lives in sessionStorage only
