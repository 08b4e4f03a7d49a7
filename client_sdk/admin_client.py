"""The operator's client: manage relying apps, enroll and revoke devices, list challenges.

Authenticates with the admin token.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from .models import Challenge, Enrollment
from .transport import DEFAULT_TIMEOUT_SECONDS, ServiceClient, path


class AdminClient(ServiceClient):
    """Client for an operator, authenticated by the admin token.

    Use as ``async with AdminClient(url, admin_token) as admin: ...``.
    """

    def __init__(
        self,
        base_url: str,
        admin_token: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        """Set up the client; no connection is made yet.

        Args:
            base_url: The service's base URL.
            admin_token: The operator's admin token.
            session: An aiohttp session to use instead of creating one.
            timeout: Default seconds allowed for each request.

        Raises:
            ValueError: If ``base_url`` is not a usable http(s) URL.
        """
        super().__init__(base_url, credential=admin_token, session=session, timeout=timeout)

    async def create_app(self, name: str) -> dict[str, Any]:
        """Register a relying app.

        Args:
            name: The app's name, shown on devices.

        Returns:
            ``{"app_id", "name", "api_key", "webhook_secret"}``; the secrets are shown only once.

        Raises:
            PushApprovalError: If the service refuses the request.
        """
        data = await self._request("POST", "/v1/admin/apps", body={"name": name})
        return self._build(_object, data, 201)

    async def list_apps(self) -> list[dict[str, Any]]:
        """List the registered apps.

        Returns:
            ``[{"app_id", "name", "created_at"}, ...]`` (no secrets).

        Raises:
            PushApprovalError: If the service refuses the request.
        """
        data = await self._request("GET", "/v1/admin/apps")
        return [self._build(_object, item) for item in self._items(data, "apps")]

    async def delete_app(self, app_id: str) -> None:
        """Delete an app; its API key stops working at once.

        Args:
            app_id: The app's id.

        Raises:
            PushApprovalError: ``not_found`` (404) for an unknown app.
        """
        await self._request("DELETE", path("v1", "admin", "apps", app_id))

    async def create_enrollment(self, user_id: str, app_ids: list[str] | None = None) -> Enrollment:
        """Start enrolling a device for a user.

        Args:
            user_id: The user whose device is enrolled.
            app_ids: Apps whose challenges the device may answer; None for every app.

        Returns:
            The enrollment; show its ``uri`` as a QR code.

        Raises:
            PushApprovalError: If the service refuses the request.
        """
        body: dict[str, Any] = {"user_id": user_id}
        if app_ids is not None:
            body["app_ids"] = app_ids
        data = await self._request("POST", "/v1/enrollments", body=body)
        return self._build(Enrollment.from_json, data, 201)

    async def list_devices(self, user_id: str) -> list[dict[str, Any]]:
        """List a user's devices.

        Args:
            user_id: The user.

        Returns:
            ``[{"device_id", "name", "created_at", "last_seen_at", "connected"}, ...]``.

        Raises:
            PushApprovalError: If the service refuses the request.
        """
        data = await self._request("GET", path("v1", "admin", "users", user_id, "devices"))
        return [self._build(_object, item) for item in self._items(data, "devices")]

    async def revoke_device(self, device_id: str) -> None:
        """Revoke a device: its connections close and its tokens are refused.

        Args:
            device_id: The device's id.

        Raises:
            PushApprovalError: ``not_found`` (404) for an unknown device.
        """
        await self._request("DELETE", path("v1", "admin", "devices", device_id))

    async def list_challenges(
        self,
        status: str | None = None,
        app_id: str | None = None,
        user_id: str | None = None,
    ) -> list[Challenge]:
        """List challenges, optionally filtered.

        Args:
            status: Only challenges in this status (e.g. ``"pending"``).
            app_id: Only this app's challenges.
            user_id: Only this user's challenges.

        Returns:
            The challenges (operator views never carry a match number).

        Raises:
            PushApprovalError: If the service refuses the request.
        """
        filters = {"status": status, "app_id": app_id, "user_id": user_id}
        params = {name: value for name, value in filters.items() if value is not None}
        data = await self._request("GET", "/v1/admin/challenges", params=params or None)
        return [self._build(Challenge.from_json, item) for item in self._items(data, "challenges")]


def _object(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data
