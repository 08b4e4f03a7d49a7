"""The HTTP plumbing shared by the SDK's clients: one base URL, one session, error mapping.

Non-2xx answers become `PushApprovalError` with the contract's error code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp

from .errors import CONNECTION_ERROR, INVALID_RESPONSE, PushApprovalError

DEFAULT_TIMEOUT_SECONDS = 30.0
USER_AGENT = "push-approval-python-sdk/0.1"

T = TypeVar("T")


def normalize_base_url(base_url: str) -> str:
    """Check and normalize a service base URL.

    Args:
        base_url: An ``http://`` or ``https://`` URL, optionally with a path prefix.

    Returns:
        The URL without a trailing slash.

    Raises:
        ValueError: If the URL is not http(s), has no host, or carries a query or fragment.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{base_url!r} is not an http(s) URL of the push approval service")
    if parts.query or parts.fragment:
        raise ValueError(f"{base_url!r} must not have a query or fragment")
    return base_url.rstrip("/")


def path(*segments: str) -> str:
    """Build a URL path from segments, percent-encoding each (ids are opaque strings).

    Args:
        segments: Literal path parts and ids, e.g. ``("v1", "challenges", challenge_id)``.

    Returns:
        The path, starting with ``/``.
    """
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


class ServiceClient:
    """Base of the SDK's HTTP clients; use it as an async context manager.

    It sends JSON, maps errors to `PushApprovalError`, and closes the aiohttp session it
    created (a session passed in is left open for its owner).
    """

    def __init__(
        self,
        base_url: str,
        *,
        credential: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        """Set up the client; no connection is made yet.

        Args:
            base_url: The service's base URL, e.g. ``https://push.example.com``.
            credential: Bearer credential sent with every request (API key or admin token).
            session: An aiohttp session to use instead of creating one.
            timeout: Default seconds allowed for each request.

        Raises:
            ValueError: If ``base_url`` is not a usable http(s) URL.
        """
        self._base_url = normalize_base_url(base_url)
        self._credential = credential
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout

    @property
    def base_url(self) -> str:
        """The service's base URL, without a trailing slash."""
        return self._base_url

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def discovery(self) -> dict[str, Any]:
        """Fetch the service's discovery document.

        Returns:
            The ``/.well-known/push-approval`` object (``issuer``, ``version``, ...).

        Raises:
            PushApprovalError: If the service cannot be reached or answers with an error.
        """
        data = await self._request("GET", "/.well-known/push-approval")
        if not isinstance(data, dict) or not isinstance(data.get("issuer"), str):
            raise PushApprovalError(
                INVALID_RESPONSE, "The discovery document has no issuer.", status=200
            )
        return data

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
            self._owns_session = True
        return self._session

    async def _request(
        self,
        method: str,
        url_path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        bearer: str | None = None,
        headers: Mapping[str, str] | None = None,
        request_timeout: float | None = None,
    ) -> Any:
        """Send one request and return its decoded JSON body (None when it has none).

        Raises:
            PushApprovalError: On a non-2xx answer, a malformed body, or a transport failure.
        """
        request_headers = {"Accept": "application/json", **(headers or {})}
        token = bearer if bearer is not None else self._credential
        if token is not None:
            request_headers["Authorization"] = f"Bearer {token}"
        url = self._base_url + url_path
        try:
            async with self._get_session().request(
                method,
                url,
                json=dict(body) if body is not None else None,
                params=params,
                headers=request_headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=request_timeout or self._timeout),
            ) as response:
                raw = await response.read()
                status, answer_headers = response.status, response.headers
        except (TimeoutError, aiohttp.ClientError) as exc:
            detail = str(exc) or type(exc).__name__
            raise PushApprovalError(
                CONNECTION_ERROR, f"Cannot reach the service at {self._base_url}: {detail}."
            ) from exc
        data = _decode(raw)
        if not 200 <= status < 300:
            error_body = None if data is _NOT_JSON else data
            raise PushApprovalError.from_response(status, error_body, answer_headers)
        if data is _NOT_JSON:
            raise PushApprovalError(
                INVALID_RESPONSE, "The service's answer is not JSON.", status=status
            )
        return data

    @staticmethod
    def _build(build: Callable[[object], T], data: object, status: int = 200) -> T:
        """Turn a decoded body into a model, mapping shape errors to `PushApprovalError`."""
        try:
            return build(data)
        except ValueError as exc:
            raise PushApprovalError(
                INVALID_RESPONSE, f"Unexpected answer from the service: {exc}.", status=status
            ) from None

    @staticmethod
    def _items(data: Any, member: str) -> list[Any]:
        """Return the list under ``member`` of an answer object (e.g. ``{"challenges": []}``)."""
        items = data.get(member) if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise PushApprovalError(
                INVALID_RESPONSE, f"The service's answer has no {member!r} list.", status=200
            )
        return items


_NOT_JSON: Any = object()


def _decode(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return _NOT_JSON
