"""A fast HTTPS webhook receiver on loopback for benchmarks: it checks each callback's signature,
notes when it arrived (by challenge id, once per webhook-id) and answers 204 at once. Its
certificate comes from a throwaway authority made at start; the service is told to trust it.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from client_sdk import WebhookVerificationError, verify_webhook

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _signed(
    subject: str, issuer: str, public: ec.EllipticCurvePublicKey, signer: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=12))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )


def _authority() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        _signed("bench webhook CA", "bench webhook CA", key.public_key(), key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_certificates(folder: Path) -> Certificates:
    """An authority, and a certificate it signed for 127.0.0.1, written as PEM files."""
    ca_key, ca_cert = _authority()
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))])
    issuer_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    cert = (
        _signed(LOOPBACK, "bench webhook CA", key.public_key(), ca_key)
        .add_extension(alt_names, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(issuer_id, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = Certificates(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    files.key.write_bytes(private)
    return files


class Receiver:
    """Answers every POST to /hook on each of its ports; `secret` must be set before the first."""

    def __init__(self) -> None:
        self.secret = ""
        self.arrivals: dict[str, float] = {}
        """Challenge id -> when its callback first arrived (time.perf_counter)."""
        self.webhook_ids: set[str] = set()
        self.duplicates = 0
        self.bad_signatures = 0
        self._runner: web.AppRunner | None = None

    async def start(self, tls: ssl.SSLContext, ports: int) -> list[str]:
        """Listen on `ports` loopback ports; returns their callback URLs."""
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        urls = []
        for _ in range(ports):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            await web.SockSite(self._runner, sock, ssl_context=tls).start()
            urls.append(f"https://{LOOPBACK}:{sock.getsockname()[1]}/hook")
        return urls

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        body = await request.read()
        try:
            payload = verify_webhook(self.secret, request.headers, body)
        except WebhookVerificationError:
            self.bad_signatures += 1
            return web.Response(status=400)
        webhook_id = request.headers["webhook-id"]
        if webhook_id in self.webhook_ids:
            self.duplicates += 1
        else:
            self.webhook_ids.add(webhook_id)
            self.arrivals[str(payload["data"]["challenge_id"])] = arrived
        return web.Response(status=204)
