"""Device enrollment: parsing the ``pushapproval://enroll`` URI and registering a new key.

The URI (usually from a QR code) carries the single-use code, the service URL and its issuer.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import aiohttp

from .errors import EnrollmentURIError
from .keys import DeviceKey
from .models import EnrolledDevice
from .tokens import enrollment_proof
from .transport import ServiceClient, normalize_base_url

URI_SCHEME = "pushapproval"
URI_HOST = "enroll"
_REQUIRED = ("code", "url", "issuer")


@dataclass(frozen=True)
class EnrollmentURI:
    """The parts of an enrollment URI."""

    code: str
    url: str
    issuer: str

    @property
    def insecure(self) -> bool:
        """True when the service URL is plain http to a host other than loopback."""
        parts = urlsplit(self.url)
        if parts.scheme == "https":
            return False
        host = parts.hostname or ""
        if host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return True


def parse_enrollment_uri(uri: str) -> EnrollmentURI:
    """Parse and check an enrollment URI.

    Args:
        uri: ``pushapproval://enroll?code=...&url=...&issuer=...``.

    Returns:
        The code, the service's base URL and its issuer. Unknown parameters are ignored.

    Raises:
        EnrollmentURIError: If the scheme or host is wrong, a parameter is missing, empty or
            repeated, or ``url`` is not an http(s) URL.
    """
    text = uri.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        raise EnrollmentURIError("The enrollment URI is malformed.") from None
    if parts.scheme.lower() != URI_SCHEME:
        raise EnrollmentURIError(
            f"Not an enrollment URI: it must start with '{URI_SCHEME}://{URI_HOST}?'."
        )
    if parts.netloc.lower() != URI_HOST or parts.path not in ("", "/"):
        raise EnrollmentURIError(
            f"Not an enrollment URI: expected '{URI_SCHEME}://{URI_HOST}?...', "
            f"found host {parts.netloc!r} and path {parts.path!r}."
        )
    if parts.fragment:
        raise EnrollmentURIError("The enrollment URI must not have a fragment.")
    values: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in values:
            raise EnrollmentURIError(f"The enrollment URI repeats the parameter {name!r}.")
        values[name] = value
    missing = [name for name in _REQUIRED if not values.get(name, "").strip()]
    if missing:
        raise EnrollmentURIError(
            f"The enrollment URI lacks the parameter(s): {', '.join(missing)}."
        )
    try:
        url = normalize_base_url(values["url"])
    except ValueError:
        raise EnrollmentURIError(
            f"The enrollment URI's url {values['url']!r} is not an http(s) URL."
        ) from None
    return EnrollmentURI(code=values["code"], url=url, issuer=values["issuer"])


async def enroll_device(
    enrollment: EnrollmentURI,
    key: DeviceKey,
    name: str,
    *,
    session: aiohttp.ClientSession | None = None,
) -> EnrolledDevice:
    """Register a new device key with the service, using a single-use enrollment code.

    Args:
        enrollment: The parsed enrollment URI.
        key: The device's new key; only its public half is sent, with a proof of possession.
        name: A name for the device, shown to operators (e.g. ``"Alice's phone"``).
        session: An aiohttp session to use instead of creating one.

    Returns:
        The device id, user id and issuer the service assigned.

    Raises:
        PushApprovalError: ``invalid_enrollment`` (unknown, used or expired code),
            ``invalid_proof`` or ``invalid_key`` (400), or a connection failure.
    """
    async with _EnrollmentClient(enrollment.url, session=session) as client:
        return await client.register(enrollment.code, key, name)


class _EnrollmentClient(ServiceClient):
    """Unauthenticated client for ``POST /v1/devices`` (the code is the credential)."""

    async def register(self, code: str, key: DeviceKey, name: str) -> EnrolledDevice:
        body = {
            "code": code,
            "public_key": key.public_jwk(),
            "name": name,
            "proof": enrollment_proof(key, code),
        }
        data = await self._request("POST", "/v1/devices", body=body)
        return self._build(EnrolledDevice.from_json, data, 201)
