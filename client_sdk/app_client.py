"""The relying app's client: create challenges, wait for the user's answer, enroll users.

Authenticates with the app's API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from .errors import PushApprovalError
from .models import Challenge, Enrollment
from .transport import DEFAULT_TIMEOUT_SECONDS, ServiceClient, path

MAX_WAIT_SECONDS = 60
# Polls that come back early while the challenge is pending are spaced at least this far apart.
MIN_POLL_INTERVAL_SECONDS = 1.0
# Extra time allowed for a long-poll answer beyond the wait the service was asked for.
_LONG_POLL_MARGIN_SECONDS = 15.0
# How long past a challenge's expiry `request_approval` keeps waiting for the service to end it.
_EXPIRY_GRACE_SECONDS = 10.0

OnCreated = Callable[[Challenge], Awaitable[None] | None]


class AppClient(ServiceClient):
    """Client for a relying app, authenticated by its API key.

    Use as ``async with AppClient(url, api_key) as app: ...``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        """Set up the client; no connection is made yet.

        Args:
            base_url: The service's base URL, e.g. ``https://push.example.com``.
            api_key: The app's API key.
            session: An aiohttp session to use instead of creating one.
            timeout: Default seconds allowed for each request.

        Raises:
            ValueError: If ``base_url`` is not a usable http(s) URL.
        """
        super().__init__(base_url, credential=api_key, session=session, timeout=timeout)

    async def create_challenge(
        self,
        user_id: str,
        *,
        context: dict[str, str] | None = None,
        ttl_seconds: int | None = None,
        number_matching: bool | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Challenge:
        """Ask the user's devices to approve something.

        Args:
            user_id: The user to ask.
            context: What to show on the device (e.g. ``{"action": "Sign in", "ip": ...}``).
            ttl_seconds: Seconds the challenge stays answerable (service default 60).
            number_matching: Whether the user must type the match number (service default on).
            callback_url: HTTPS URL to receive the signed end-of-challenge callback.
            idempotency_key: Makes retries of the same creation return the same challenge.

        Returns:
            The new challenge; show its ``match_number`` on the login screen.

        Raises:
            PushApprovalError: E.g. ``no_devices`` (422), ``too_many_pending`` or
                ``rate_limited`` (429, see ``retry_after``), ``invalid_request`` (400).
        """
        body: dict[str, Any] = {"user_id": user_id}
        if context is not None:
            body["context"] = context
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        if number_matching is not None:
            body["number_matching"] = number_matching
        if callback_url is not None:
            body["callback_url"] = callback_url
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        data = await self._request("POST", "/v1/challenges", body=body, headers=headers)
        return self._build(Challenge.from_json, data, 201)

    async def get_challenge(self, challenge_id: str, *, wait: int | None = None) -> Challenge:
        """Fetch a challenge, optionally waiting for it to end.

        Args:
            challenge_id: The challenge's id.
            wait: Seconds (1 to 60) the service may hold the answer while the challenge is
                pending; None answers at once.

        Returns:
            The challenge.

        Raises:
            ValueError: If ``wait`` is out of range.
            PushApprovalError: ``not_found`` (404) for an unknown or another app's challenge.
        """
        params = None
        timeout = None
        if wait is not None:
            if not 1 <= wait <= MAX_WAIT_SECONDS:
                raise ValueError(f"wait must be 1 to {MAX_WAIT_SECONDS} seconds")
            params = {"wait": str(wait)}
            timeout = wait + _LONG_POLL_MARGIN_SECONDS
        data = await self._request(
            "GET", path("v1", "challenges", challenge_id), params=params, request_timeout=timeout
        )
        return self._build(Challenge.from_json, data)

    # The timeout is a budget across several long polls, not one awaited operation.
    async def wait(self, challenge_id: str, *, timeout: float) -> Challenge:  # noqa: ASYNC109
        """Wait until a challenge is no longer pending, or until ``timeout`` runs out.

        Long-polls ``GET /v1/challenges/{id}?wait=N`` (N at most 60, and never beyond the
        time left) as often as needed, at most about once per second.

        Args:
            challenge_id: The challenge's id.
            timeout: Seconds to wait at most (one poll is always made, at once when the
                timeout is under a second).

        Returns:
            The last challenge seen: terminal, or still pending when time ran out.

        Raises:
            PushApprovalError: If the service answers with an error or cannot be reached.
        """
        deadline = time.monotonic() + timeout
        while True:
            started = time.monotonic()
            wait = min(MAX_WAIT_SECONDS, int(deadline - started))
            challenge = await self.get_challenge(challenge_id, wait=wait if wait >= 1 else None)
            now = time.monotonic()
            if not challenge.is_pending or now >= deadline:
                return challenge
            # An answer that came back early while pending (e.g. a proxy's): pace the polls.
            pause = min(deadline - now, MIN_POLL_INTERVAL_SECONDS - (now - started))
            if pause > 0:
                await asyncio.sleep(pause)
            if time.monotonic() >= deadline:
                return challenge

    async def cancel(self, challenge_id: str) -> Challenge:
        """Cancel a pending challenge.

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

    async def request_approval(
        self,
        user_id: str,
        *,
        on_created: OnCreated | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (a budget for several long polls)
        context: dict[str, str] | None = None,
        ttl_seconds: int | None = None,
        number_matching: bool | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Challenge:
        """Create a challenge and wait for its outcome.

        If the wait ends (timeout, error, cancellation of the calling task) while the
        challenge is still pending, it is cancelled, so that a late approval cannot count for
        a login nobody waits for any more.

        Args:
            user_id: The user to ask.
            on_created: Called (or awaited) with the new challenge, e.g. to show its
                ``match_number`` on the login screen.
            timeout: Seconds to wait at most; None waits until the challenge ends (it expires
                after its ``ttl_seconds``).
            context: See `create_challenge`.
            ttl_seconds: See `create_challenge`.
            number_matching: See `create_challenge`.
            callback_url: See `create_challenge`.
            idempotency_key: See `create_challenge`.

        Returns:
            The final challenge; check ``approved`` (or ``status`` and ``reason``).

        Raises:
            PushApprovalError: If creation is refused or the service fails while waiting.
        """
        challenge = await self.create_challenge(
            user_id,
            context=context,
            ttl_seconds=ttl_seconds,
            number_matching=number_matching,
            callback_url=callback_url,
            idempotency_key=idempotency_key,
        )
        try:
            if on_created is not None:
                outcome = on_created(challenge)
                if inspect.isawaitable(outcome):
                    await outcome
            if not challenge.is_pending:
                return challenge
            if timeout is None:
                left = (challenge.expires_at - datetime.now(UTC)).total_seconds()
                timeout = max(1.0, left + _EXPIRY_GRACE_SECONDS)
            final = await self.wait(challenge.challenge_id, timeout=timeout)
        except BaseException:
            await asyncio.shield(self._cancel_quietly(challenge.challenge_id))
            raise
        if final.is_pending:
            return await self._cancel_or_fetch(challenge.challenge_id)
        return final

    async def _cancel_or_fetch(self, challenge_id: str) -> Challenge:
        try:
            return await self.cancel(challenge_id)
        except PushApprovalError as exc:
            if exc.code != "challenge_not_pending":
                raise
            return await self.get_challenge(challenge_id)

    async def _cancel_quietly(self, challenge_id: str) -> None:
        with contextlib.suppress(PushApprovalError):
            await self.cancel(challenge_id)

    async def create_enrollment(self, user_id: str) -> Enrollment:
        """Start enrolling a device for a user of this app.

        The device will answer only this app's challenges.

        Args:
            user_id: The user whose device is enrolled.

        Returns:
            The enrollment; show its ``uri`` as a QR code (the code is single-use and expires).

        Raises:
            PushApprovalError: If the service refuses the request.
        """
        data = await self._request("POST", "/v1/enrollments", body={"user_id": user_id})
        return self._build(Enrollment.from_json, data, 201)
