"""Fixtures of the fleet tests: a `Scene` owning everything a test starts, all stopped after it.

A scene starts private redis-servers, service processes, proxies, phones and webhook receivers,
and stops them in reverse order when the test ends; it prints the instances' logs when the test
failed, and fails the test if an instance logged an error or would not stop on SIGTERM.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from pathlib import Path

import aiohttp
import pytest

from client_sdk import DeviceClient
from tests.fleet.proxy import TcpProxy
from tests.fleet.support import Endpoint, PhoneLink, SdkPhone
from tests.phone import Phone
from tests.processes import Fleet
from tests.redis_server import RedisServer
from tests.webhooks.receiver import Pki, Receiver, make_pki

FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


class Scene:
    """Everything one test starts, stopped in reverse dependency order by `close`."""

    def __init__(self, directory: Path, session: aiohttp.ClientSession, pki: Pki) -> None:
        self.directory = directory
        self.session = session
        self.pki = pki
        self.redis_servers: list[RedisServer] = []
        self.fleets: list[Fleet] = []
        self.proxies: list[TcpProxy] = []
        self.receivers: list[Receiver] = []
        self.links: list[PhoneLink] = []
        self.sdk_phones: list[SdkPhone] = []
        self.clients: list[DeviceClient] = []

    def redis(self, *, durable: bool = False) -> RedisServer:
        """A private redis-server on a free loopback port, started."""
        server = RedisServer(durable=durable)
        self.redis_servers.append(server)
        server.start()
        return server

    async def fleet(
        self,
        redis: RedisServer,
        size: int = 3,
        *,
        public_url: str | None = None,
        ports: list[int] | None = None,
    ) -> Fleet:
        """`size` instances on `redis` under a key prefix of their own, started and healthy."""
        env = {
            "PUSH_CALLBACK_ALLOW_PRIVATE": "1",
            "PUSH_CALLBACK_CA_FILE": str(self.pki.ca),
            "PUSH_CALLBACK_RETRY_BASE": "0.2",
            "PUSH_MAX_PENDING": "10",
        }
        fleet = Fleet(
            redis.url,
            self.directory,
            size,
            public_url=public_url,
            ports=ports,
            env=env,
        )
        self.fleets.append(fleet)
        await fleet.start(self.session)
        return fleet

    async def proxy(self, ports: list[int]) -> TcpProxy:
        proxy = TcpProxy(ports)
        self.proxies.append(proxy)
        await proxy.start()
        return proxy

    async def receiver(self) -> Receiver:
        """An HTTPS webhook receiver the instances trust (PUSH_CALLBACK_CA_FILE)."""
        receiver = Receiver(self.pki.server_context())
        self.receivers.append(receiver)
        await receiver.start()
        return receiver

    def endpoint(self, url: str) -> Endpoint:
        return Endpoint(self.session, url)

    async def link(self, url: str, phone: Phone) -> PhoneLink:
        """A raw phone's stream to `url`, authenticated."""
        link = await PhoneLink.open(self.session, url, phone)
        self.links.append(link)
        return link

    async def attempt(self, url: str, phone: Phone) -> PhoneLink:
        """A raw phone's stream to `url`, whether or not the service accepts its auth."""
        link = await PhoneLink.connect(self.session, url, phone)
        self.links.append(link)
        return link

    async def device_client(self, uri: str, name: str) -> DeviceClient:
        """An SDK device enrolled from `uri`; its base URL is the one the URI names."""
        key_path = self.directory / f"{name}.json"
        client = await DeviceClient.enroll_from_uri(uri, name, key_path)
        self.clients.append(client)
        return client

    def stream(self, client: DeviceClient) -> SdkPhone:
        """The SDK device's stream, connecting (and reconnecting) from now on."""
        phone = SdkPhone(client)
        self.sdk_phones.append(phone)
        return phone

    def logs(self) -> str:
        return "\n".join(fleet.logs() for fleet in self.fleets)

    async def close(self) -> list[str]:
        """Stop everything; what went wrong on the way: error lines the instances logged, an
        instance that would not stop on SIGTERM or stopped with a failure status."""
        problems: list[str] = []
        try:
            for phone in self.sdk_phones:
                await phone.close()
            for client in self.clients:
                await client.close()
            for link in self.links:
                await link.close()
            for proxy in self.proxies:
                await proxy.close()
            for receiver in self.receivers:
                await receiver.close()
            for fleet in self.fleets:
                try:
                    statuses = await fleet.terminate_all()
                except AssertionError as exc:
                    problems.append(str(exc))
                else:
                    problems += [f"exit status {code} after SIGTERM" for code in statuses if code]
        finally:
            for fleet in self.fleets:
                fleet.kill_all()
            for server in self.redis_servers:
                server.close()
        return problems + [line for fleet in self.fleets for line in fleet.service_errors()]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(Path(tmp_path_factory.mktemp("fleet-pki")))


@pytest.fixture
async def scene(request: pytest.FixtureRequest, tmp_path: Path, pki: Pki) -> AsyncIterator[Scene]:
    # A new connection for every request: instances are killed and restarted on their ports.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        built = Scene(tmp_path, session, pki)
        try:
            yield built
        finally:
            if request.node.stash.get(FAILED, False):
                print(f"service logs:\n{built.logs()}")
            problems = await built.close()
    assert not problems, "\n".join(problems)
