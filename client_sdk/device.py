"""The device's HTTP client: enroll, list pending challenges, answer them, rotate or revoke.

Every request carries a fresh short-lived device token signed with the device's key.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import aiohttp

from .enroll import enroll_device, parse_enrollment_uri
from .errors import KeyFileError, PushApprovalError
from .events import Result
from .keyfile import KeyFile
from .keys import DeviceKey
from .models import DeviceChallenge
from .tokens import Decision, device_token, response_token, rotation_proof
from .transport import DEFAULT_TIMEOUT_SECONDS, ServiceClient, path

ROTATION_SUFFIX = ".rotating"


class DeviceClient(ServiceClient):
    """A device's client, acting with the identity and key of its key file.

    Use as ``async with DeviceClient.load(path) as device: ...``.
    """

    def __init__(
        self,
        key_file: KeyFile,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        """Set up the client for an enrolled device; no connection is made yet.

        Args:
            key_file: The device's identity and key.
            session: An aiohttp session to use instead of creating one.
            timeout: Default seconds allowed for each request.

        Raises:
            ValueError: If the key file's base URL is not a usable http(s) URL.
        """
        super().__init__(key_file.base_url, session=session, timeout=timeout)
        self._key_file = key_file

    @classmethod
    def load(
        cls, key_path: str | os.PathLike[str], *, session: aiohttp.ClientSession | None = None
    ) -> DeviceClient:
        """Create the client from a key file.

        Args:
            key_path: The key file's path.
            session: An aiohttp session to use instead of creating one.

        Returns:
            The client.

        Raises:
            KeyFileError: If the key file is missing, malformed or not private.
        """
        key_file = KeyFile.load(key_path)
        try:
            return cls(key_file, session=session)
        except ValueError as exc:
            raise KeyFileError(f"Key file {key_file.path}: {exc}.") from None

    @classmethod
    async def enroll_from_uri(
        cls,
        uri: str,
        name: str,
        key_path: str | os.PathLike[str],
        *,
        session: aiohttp.ClientSession | None = None,
        overwrite: bool = False,
    ) -> DeviceClient:
        """Enroll this device with an enrollment URI and save its new key file.

        A new key pair is made here; only the public key leaves the device.

        Args:
            uri: The ``pushapproval://enroll?...`` URI (from the QR code).
            name: A name for this device.
            key_path: Where to save the key file (mode 0600).
            session: An aiohttp session to use instead of creating one.
            overwrite: Replace an existing key file (its enrollment is then lost here).

        Returns:
            The client for the enrolled device.

        Raises:
            EnrollmentURIError: If the URI is not a valid enrollment URI.
            KeyFileError: If a key file exists and ``overwrite`` is false, or it cannot be
                written.
            PushApprovalError: If the service refuses the enrollment (e.g.
                ``invalid_enrollment``) or cannot be reached.
        """
        enrollment = parse_enrollment_uri(uri)
        target = _free_key_path(key_path, overwrite)
        key = DeviceKey.generate()
        enrolled = await enroll_device(enrollment, key, name, session=session)
        key_file = KeyFile(
            path=target,
            device_id=enrolled.device_id,
            user_id=enrolled.user_id,
            issuer=enrolled.issuer,
            base_url=enrollment.url,
            key=key,
            name=name,
        )
        key_file.save()
        return cls(key_file, session=session)

    @property
    def key_file(self) -> KeyFile:
        """The device's identity and current key."""
        return self._key_file

    @property
    def device_id(self) -> str:
        """The device's id."""
        return self._key_file.device_id

    @property
    def user_id(self) -> str:
        """The id of the user this device belongs to."""
        return self._key_file.user_id

    def token(self, **extra: Any) -> str:
        """Sign a fresh device token with the current key.

        Args:
            extra: Additional claims (e.g. ``nonce`` for the stream).

        Returns:
            The compact JWS.
        """
        kf = self._key_file
        return device_token(kf.key, kf.device_id, kf.issuer, extra=extra)

    def response_token(
        self,
        challenge: DeviceChallenge,
        decision: Decision,
        number: str | None = None,
        fraud: bool = False,
    ) -> str:
        """Sign a response to a challenge.

        Args:
            challenge: The challenge answered.
            decision: ``"approve"`` or ``"deny"``.
            number: The match number the user typed, when number matching is on.
            fraud: With ``"deny"``: the user did not start this login.

        Returns:
            The compact JWS.

        Raises:
            ValueError: If the decision is unknown, ``number`` is not digits, or ``fraud``
                comes with ``"approve"``.
        """
        kf = self._key_file
        return response_token(
            kf.key,
            kf.device_id,
            kf.issuer,
            challenge_id=challenge.challenge_id,
            nonce=challenge.nonce,
            decision=decision,
            number=number,
            fraud=fraud,
        )

    async def pending(self) -> list[DeviceChallenge]:
        """List the pending challenges of this device's user (polling).

        Returns:
            The pending challenges.

        Raises:
            PushApprovalError: ``invalid_token`` (401) if the device is unknown or revoked.
        """
        data = await self._request("GET", "/v1/devices/me/challenges", bearer=self.token())
        items = self._items(data, "challenges")
        return [self._build(DeviceChallenge.from_json, item) for item in items]

    async def respond(
        self,
        challenge: DeviceChallenge,
        decision: Decision,
        number: str | None = None,
        fraud: bool = False,
    ) -> Result:
        """Answer a challenge over HTTP.

        Args:
            challenge: The challenge answered.
            decision: ``"approve"`` or ``"deny"``.
            number: The match number the user typed, when number matching is on.
            fraud: With ``"deny"``: the user did not start this login.

        Returns:
            The status the answer produced (``approved`` or ``denied``).

        Raises:
            ValueError: If the arguments do not form a valid response.
            PushApprovalError: ``challenge_not_pending`` (409), ``not_found`` (404),
                ``forbidden`` (403), ``invalid_token`` (401), ``invalid_request`` (400).
        """
        token = self.response_token(challenge, decision, number, fraud)
        data = await self._request(
            "POST",
            path("v1", "challenges", challenge.challenge_id, "response"),
            body={"token": token},
        )
        return self._build(Result.from_json, data)

    async def approve(self, challenge: DeviceChallenge, number: str | None = None) -> Result:
        """Approve a challenge; see `respond`.

        Args:
            challenge: The challenge.
            number: The match number shown on the login screen (needed with number matching).
        """
        return await self.respond(challenge, "approve", number)

    async def deny(self, challenge: DeviceChallenge) -> Result:
        """Deny a challenge; see `respond`.

        Args:
            challenge: The challenge.
        """
        return await self.respond(challenge, "deny")

    async def report_fraud(self, challenge: DeviceChallenge) -> Result:
        """Deny a challenge and report that the user did not start this login; see `respond`.

        Args:
            challenge: The challenge.
        """
        return await self.respond(challenge, "deny", fraud=True)

    async def rotate_key(self) -> None:
        """Replace the device's key with a new one, and save it to the key file.

        The new key is first saved next to the key file (``<key file>.rotating``, mode 0600),
        so that it is not lost if the service accepts it but the answer never arrives; after
        the service's 200 it atomically replaces the key file.

        Raises:
            KeyFileError: If an earlier rotation did not finish, or a file cannot be written.
            PushApprovalError: If the service refuses (the old key then stays valid) or
                cannot be reached (the outcome is then unknown; the error says what to do).
        """
        current = self._key_file
        pending_path = current.path.with_name(current.path.name + ROTATION_SUFFIX)
        if pending_path.exists():
            raise KeyFileError(
                f"An earlier key rotation did not finish: {pending_path} holds a key the "
                f"service may have accepted. If this device is now refused, move it over "
                f"{current.path}; otherwise delete it."
            )
        new_key = DeviceKey.generate()
        updated = current.with_key(new_key)
        updated.save(pending_path)
        body = {
            "public_key": new_key.public_jwk(),
            "proof": rotation_proof(new_key, current.device_id),
        }
        try:
            await self._request("POST", "/v1/devices/me/key", body=body, bearer=self.token())
        except PushApprovalError as exc:
            if exc.status is None:
                raise PushApprovalError(
                    exc.code,
                    f"{exc.message} The service may or may not have switched to the new key, "
                    f"which is kept in {pending_path}; if this device is now refused, move "
                    f"that file over {current.path}.",
                ) from exc
            with contextlib.suppress(OSError):
                pending_path.unlink()
            raise
        try:
            os.replace(pending_path, current.path)
        except OSError as exc:
            raise KeyFileError(
                f"The service switched to the new key, but moving {pending_path} over "
                f"{current.path} failed ({exc.strerror}); move it by hand."
            ) from None
        self._key_file = updated

    async def revoke(self) -> None:
        """Revoke this device at the service; its key is refused from then on.

        The key file is left in place; it is useless afterwards.

        Raises:
            PushApprovalError: ``invalid_token`` (401) if the device is unknown or already
                revoked.
        """
        await self._request("DELETE", "/v1/devices/me", bearer=self.token())


def _free_key_path(key_path: str | os.PathLike[str], overwrite: bool) -> Path:
    target = Path(key_path).expanduser()
    if target.exists() and not overwrite:
        raise KeyFileError(
            f"A key file already exists at {target}; choose another path or remove it."
        )
    return target
