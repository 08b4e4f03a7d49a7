"""The SSRF guard: which callback URLs and addresses are refused, at creation and on connect."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from push_service.errors import ErrorCode, PushError
from push_service.webhooks import guard

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "240.0.0.1",
    "198.18.0.1",
    "192.0.2.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",
    "fec0::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",
    "2002:7f00:1::",
    "2001:db8::1",
]
PUBLIC = ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


def _lookup(table: dict[str, list[str]]) -> guard.Lookup:
    async def lookup(host: str, port: int, family: int = 0) -> Sequence[str]:
        return table.get(host, [])

    return lookup


def _rejected(url: str, allow_private: bool = False) -> str:
    with pytest.raises(PushError) as caught:
        guard.check_url(url, allow_private)
    assert caught.value.code is ErrorCode.CALLBACK_URL_REJECTED
    return caught.value.message


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert guard.refusal(address) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert guard.refusal(address) is None


def test_refusals_name_the_kind_of_address() -> None:
    assert guard.refusal("127.0.0.1") == "loopback"
    assert guard.refusal("169.254.169.254") == "link-local"
    assert guard.refusal("10.0.0.1") == "private"
    assert guard.refusal("::ffff:127.0.0.1") == "loopback"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "10.0.0.7", "169.254.169.254", "[::1]", "[fe80::1]", "[::ffff:7f00:1]"]
)
def test_literal_private_ips_are_refused_in_urls(host: str) -> None:
    assert "address" in _rejected(f"https://{host}/hook")


def test_literal_private_ips_pass_when_private_targets_are_allowed() -> None:
    assert guard.check_url("https://127.0.0.1:8443/hook", True) == "https://127.0.0.1:8443/hook"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://example.com/hook", "https"),
        ("ftp://example.com/hook", "https"),
        ("https:///hook", "host"),
        ("https://user:pw@example.com/hook", "password"),
        ("https://user@example.com/hook", "password"),
    ],
)
def test_malformed_urls_are_refused_even_when_private_targets_are_allowed(
    url: str, words: str
) -> None:
    assert words in _rejected(url, allow_private=True)


def test_public_urls_pass_with_their_port() -> None:
    assert guard.check_url("https://93.184.216.34:8443/h?x=1", False)
    assert guard.check_url("https://hooks.example/h", False)


async def test_resolution_to_a_public_address_passes() -> None:
    lookup = _lookup({"hooks.example": ["93.184.216.34"]})
    assert await guard.resolve_public("hooks.example", 443, False, lookup) == ["93.184.216.34"]


async def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    lookup = _lookup({"hooks.example": ["93.184.216.34", "10.0.0.5"]})
    with pytest.raises(PushError, match=r"10\.0\.0\.5, a private address"):
        await guard.resolve_public("hooks.example", 443, False, lookup)


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(PushError, match="resolves to no address"):
        await guard.resolve_public("nowhere.example", 443, False, _lookup({}))


async def test_localhost_is_refused_through_the_system_resolver() -> None:
    with pytest.raises(PushError) as caught:
        await guard.check_callback("https://localhost:8443/hook", False)
    assert caught.value.code is ErrorCode.CALLBACK_URL_REJECTED
    assert "loopback" in caught.value.message


async def test_localhost_passes_when_private_targets_are_allowed() -> None:
    assert await guard.check_callback("https://localhost:8443/hook", True)


async def test_the_resolver_returns_only_vetted_addresses() -> None:
    resolver = guard.GuardedResolver(False, _lookup({"hooks.example": ["93.184.216.34"]}))
    [result] = await resolver.resolve("hooks.example", 443)
    assert (result["hostname"], result["host"], result["port"]) == (
        "hooks.example",
        "93.184.216.34",
        443,
    )


async def test_the_resolver_refuses_a_host_that_now_resolves_to_loopback() -> None:
    resolver = guard.GuardedResolver(False, _lookup({"hooks.example": ["127.0.0.1"]}))
    with pytest.raises(guard.AddressRefused, match="loopback"):
        await resolver.resolve("hooks.example", 443)


async def test_the_resolver_refuses_localhost_from_the_system_resolver() -> None:
    with pytest.raises(guard.AddressRefused):
        await guard.GuardedResolver(False).resolve("localhost", 443)
