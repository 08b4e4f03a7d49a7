"""A small in-test stand-in for the push approval service's device side, per the contract.

It checks every token the SDK sends (signature, header, claim set and types, jti reuse),
so the SDK tests prove wire behaviour; it is a fake of the peer, not the real service.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from aiohttp import WSMsgType, web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ISSUER = "push-approval-test"
TOKEN_CLAIMS = {"iss", "aud", "iat", "exp", "jti"}


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def public_key_from_jwk(jwk: dict[str, Any]) -> Ed25519PublicKey:
    assert set(jwk) == {"kty", "crv", "x"}, jwk
    assert jwk["kty"] == "OKP"
    assert jwk["crv"] == "Ed25519"
    return Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))


class Refused(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


def error_response(status: int, code: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": f"Refused: {code}."}}, status=status
    )


@dataclass
class FakeDevice:
    device_id: str
    user_id: str
    name: str
    public_key: Ed25519PublicKey
    revoked: bool = False


@dataclass
class FakeChallenge:
    view: dict[str, Any]
    match_number: str
    status: str = "pending"
    reason: str | None = None

    @property
    def challenge_id(self) -> str:
        return str(self.view["challenge_id"])


@dataclass
class StreamScript:
    """How the fake stream behaves, per connection index (0 for the first connection)."""

    close_after_ready: dict[int, int] = field(default_factory=dict)
    refuse_auth_with: int | None = None
    extra_messages: list[dict[str, Any]] = field(default_factory=list)


class FakeService:
    def __init__(self) -> None:
        self.issuer = ISSUER
        self.codes: dict[str, str] = {}
        self.devices: dict[str, FakeDevice] = {}
        self.challenges: dict[str, FakeChallenge] = {}
        self.seen_jti: set[str] = set()
        self.response_claims: list[dict[str, Any]] = []
        self.auth_claims: list[dict[str, Any]] = []
        self.script = StreamScript()
        self.connections = 0
        self.sockets: list[web.WebSocketResponse] = []
        self.rotations = 0

    # --- set-up helpers -------------------------------------------------------------
    def enrollment_uri(self, base_url: str, user_id: str = "alice") -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = user_id
        from urllib.parse import urlencode

        return "pushapproval://enroll?" + urlencode(
            {"code": code, "url": base_url, "issuer": self.issuer}
        )

    def add_challenge(
        self,
        user_id: str = "alice",
        *,
        number_matching: bool = True,
        match_number: str = "042",
        ttl: int = 60,
        app_name: str = "Intranet",
        context: dict[str, str] | None = None,
    ) -> FakeChallenge:
        now = datetime.now(UTC)
        challenge_id = "ch_" + secrets.token_urlsafe(8)
        view = {
            "challenge_id": challenge_id,
            "user_id": user_id,
            "app": {"app_id": "app_1", "name": app_name},
            "context": context
            if context is not None
            else {"action": "Sign in", "ip": "203.0.113.7"},
            "number_matching": number_matching,
            "nonce": secrets.token_urlsafe(16),
            "created_at": rfc3339(now),
            "expires_at": rfc3339(now + timedelta(seconds=ttl)),
            "future_field": {"ignored": True},
        }
        challenge = FakeChallenge(view=view, match_number=match_number)
        self.challenges[challenge_id] = challenge
        return challenge

    async def push(self, message: dict[str, Any]) -> None:
        for ws in list(self.sockets):
            if not ws.closed:
                await ws.send_json(message)

    async def close_sockets(self, code: int) -> None:
        for ws in list(self.sockets):
            await ws.close(code=code)

    # --- token checks ---------------------------------------------------------------
    def verify_device_token(self, token: str) -> tuple[FakeDevice, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Refused(401, "invalid_token") from None
        if set(header) != {"alg", "kid"} or header["alg"] != "EdDSA":
            raise Refused(401, "invalid_token")
        device = self.devices.get(header["kid"])
        if device is None or device.revoked:
            raise Refused(401, "invalid_token")
        try:
            claims = jwt.decode(
                token,
                device.public_key,
                algorithms=["EdDSA"],
                audience=self.issuer,
                options={"require": sorted(TOKEN_CLAIMS)},
            )
        except jwt.InvalidTokenError:
            raise Refused(401, "invalid_token") from None
        if claims["iss"] != device.device_id or not isinstance(claims["aud"], str):
            raise Refused(401, "invalid_token")
        iat, exp = claims["iat"], claims["exp"]
        if type(iat) is not int or type(exp) is not int or not 0 < exp - iat <= 300:
            raise Refused(401, "invalid_token")
        if abs(time.time() - iat) > 60 or claims["jti"] in self.seen_jti:
            raise Refused(401, "invalid_token")
        self.seen_jti.add(claims["jti"])
        return device, claims

    def bearer(self, request: web.Request) -> tuple[FakeDevice, dict[str, Any]]:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise Refused(401, "invalid_token")
        return self.verify_device_token(header.removeprefix("Bearer "))

    def apply_response(self, token: str, challenge_id: str | None = None) -> dict[str, Any]:
        device, claims = self.verify_device_token(token)
        self.response_claims.append(claims)
        challenge = self.challenges.get(str(claims.get("cid")))
        if challenge is None or (challenge_id is not None and challenge_id != claims.get("cid")):
            raise Refused(404, "not_found")
        if challenge.view["user_id"] != device.user_id:
            raise Refused(403, "forbidden")
        if claims.get("nonce") != challenge.view["nonce"]:
            raise Refused(400, "invalid_request")
        if challenge.status != "pending":
            raise Refused(409, "challenge_not_pending")
        if claims.get("decision") == "approve":
            number_ok = claims.get("number") == challenge.match_number
            if challenge.view["number_matching"] and not number_ok:
                challenge.status, challenge.reason = "denied", "number_mismatch"
            else:
                challenge.status = "approved"
        elif claims.get("decision") == "deny":
            challenge.status = "denied"
            challenge.reason = "fraud_reported" if claims.get("fraud") is True else "user_denied"
        else:
            raise Refused(400, "invalid_request")
        return {"challenge_id": challenge.challenge_id, "status": challenge.status}

    def pending_views(self, user_id: str) -> list[dict[str, Any]]:
        return [
            c.view
            for c in self.challenges.values()
            if c.status == "pending" and c.view["user_id"] == user_id
        ]

    # --- HTTP ---------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._refusals])
        app.router.add_get("/.well-known/push-approval", self._discovery)
        app.router.add_post("/v1/devices", self._enroll)
        app.router.add_get("/v1/devices/me/challenges", self._pending)
        app.router.add_post("/v1/devices/me/key", self._rotate)
        app.router.add_delete("/v1/devices/me", self._revoke)
        app.router.add_post("/v1/challenges/{challenge_id}/response", self._respond)
        app.router.add_get("/v1/devices/stream", self._stream)
        return app

    @web.middleware
    async def _refusals(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except Refused as exc:
            return error_response(exc.status, exc.code)
        return response

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response({"issuer": self.issuer, "version": "1"})

    async def _enroll(self, request: web.Request) -> web.Response:
        body = await request.json()
        assert set(body) == {"code", "public_key", "name", "proof"}, body
        user_id = self.codes.pop(body["code"], None)
        if user_id is None:
            raise Refused(400, "invalid_enrollment")
        try:
            public_key = public_key_from_jwk(body["public_key"])
        except (AssertionError, ValueError):
            raise Refused(400, "invalid_key") from None
        try:
            proof = jwt.decode(body["proof"], public_key, algorithms=["EdDSA"])
        except jwt.InvalidTokenError:
            raise Refused(400, "invalid_proof") from None
        if set(proof) != {"code", "iat"} or proof["code"] != body["code"]:
            raise Refused(400, "invalid_proof")
        device_id = "dev_" + secrets.token_urlsafe(8)
        self.devices[device_id] = FakeDevice(device_id, user_id, body["name"], public_key)
        return web.json_response(
            {"device_id": device_id, "user_id": user_id, "issuer": self.issuer, "extra": 1},
            status=201,
        )

    async def _pending(self, request: web.Request) -> web.Response:
        device, _ = self.bearer(request)
        return web.json_response({"challenges": self.pending_views(device.user_id)})

    async def _rotate(self, request: web.Request) -> web.Response:
        device, _ = self.bearer(request)
        body = await request.json()
        new_key = public_key_from_jwk(body["public_key"])
        try:
            proof = jwt.decode(body["proof"], new_key, algorithms=["EdDSA"])
        except jwt.InvalidTokenError:
            raise Refused(400, "invalid_proof") from None
        if set(proof) != {"device_id", "iat"} or proof["device_id"] != device.device_id:
            raise Refused(400, "invalid_proof")
        device.public_key = new_key
        self.rotations += 1
        return web.json_response({"device_id": device.device_id})

    async def _revoke(self, request: web.Request) -> web.Response:
        device, _ = self.bearer(request)
        device.revoked = True
        return web.Response(status=204)

    async def _respond(self, request: web.Request) -> web.Response:
        body = await request.json()
        result = self.apply_response(body["token"], request.match_info["challenge_id"])
        return web.json_response(result)

    async def _stream(self, request: web.Request) -> web.WebSocketResponse:
        index = self.connections
        self.connections += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        nonce = secrets.token_urlsafe(16)
        await ws.send_json({"type": "hello", "nonce": nonce})
        auth = await ws.receive_json(timeout=5)
        if self.script.refuse_auth_with is not None:
            await ws.close(code=self.script.refuse_auth_with)
            return ws
        try:
            assert auth["type"] == "auth"
            device, claims = self.verify_device_token(auth["token"])
            assert set(claims) == TOKEN_CLAIMS | {"nonce"}, claims
            assert claims["nonce"] == nonce
        except (AssertionError, Refused, KeyError):
            await ws.close(code=4401)
            return ws
        self.auth_claims.append(claims)
        await ws.send_json({"type": "ready", "device_id": device.device_id})
        for message in self.script.extra_messages:
            await ws.send_json(message)
        for view in self.pending_views(device.user_id):
            await ws.send_json({"type": "challenge", "challenge": view})
        close_code = self.script.close_after_ready.get(index)
        if close_code is not None:
            await ws.close(code=close_code)
            return ws
        self.sockets.append(ws)
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                data = json.loads(frame.data)
                if data.get("type") != "response":
                    continue
                try:
                    result = self.apply_response(data["token"])
                except Refused as exc:
                    await ws.send_json({"type": "error", "code": exc.code, "message": "Refused."})
                else:
                    await ws.send_json({"type": "result", **result})
        finally:
            self.sockets.remove(ws)
        return ws
