"""Device self-service over HTTP: polling, key rotation, self-revocation, token checks."""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import World
from tests.phone import Phone, forge, jwk, sign


def _rotation(
    phone: Phone, new_key: Ed25519PrivateKey, signer: Ed25519PrivateKey | None = None
) -> dict[str, object]:
    proof = sign(signer or new_key, {"device_id": phone.device_id, "iat": int(time.time())})
    return {"public_key": jwk(new_key), "proof": proof}


async def test_polling_lists_only_pending_challenges_of_the_devices_scope(world: World) -> None:
    app, other = await world.new_app("A"), await world.new_app("B")
    phone = await world.enroll("alice", app)
    await world.enroll("alice", other)
    mine = await world.challenge(app)
    await world.challenge(other)
    response = await world.client.get("/v1/devices/me/challenges", headers=phone.bearer())
    listed = [c["challenge_id"] for c in (await response.json())["challenges"]]
    assert listed == [mine["challenge_id"]]


async def test_rotated_key_replaces_the_old_one(world: World) -> None:
    phone = await world.enroll("alice")
    new_key = Ed25519PrivateKey.generate()
    response = await world.client.post(
        "/v1/devices/me/key", json=_rotation(phone, new_key), headers=phone.bearer()
    )
    assert response.status == 200
    old = await world.client.get("/v1/devices/me/challenges", headers=phone.bearer())
    assert old.status == 401
    assert (await old.json())["error"]["code"] == "invalid_token"
    phone.key = new_key
    assert (
        await world.client.get("/v1/devices/me/challenges", headers=phone.bearer())
    ).status == 200


async def test_rotation_proof_must_come_from_the_new_key(world: World) -> None:
    phone = await world.enroll("alice")
    body = _rotation(phone, Ed25519PrivateKey.generate(), signer=phone.key)
    response = await world.client.post("/v1/devices/me/key", json=body, headers=phone.bearer())
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_proof"


async def test_rotation_to_a_small_order_key_is_refused(world: World) -> None:
    phone = await world.enroll("alice")
    body = {"public_key": {"kty": "OKP", "crv": "Ed25519", "x": "AQ" + "A" * 41}, "proof": "a.b.c"}
    response = await world.client.post("/v1/devices/me/key", json=body, headers=phone.bearer())
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_key"
    assert (
        await world.client.get("/v1/devices/me/challenges", headers=phone.bearer())
    ).status == 200


async def test_device_tokens_that_break_the_contract_are_401(world: World) -> None:
    phone = await world.enroll("alice")
    now = int(time.time())
    bad = [
        forge({"alg": "none", "kid": phone.device_id}, phone.claims(), b""),
        phone.token(aud=["push-approval"]),
        phone.token(aud="someone-else"),
        phone.token(iat=True),
        phone.token(iat=now - 120, exp=now + 60),
        phone.token(iat=now + 120, exp=now + 180),
        phone.token(exp=now + 600),
        phone.token(jti=None),
        sign(Ed25519PrivateKey.generate(), phone.claims(), kid=phone.device_id),
        sign(phone.key, phone.claims(), kid="dev_unknown"),
        "not-a-token",
    ]
    for token in bad:
        response = await world.client.get(
            "/v1/devices/me/challenges", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status == 401, token
        assert (await response.json())["error"]["code"] == "invalid_token"


async def test_missing_device_token_is_invalid_token(world: World) -> None:
    response = await world.client.get("/v1/devices/me/challenges")
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "invalid_token"
