"""A real HTTPS webhook receiver on 127.0.0.1 for tests, with a private CA made on the spot.

Each path answers from a script of statuses (the last one repeats); HANG never answers until
the receiver closes, and 3xx answers redirect to /landing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.waiting import eventually  # noqa: F401 (tests import it from here)

HANG = 0
NAMES = ("localhost", "hooks.example")


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(subject: str, issuer: str, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
    )


def make_pki(directory: Path) -> Pki:
    """A CA, and a server certificate it signed for NAMES and 127.0.0.1."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        _builder("webhook tests CA", "webhook tests CA", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in NAMES]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        _builder("localhost", "webhook tests CA", key)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


@dataclass(frozen=True)
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self, tls: ssl.SSLContext) -> None:
        self._tls = tls
        self._scripts: dict[str, list[int]] = {}
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.hits: list[Hit] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock, ssl_context=self._tls).start()

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"

    def script(self, path: str, *statuses: int) -> None:
        """Answer `path` with these statuses in turn, then the last one forever."""
        self._scripts[path] = list(statuses)

    def at(self, path: str = "/hook") -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits.append(Hit(request.path, dict(request.headers), await request.read()))
        script = self._scripts.get(request.path, [200])
        status = script.pop(0) if len(script) > 1 else script[0]
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if status == HANG:
                await self._release.wait()
                return web.Response(status=503)
        finally:
            self.in_flight -= 1
        if 300 <= status < 400:
            return web.Response(status=status, headers={"Location": "/landing"})
        return web.Response(status=status, text="ok")
