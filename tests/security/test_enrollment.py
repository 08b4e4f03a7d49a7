"""Enrollment codes and device keys: reused, guessed, burned codes; weak, odd, private keys."""

from __future__ import annotations

import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import ADMIN, World
from tests.core.helpers import sign_raw
from tests.phone import Phone, b64url, jwk, raw_public, sign
from tests.security.helpers import audit, error_of, service_of

P = 2**255 - 19

SMALL_ORDER = {
    "identity (order 1)": "01" + "00" * 31,
    "order 2": "ec" + "ff" * 30 + "7f",
    "order 4": "00" * 32,
    "order 4, other sign": "00" * 31 + "80",
    "order 8 a": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "order 8 b": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "order 8 c": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "order 8 d": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
}

UNIVERSAL_SIGNATURE = bytes.fromhex("01" + "00" * 63)
"""R = the identity point, S = 0: with the identity as public key it verifies for every
message under an implementation that skips the small-order check."""


def _x(hex_key: str) -> str:
    return b64url(bytes.fromhex(hex_key))


def _with_torsion(key: Ed25519PrivateKey) -> str:
    """The key's point plus the point of order 2, (x, y) + (0, -1) = (-x, -y): signatures by
    the real key may still verify under cofactored checks, and libraries disagree."""
    raw = raw_public(key)
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    sign_bit = raw[31] >> 7
    flipped = ((P - y) % P) | ((1 - sign_bit) << 255)
    return b64url(flipped.to_bytes(32, "little"))


def _forged_proof(code: str) -> str:
    """A proof over `code` whose signature is the universal one, as made for a small-order key."""
    header = '{"alg":"EdDSA"}'
    payload = f'{{"code":"{code}","iat":{int(time.time())}}}'
    token = sign_raw(Ed25519PrivateKey.generate(), header, payload)
    return token.rsplit(".", 1)[0] + "." + b64url(UNIVERSAL_SIGNATURE)


async def _code(world: World, user: str = "bob", headers: dict[str, str] = ADMIN) -> dict[str, Any]:
    response = await world.client.post("/v1/enrollments", json={"user_id": user}, headers=headers)
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def _enroll(world: World, code: str, public_key: Any, proof: str) -> Any:
    return await world.client.post(
        "/v1/devices", json={"code": code, "public_key": public_key, "name": "x", "proof": proof}
    )


async def _devices(world: World, user: str = "bob") -> list[dict[str, Any]]:
    response = await world.client.get(f"/v1/admin/users/{user}/devices", headers=ADMIN)
    found: list[dict[str, Any]] = (await response.json())["devices"]
    return found


async def _failures(world: World) -> list[str]:
    return [e["detail"]["reason"] for e in await audit(world, kind="enrollment.failed")]


async def test_reused_enrollment_code_is_refused(world: World) -> None:
    code = (await _code(world))["code"]
    first, thief = Phone(), Phone()
    assert (await _enroll(world, code, first.jwk, first.proof(code))).status == 201
    again = await _enroll(world, code, thief.jwk, thief.proof(code))
    assert await error_of(again) == (400, "invalid_enrollment")
    assert len(await _devices(world)) == 1
    assert len(await audit(world, kind="device.enrolled")) == 1


@pytest.mark.parametrize("guess", ["random", "enrollment_id", "one character off"])
async def test_guessed_enrollment_code_is_refused(world: World, guess: str) -> None:
    enrollment = await _code(world)
    code = {
        "random": "Zm9yZ2VkLWNvZGUtZ3Vlc3M",
        "enrollment_id": enrollment["enrollment_id"],
        "one character off": enrollment["code"][:-1]
        + ("A" if enrollment["code"][-1] != "A" else "B"),
    }[guess]
    phone = Phone()
    assert await error_of(await _enroll(world, code, phone.jwk, phone.proof(code))) == (
        400,
        "invalid_enrollment",
    )
    assert await _devices(world) == []
    real = enrollment["code"]
    assert (await _enroll(world, real, phone.jwk, phone.proof(real))).status == 201


