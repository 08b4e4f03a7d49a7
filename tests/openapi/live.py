"""The real service on a free loopback port, run on an event loop in a thread of its own, and
the credentials of its three roles, made over HTTP: for tests whose client is synchronous."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from typing import Any

import requests
from aiohttp import web

from push_service.app import create_app
from push_service.config import Settings
from tests.conftest import ADMIN, make_settings
from tests.phone import Phone

TIMEOUT = 10.0


class LiveService:
    """`with LiveService(**env) as live:` serves on `live.base_url` until the block ends."""

    def __init__(self, **env: str) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        port = self._sock.getsockname()[1]
        self.settings: Settings = make_settings(PUSH_PORT=str(port), **env)
        self.base_url = self.settings.base_url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="live-service")
        self._runner = web.AppRunner(create_app(self.settings))

    def __enter__(self) -> LiveService:
        self._thread.start()
        self._run(self._runner.setup())
        self._run(web.SockSite(self._runner, self._sock).start())
        return self

    def __exit__(self, *_: object) -> None:
        self._run(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(TIMEOUT)
        self._loop.close()

    def _run(self, work: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(TIMEOUT)


class Roles:
    """An operator, one app, and a phone of user `alice` enrolled through that app."""

    def __init__(self, base_url: str, http: requests.Session) -> None:
        self.base_url = base_url
        self.http = http
        self.app: dict[str, Any] = {}
        self.phone = Phone()

    def provision(self) -> None:
        self.app = self.new_app()
        self.phone = self.enroll("alice")

    def new_app(self, name: str = "Fuzzed") -> dict[str, Any]:
        made = self._post("/v1/admin/apps", {"name": name}, ADMIN, 201)
        made["headers"] = {"Authorization": f"Bearer {made['api_key']}"}
        return made

    def enroll(self, user_id: str) -> Phone:
        code = self._post("/v1/enrollments", {"user_id": user_id}, self.app["headers"], 201)["code"]
        phone = Phone(user_id=user_id)
        body = {"code": code, "public_key": phone.jwk, "name": "fuzz", "proof": phone.proof(code)}
        phone.device_id = self._post("/v1/devices", body, {}, 201)["device_id"]
        return phone

    def headers(self, scheme: str, *, throwaway: bool = False) -> dict[str, str]:
        """The Authorization header for a security scheme of the description."""
        if scheme == "adminToken":
            return dict(ADMIN)
        if scheme == "apiKey":
            return dict(self.app["headers"])
        phone = self.enroll("mallory") if throwaway else self.phone
        return phone.bearer()

    def _post(self, path: str, body: Any, headers: dict[str, str], status: int) -> Any:
        response = self.http.post(self.base_url + path, json=body, headers=headers, timeout=TIMEOUT)
        assert response.status_code == status, response.text
        return response.json()
