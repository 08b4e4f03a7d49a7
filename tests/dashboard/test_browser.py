"""The dashboard in a real headless Chromium against the service on a loopback port: sign in,
then watch challenges and devices change live, and act on them from the page."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import (
    Browser,
    Dialog,
    Locator,
    Page,
    Request,
    async_playwright,
    expect,
)

from push_service.app import create_app
from tests.conftest import ADMIN, ADMIN_TOKEN, World, make_settings
from tests.dashboard.conftest import answer, close_code, connect_phone
from tests.phone import Phone

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
"""Rewritten only with UPDATE_SCREENSHOT=1, so a test run leaves the work tree as it was."""
HOSTILE = '<img src=x onerror="document.title=1">'
LONG = "a-very-long-user-agent-string-without-any-space-" * 5


@pytest.fixture
async def served(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> TestServer:
    return await aiohttp_server(create_app(make_settings()))


@pytest.fixture
async def world(served: TestServer, aiohttp_client: Callable[..., Awaitable[Any]]) -> World:
    return World(await aiohttp_client(served))


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test-prerequisites")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, world: World) -> AsyncIterator[Page]:
    """A laptop-sized tab, closed before the server stops (its feed would hold shutdown)."""
    opened = await browser.new_page(viewport={"width": 1280, "height": 800})
    yield opened
    await opened.close()


class Watch:
    """What the page did that it must not: errors, CSP refusals, requests after sign-in."""

    def __init__(self, page: Page) -> None:
        self.problems: list[str] = []
        self.requests: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        page.on("request", self._request)

    def _request(self, request: Request) -> None:
        self.requests.append(f"{request.method} {request.url}")


def accept(dialog: Dialog) -> Awaitable[None]:
    return dialog.accept()


def row(page: Page, section: str, item_id: str) -> Locator:
    return page.locator(f'#{section} li[data-id="{item_id}"]')


async def sign_in(page: Page, token: str) -> None:
    await page.get_by_label("Admin token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def test_the_dashboard_follows_challenges_and_devices_live(
    page: Page, served: TestServer, world: World, tmp_path: Path
) -> None:
    watch = Watch(page)
    page.on("dialog", accept)
    await page.goto(str(served.make_url("/dashboard")))
    await sign_in(page, "not-the-admin-token")
    await expect(page.locator("#sign-in-error")).to_have_text("The admin token was refused.")
    await sign_in(page, ADMIN_TOKEN)
    await expect(page.locator("#status")).to_have_text("live")
    await page.evaluate("window.sameDocument = true")  # gone if the page ever reloads
    loaded = len(watch.requests)

    intranet, vpn = await world.new_app("Intranet"), await world.new_app("Payroll VPN")
    alice = await world.enroll("alice", intranet)
    await approved_moves_to_recent(page, world, intranet, alice)
    await cancelled_from_the_page(page, world, intranet)
    await fraud_stands_out(page, world, vpn, await world.enroll("bob", vpn))
    await world.enroll("carol")
    await world.challenge(intranet, "carol", context={"browser": LONG, "ip": "198.51.100.23"})
    stream = await connect_phone(world, alice)
    device = row(page, "devices", alice.device_id)
    await expect(device).to_contain_text("pixel")
    rate = page.locator(f'#rates li[data-app="{intranet["app_id"]}"] .per-minute')
    await expect(rate).to_have_text("3")
    shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / "shot.png"
    await page.screenshot(path=str(shot))  # the page as an operator sees it
    await revoked_from_the_page(device, stream)
    await fits_a_phone(page)

    assert await page.evaluate("window.sameDocument") is True
    after = watch.requests[loaded:]
    assert [r.split()[0] for r in after] == ["DELETE", "DELETE"], after  # actions; no polling
    assert watch.problems == []
    await signing_out_forgets_the_token(page, watch)


async def approved_moves_to_recent(
    page: Page, world: World, app: dict[str, Any], phone: Phone
) -> None:
    """A new challenge appears with its hostile context as text; approved, it moves."""
    made = await world.challenge(app, "alice", context={"browser": HOSTILE, "ip": "::1"})
    pending = row(page, "pending", made["challenge_id"])
    await expect(pending).to_contain_text("Intranet")
    await expect(pending.locator(".kv .v").first).to_have_text(HOSTILE)
    await expect(pending.locator(".countdown")).to_have_text(re.compile(r"expires in \d:\d\d"))
    assert await page.locator("img").count() == 0
    assert await answer(world, phone, made) == "approved"
    await expect(row(page, "recent", made["challenge_id"])).to_have_attribute(
        "data-status", "approved"
    )
    await expect(pending).to_have_count(0)


async def cancelled_from_the_page(page: Page, world: World, app: dict[str, Any]) -> None:
    made = await world.challenge(app, "alice", context={"action": "Delete account"})
    await row(page, "pending", made["challenge_id"]).get_by_role("button", name="Cancel").click()
    await expect(row(page, "recent", made["challenge_id"])).to_have_attribute(
        "data-status", "cancelled"
    )
    check = await world.client.get(f"/v1/challenges/{made['challenge_id']}", headers=ADMIN)
    assert (await check.json())["status"] == "cancelled"


async def fraud_stands_out(page: Page, world: World, app: dict[str, Any], phone: Phone) -> None:
    made = await world.challenge(app, "bob", context={"location": "Unknown"})
    assert await answer(world, phone, made, decision="deny", fraud=True) == "denied"
    fraud = row(page, "recent", made["challenge_id"])
    await expect(fraud).to_have_class(re.compile(r"\bfraud\b"))
    await expect(fraud.locator(".fraud-badge")).to_have_text("fraud reported")
    await expect(fraud).to_have_css("background-color", "rgb(253, 232, 230)")
    await expect(page.locator("#fraud-count")).to_have_text("1 fraud report")


async def revoked_from_the_page(device: Locator, stream: aiohttp.ClientWebSocketResponse) -> None:
    """Marked revoked on the page, and the phone's stream is closed."""
    await device.get_by_role("button", name="Revoke").click()
    await expect(device).to_have_class(re.compile(r"\brevoked\b"))
    assert await close_code(stream) == 4403


async def fits_a_phone(page: Page) -> None:
    """At 375 px nothing is wider than the screen, long context values included."""
    await page.set_viewport_size({"width": 375, "height": 800})
    width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width


async def signing_out_forgets_the_token(page: Page, watch: Watch) -> None:
    assert all(ADMIN_TOKEN not in r for r in watch.requests)  # never in a URL
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Admin token")).to_be_visible()
    assert await page.evaluate("sessionStorage.length") == 0