async def test_expired_enrollment_code_is_refused(world: World) -> None:
    code = (await _code(world))["code"]
    service_of(world).clock = lambda: time.time() + 601
    phone = Phone()
    late = await _enroll(
        world, code, phone.jwk, sign(phone.key, {"code": code, "iat": int(time.time()) + 601})
    )
    assert await error_of(late) == (400, "invalid_enrollment")
    assert await _devices(world) == []


async def test_enrollment_code_is_burned_after_five_bad_proofs(world: World) -> None:
    code = (await _code(world))["code"]
    phone, thief = Phone(), Phone()
    for _ in range(5):
        refused = await _enroll(world, code, phone.jwk, thief.proof(code))
        assert await error_of(refused) == (400, "invalid_proof")
    burned = await _enroll(world, code, phone.jwk, phone.proof(code))
    assert await error_of(burned) == (400, "invalid_enrollment")
    assert await _devices(world) == []
    assert await _failures(world) == ["invalid_proof"] * 5


@pytest.mark.parametrize(
    "proof",
    ["made for another code", "two minutes old", "claims beyond code and iat", "alg none"],
)
async def test_enrollment_proof_replayed_stale_or_padded_is_refused(
    world: World, proof: str
) -> None:
    code = (await _code(world))["code"]
    phone = Phone()
    now = int(time.time())
    token = {
        "made for another code": phone.proof("Y29kZS1mcm9tLWVsc2V3aGVyZQ"),
        "two minutes old": phone.proof(code, iat=now - 120),
        "claims beyond code and iat": sign(phone.key, {"code": code, "iat": now, "admin": True}),
        "alg none": ".".join(
            [b64url(b'{"alg":"none"}'), b64url(f'{{"code":"{code}","iat":{now}}}'.encode()), ""]
        ),
    }[proof]
    assert await error_of(await _enroll(world, code, phone.jwk, token)) == (400, "invalid_proof")
    assert await _devices(world) == []
    assert await _failures(world) == ["invalid_proof"]


@pytest.mark.parametrize("point", list(SMALL_ORDER))
async def test_small_order_public_key_at_enrollment_is_refused(world: World, point: str) -> None:
    code = (await _code(world))["code"]
    x = _x(SMALL_ORDER[point])
    key = {"kty": "OKP", "crv": "Ed25519", "x": x}
    assert await error_of(await _enroll(world, code, key, _forged_proof(code))) == (
        400,
        "invalid_key",
    )
    assert await _devices(world) == []
    assert await _failures(world) == ["invalid_key"]


@pytest.mark.parametrize(
    "encoding",
    [
        "y = p (non-canonical zero)",
        "y = p + 1 (non-canonical identity)",
        "y = p + 3 (non-canonical)",
        "x = 0 with the sign bit set",
        "y = 3 (mixed order)",
        "honest key plus torsion",
    ],
)
async def test_non_canonical_or_mixed_order_public_key_is_refused(
    world: World, encoding: str
) -> None:
    code = (await _code(world))["code"]
    honest = Ed25519PrivateKey.generate()
    x = {
        "y = p (non-canonical zero)": b64url(P.to_bytes(32, "little")),
        "y = p + 1 (non-canonical identity)": b64url((P + 1).to_bytes(32, "little")),
        "y = p + 3 (non-canonical)": b64url((P + 3).to_bytes(32, "little")),
        "x = 0 with the sign bit set": _x("01" + "00" * 30 + "80"),
        "y = 3 (mixed order)": b64url((3).to_bytes(32, "little")),
        "honest key plus torsion": _with_torsion(honest),
    }[encoding]
    key = {"kty": "OKP", "crv": "Ed25519", "x": x}
    proof = sign(honest, {"code": code, "iat": int(time.time())})
    assert await error_of(await _enroll(world, code, key, proof)) == (400, "invalid_key")
    assert await _devices(world) == []


