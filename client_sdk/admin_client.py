"""The operator's client: apps and their webhooks, enrollments and devices, challenges,
users' push-fatigue standing and the audit trail. Authenticates with the admin token.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

from .models import AuditPage, Challenge, Enrollment
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

    async def rotate_webhook_secret(self, app_id: str) -> dict[str, Any]:
        """Give an app a new webhook secret.

        Callbacks are signed with the new secret from now on; the replaced one keeps signing
        alongside it for a grace period (``PUSH_WEBHOOK_SECRET_GRACE``, default 24 h), so
        receivers can switch without losing events.

        Args:
            app_id: The app's id.

        Returns:
            ``{"app_id", "webhook_secret"}``; the secret is shown only once.

        Raises:
            PushApprovalError: ``not_found`` (404) for an unknown app.
        """
        data = await self._request("POST", path("v1", "admin", "apps", app_id, "webhook-secret"))
        return self._build(_object, data)

    async def list_webhooks(
        self, state: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """List webhook deliveries, newest first.

        Args:
            state: Only deliveries in this state: ``pending``, ``failing``, ``dead`` or
                ``delivered``.
            limit: At most this many (1 to 1000; service default 100).

        Returns:
            ``[{"delivery_id", "app_id", "challenge_id", "url", "type", "state", "attempts",
            "created_at", "next_attempt_at", "last_error", "last_status"}, ...]``.

        Raises:
            PushApprovalError: ``invalid_request`` (400) for an unknown state or a bad limit.
        """
        params = _query(state=state, limit=limit)
        data = await self._request("GET", "/v1/admin/webhooks", params=params)
        return [self._build(_object, item) for item in self._items(data, "deliveries")]

    async def redeliver_webhook(self, delivery_id: str) -> dict[str, Any]:
        """Send a delivered or dead webhook again, now, with a fresh retry horizon.

        Args:
            delivery_id: The delivery's id.

        Returns:
            The delivery, back in state ``pending``.

        Raises:
            PushApprovalError: ``not_found`` (404) for an unknown delivery;
                ``invalid_request`` (400) while it is still being retried.
        """
        url_path = path("v1", "admin", "webhooks", delivery_id, "redeliver")
        return self._build(_object, await self._request("POST", url_path))

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
        *,
        limit: int | None = None,
    ) -> list[Challenge]:
        """List challenges, newest first, optionally filtered.

        Args:
            status: Only challenges in this status (e.g. ``"pending"``).
            app_id: Only this app's challenges.
            user_id: Only this user's challenges.
            limit: At most this many (1 to 1000; service default 100).

        Returns:
            The challenges (operator views never carry a match number).

        Raises:
            PushApprovalError: ``invalid_request`` (400) for an unknown status or a bad limit.
        """
        params = _query(status=status, app_id=app_id, user_id=user_id, limit=limit)
        data = await self._request("GET", "/v1/admin/challenges", params=params)
        return [self._build(Challenge.from_json, item) for item in self._items(data, "challenges")]

    async def cancel_challenge(self, challenge_id: str) -> Challenge:
        """Cancel any app's pending challenge (e.g. one a user reports as not theirs).

        Args:
            challenge_id: The challenge's id.

        Returns:
            The challenge, now ``cancelled``.

        Raises:
            PushApprovalError: ``challenge_not_pending`` (409) if it had already ended,
                ``not_found`` (404) for an unknown challenge.
        """
        data = await self._request("DELETE", path("v1", "challenges", challenge_id))
        return self._build(Challenge.from_json, data)

    async def user_standing(self, user_id: str) -> dict[str, Any]:
        """Read a user's push-fatigue standing.

        Args:
            user_id: The user (an unknown user has a clean standing).

        Returns:
            ``{"user_id", "strikes", "pushes_since_approval", "locked", "locked_for_seconds"}``.

        Raises:
            PushApprovalError: If the service refuses the request.
        """
        data = await self._request("GET", path("v1", "admin", "users", user_id))
        return self._build(_object, data)

    async def reset_user(self, user_id: str) -> dict[str, Any]:
        """Lift a user's fraud lock and clear their strikes and push count.

        Args:
            user_id: The user.

        Returns:
            The user's standing after the reset (see `user_standing`).

        Raises:
            PushApprovalError: If the service refuses the request.
        """
        data = await self._request("POST", path("v1", "admin", "users", user_id, "reset"))
        return self._build(_object, data)

    async def audit(
        self,
        *,
        kind: str | None = None,
        app_id: str | None = None,
        user_id: str | None = None,
        device_id: str | None = None,
        before: str | None = None,
        limit: int | None = None,
    ) -> AuditPage:
        """Read one page of the audit trail, newest event first.

        Args:
            kind: Only events of this kind, or of kinds below it (``"device"`` matches
                ``"device.revoked"``).
            app_id: Only events about this app.
            user_id: Only events about this user.
            device_id: Only events about this device.
            before: Only events older than this event id (a page's ``next_before``).
            limit: At most this many events (1 to 1000; service default 100).

        Returns:
            The page; its ``next_before`` is set when older events may follow.

        Raises:
            PushApprovalError: ``invalid_request`` (400) for a bad limit.
        """
        params = _query(
            kind=kind,
            app_id=app_id,
            user_id=user_id,
            device_id=device_id,
            before=before,
            limit=limit,
        )
        data = await self._request("GET", "/v1/admin/audit", params=params)
        return self._build(AuditPage.from_json, data)

    async def audit_events(
        self,
        *,
        kind: str | None = None,
        app_id: str | None = None,
        user_id: str | None = None,
        device_id: str | None = None,
        before: str | None = None,
        page_size: int = 100,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Iterate over the audit trail, newest first, reading further pages as needed.

        Use as ``async for event in admin.audit_events(user_id="alice"): ...`` and stop when you
        have enough; wrap it in ``contextlib.aclosing`` to release it at once when you stop early.

        Args:
            kind: See `audit`.
            app_id: See `audit`.
            user_id: See `audit`.
            device_id: See `audit`.
            before: Start below this event id (None: with the newest event).
            page_size: Events per request (1 to 1000).

        Yields:
            Each event object, as in `AuditPage.events`.

        Raises:
            PushApprovalError: If the service refuses a request.
        """
        cursor = before
        while True:
            page = await self.audit(
                kind=kind,
                app_id=app_id,
                user_id=user_id,
                device_id=device_id,
                before=cursor,
                limit=page_size,
            )
            for event in page.events:
                yield event
            if page.next_before is None or not page.events:
                return
            cursor = page.next_before


def _query(**filters: str | int | None) -> dict[str, str] | None:
    """Query parameters for the filters that are set (None when none is)."""
    params = {name: str(value) for name, value in filters.items() if value is not None}
    return params or None


def _object(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data
