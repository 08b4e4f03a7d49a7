"""Keeps callbacks away from the service's own network (SSRF): which URLs and addresses a webhook
may go to, checked when a challenge is created and again on every connection the sender opens.

It decides and resolves; it never sends. Refusals at creation are PushError(callback_url_rejected).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from ..errors import ErrorCode, PushError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Lookup = Callable[[str, int, int], Awaitable[Sequence[str]]]
"""(host, port, family) -> IP address strings: the system resolver, or a test's stand-in."""

RESOLVE_TIMEOUT = 5.0
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SHARED = ipaddress.ip_network("100.64.0.0/10")
HINT = "callbacks go to public addresses only (PUSH_CALLBACK_ALLOW_PRIVATE=1 lifts this)"

_KINDS: tuple[tuple[str, Callable[[Address], bool]], ...] = (
    ("unspecified", lambda a: a.is_unspecified),
    ("loopback", lambda a: a.is_loopback),
    ("link-local", lambda a: a.is_link_local),
    ("multicast", lambda a: a.is_multicast),
    ("shared (carrier-grade NAT)", lambda a: a in SHARED),
    ("private", lambda a: a.is_private),
    ("reserved", lambda a: a.is_reserved),
    ("site-local", lambda a: isinstance(a, ipaddress.IPv6Address) and a.is_site_local),
)


class AddressRefused(OSError):
    """A host resolved to an address callbacks must not reach (an OSError, as aiohttp expects)."""


def _embedded_v4(address: Address) -> Address:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4), which is where it leads."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour or address


def refusal(address: str) -> str | None:
    """Why callbacks may not go to `address` ("loopback", ...), or None when it is public."""
    target = _embedded_v4(ipaddress.ip_address(address))
    for kind, test in _KINDS:
        if test(target):
            return kind
    return None if target.is_global else "non-public"


def _rejected(message: str) -> PushError:
    return PushError(ErrorCode.CALLBACK_URL_REJECTED, message)


def _literal_ip(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def check_url(url: str, allow_private: bool) -> str:
    """`url` if it may be a callback as written (https, a host, no credentials, and no private IP
    literal); raises PushError(callback_url_rejected) otherwise. Does no I/O."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        raise _rejected("'callback_url' is not a valid URL.") from None
    if parsed.scheme != "https":
        raise _rejected("'callback_url' must be an https URL.")
    if not parsed.host:
        raise _rejected("'callback_url' must name a host.")
    if parsed.user is not None or parsed.password is not None:
        raise _rejected("'callback_url' must not carry a user name or password.")
    literal = _literal_ip(parsed.host)
    kind = refusal(literal) if literal is not None and not allow_private else None
    if kind is not None:
        raise _rejected(f"'callback_url' is a {kind} address; {HINT}.")
    return url


async def system_lookup(host: str, port: int, family: int = 0) -> list[str]:
    """The addresses the system resolver gives for `host`, each once, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, family=family, type=socket.SOCK_STREAM
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def vet(host: str, addresses: Sequence[str], allow_private: bool) -> list[str]:
    """`addresses` when every one of them may be called; one bad address refuses them all, since
    which one a connection would use is not ours to choose. Raises AddressRefused."""
    if not addresses:
        raise AddressRefused(f"{host} resolves to no address")
    for address in addresses:
        kind = None if allow_private else refusal(address)
        if kind is not None:
            raise AddressRefused(f"{host} resolves to {address}, a {kind} address; {HINT}")
    return list(addresses)


async def resolve_public(
    host: str, port: int, allow_private: bool, lookup: Lookup = system_lookup
) -> list[str]:
    """Resolve `host` and vet every address; raises PushError(callback_url_rejected)."""
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            addresses = await lookup(host, port, 0)
        return vet(host, addresses, allow_private)
    except AddressRefused as exc:
        raise _rejected(f"'callback_url' is refused: {exc}.") from None
    except (OSError, TimeoutError):
        raise _rejected(f"'callback_url' names a host that does not resolve: {host}.") from None


async def check_callback(url: str, allow_private: bool, lookup: Lookup = system_lookup) -> str:
    """`check_url`, then (unless private targets are allowed) the resolution of its host."""
    check_url(url, allow_private)
    parsed = URL(url)
    if not allow_private and parsed.host and _literal_ip(parsed.host) is None:
        await resolve_public(parsed.host, parsed.port or 443, allow_private, lookup)
    return url


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver for the sender: only vetted addresses come out of it, so a connection
    can only be opened to an address that passed the guard at that moment (no DNS rebinding)."""

    def __init__(self, allow_private: bool, lookup: Lookup = system_lookup) -> None:
        self._allow_private = allow_private
        self._lookup = lookup

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = vet(host, await self._lookup(host, port, family), self._allow_private)
        return [_result(host, address, port) for address in addresses]

    async def close(self) -> None:
        return None


def _result(host: str, address: str, port: int) -> ResolveResult:
    version = ipaddress.ip_address(address).version
    return ResolveResult(
        hostname=host,
        host=address,
        port=port,
        family=socket.AF_INET6 if version == 6 else socket.AF_INET,
        proto=0,
        flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
    )