@pytest.mark.parametrize(
    "shape",
    ["private member d", "X25519 curve", "EC key", "x of 31 bytes", "x padded", "not an object"],
)
async def test_jwk_that_is_not_an_ed25519_public_key_is_refused(world: World, shape: str) -> None:
    code = (await _code(world))["code"]
    phone = Phone()
    private = phone.key.private_bytes_raw()
    key = {
        "private member d": {**phone.jwk, "d": b64url(private)},
        "X25519 curve": {**phone.jwk, "crv": "X25519"},
        "EC key": {"kty": "EC", "crv": "P-256", "x": phone.jwk["x"], "y": phone.jwk["x"]},
        "x of 31 bytes": {**phone.jwk, "x": b64url(raw_public(phone.key)[:31])},
        "x padded": {**phone.jwk, "x": phone.jwk["x"] + "="},
        "not an object": phone.jwk["x"],
    }[shape]
    assert await error_of(await _enroll(world, code, key, phone.proof(code))) == (
        400,
        "invalid_key",
    )
    assert await _devices(world) == []
    assert b64url(private) not in str(await audit(world))


async def test_app_cannot_widen_its_enrollment_to_other_apps(world: World) -> None:
    app, other = await world.new_app("A"), await world.new_app("B")
    response = await world.client.post(
        "/v1/enrollments",
        json={"user_id": "alice", "app_ids": [other["app_id"]]},
        headers=app["headers"],
    )
    assert await error_of(response) == (400, "invalid_request")
    assert await audit(world, kind="enrollment.created") == []


async def _rotate(world: World, phone: Phone, public_key: Any, proof: str) -> Any:
    return await world.client.post(
        "/v1/devices/me/key",
        json={"public_key": public_key, "proof": proof},
        headers=phone.bearer(),
    )


async def _still_works(world: World, phone: Phone) -> None:
    polled = await world.client.get("/v1/devices/me/challenges", headers=phone.bearer())
    assert polled.status == 200, await polled.text()
    assert await audit(world, kind="device.key_rotated") == []


@pytest.mark.parametrize("point", ["identity (order 1)", "order 2", "order 8 a"])
async def test_small_order_public_key_at_rotation_is_refused(world: World, point: str) -> None:
    phone = await world.enroll("alice")
    x = _x(SMALL_ORDER[point])
    key = {"kty": "OKP", "crv": "Ed25519", "x": x}
    header, payload = (
        '{"alg":"EdDSA"}',
        f'{{"device_id":"{phone.device_id}","iat":{int(time.time())}}}',
    )
    forged = sign_raw(Ed25519PrivateKey.generate(), header, payload).rsplit(".", 1)[0]
    response = await _rotate(world, phone, key, f"{forged}.{b64url(UNIVERSAL_SIGNATURE)}")
    assert await error_of(response) == (400, "invalid_key")
    await _still_works(world, phone)


async def test_rotation_to_a_key_with_private_member_is_refused(world: World) -> None:
    phone = await world.enroll("alice")
    new = Ed25519PrivateKey.generate()
    key = {**jwk(new), "d": b64url(new.private_bytes_raw())}
    proof = sign(new, {"device_id": phone.device_id, "iat": int(time.time())})
    assert await error_of(await _rotate(world, phone, key, proof)) == (400, "invalid_key")
    await _still_works(world, phone)


async def test_rotation_proof_for_another_device_is_refused(world: World) -> None:
    phone = await world.enroll("alice")
    other = await world.enroll("alice")
    new = Ed25519PrivateKey.generate()
    proof = sign(new, {"device_id": other.device_id, "iat": int(time.time())})
    assert await error_of(await _rotate(world, phone, jwk(new), proof)) == (400, "invalid_proof")
    await _still_works(world, phone)


async def test_intercepted_response_token_cannot_rotate_the_device_key(world: World) -> None:
    """A response token (minted to answer one challenge) used instead as the bearer of a key
    rotation would hand the device to whoever intercepted it; it must be refused."""
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    challenge = await world.challenge(app)
    view = await world.device_view(phone, challenge["challenge_id"])
    intercepted = phone.response(view, "deny")
    attacker = Ed25519PrivateKey.generate()
    proof = sign(attacker, {"device_id": phone.device_id, "iat": int(time.time())})
    response = await world.client.post(
        "/v1/devices/me/key",
        json={"public_key": jwk(attacker), "proof": proof},
        headers={"Authorization": f"Bearer {intercepted}"},
    )
    assert await error_of(response) == (401, "invalid_token")
    await _still_works(world, phone)
