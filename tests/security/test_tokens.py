"""Forged, replayed, stale and confused device tokens: each is refused and nothing moves."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import ADMIN, World
from tests.core.helpers import sign_raw
from tests.phone import b64url, forge, raw_public, sign
from tests.security.helpers import (
    Scene,
    before,
    close_code,
    connect,
    error_of,
    next_frame,
    stage,
    token_refusal_recorded,
    unchanged,
)


def _approval_claims(scene: Scene, **override: Any) -> dict[str, Any]:
    """The claims of a correct approval of the scene's challenge, with some replaced."""
    correct = {
        "cid": scene.cid,
        "nonce": scene.view["nonce"],
        "decision": "approve",
        "number": scene.challenge["match_number"],
    }
    return scene.phone.claims(**{**correct, **override})


async def _refused(
    world: World, scene: Scene, token: str, reason: str, claimed: str | None = ""
) -> None:
    """The attack's token gets 401 invalid_token, changes nothing, and is counted and audited
    with the device it claimed to be (`claimed`; the scene's phone unless given; None where the
    token is refused before its `kid` is read)."""
    was = await before(world)
    assert await error_of(await scene.answer(token)) == (401, "invalid_token")
    await unchanged(world, was, pending=[scene])
    device_id = scene.phone.device_id if claimed == "" else claimed
    await token_refusal_recorded(world, was, reason, device_id)


async def test_forged_signature_by_an_unknown_key_is_refused(world: World) -> None:
    scene = await stage(world)
    stranger = Ed25519PrivateKey.generate()
    token = sign(stranger, _approval_claims(scene), kid=scene.phone.device_id)
    await _refused(world, scene, token, "invalid_token")


async def test_signature_bit_flipped_is_refused(world: World) -> None:
    scene = await stage(world)
    head, body, signature = scene.approval().split(".")
    raw = bytearray(jwt.utils.base64url_decode(signature))
    raw[5] ^= 0x01
    await _refused(world, scene, f"{head}.{body}.{b64url(bytes(raw))}", "invalid_token")


async def test_claims_swapped_under_a_valid_signature_are_refused(world: World) -> None:
    scene = await stage(world)
    denial = scene.phone.response(scene.view, "deny")
    approval = sign(Ed25519PrivateKey.generate(), _approval_claims(scene))
    head, _, signature = denial.split(".")
    spliced = f"{head}.{approval.split('.')[1]}.{signature}"
    await _refused(world, scene, spliced, "invalid_token")


async def test_replayed_response_token_is_refused_and_the_first_decision_stands(
    world: World,
) -> None:
    scene = await stage(world)
    token = scene.phone.response(scene.view, "deny")
    first = await scene.answer(token)
    assert (first.status, (await first.json())["status"]) == (200, "denied")
    was = await before(world)
    assert await error_of(await scene.answer(token)) == (401, "invalid_token")
    final = await scene.as_app()
    assert (final["status"], final["reason"]) == ("denied", "user_denied")
    assert final["response_token"] == token
    await unchanged(world, was)
    await token_refusal_recorded(world, was, "replay", scene.phone.device_id)


async def test_replayed_response_token_on_a_stream_is_refused(world: World) -> None:
    scene = await stage(world)
    other = await scene.world.enroll(scene.user, scene.app)
    second = await stage(world, app=scene.app, phone=other)
    token = scene.phone.response(scene.view, "deny")
    assert (await scene.answer(token)).status == 200
    ws = await connect(world, scene.phone)
    assert (await next_frame(ws))["challenge"]["challenge_id"] == second.cid
    was = await before(world)
    await ws.send_json({"type": "response", "token": token})
    frame = await next_frame(ws)
    assert (frame["type"], frame["code"]) == ("error", "invalid_token")
    await unchanged(world, was, pending=[second])
    await token_refusal_recorded(world, was, "replay", scene.phone.device_id)
    await ws.close()


async def test_stream_auth_token_replayed_on_a_second_connection_is_closed_4401(
    world: World,
) -> None:
    scene = await stage(world)
    ws = await world.client.ws_connect("/v1/devices/stream")
    token = scene.phone.token(nonce=(await ws.receive_json(timeout=2))["nonce"])
    await ws.send_json({"type": "auth", "token": token})
    assert (await next_frame(ws))["type"] == "ready"
    assert (await next_frame(ws))["challenge"]["challenge_id"] == scene.cid
    was = await before(world)
    thief = await world.client.ws_connect("/v1/devices/stream")
    await thief.receive_json(timeout=2)
    await thief.send_json({"type": "auth", "token": token})
    assert await close_code(thief) == 4401
    await unchanged(world, was, pending=[scene])
    await token_refusal_recorded(world, was, "nonce", scene.phone.device_id)
    later = await world.challenge(scene.app, scene.user)
    assert (await next_frame(ws))["challenge"]["challenge_id"] == later["challenge_id"]
    await ws.close()


async def test_expired_token_is_refused(world: World) -> None:
    scene = await stage(world)
    now = int(time.time())
    token = sign(
        scene.phone.key,
        _approval_claims(scene, iat=now - 50, exp=now - 5),
        kid=scene.phone.device_id,
    )
    await _refused(world, scene, token, "expired")


async def test_token_issued_in_the_future_is_refused(world: World) -> None:
    scene = await stage(world)
    now = int(time.time())
    token = sign(
        scene.phone.key,
        _approval_claims(scene, iat=now + 120, exp=now + 180),
        kid=scene.phone.device_id,
    )
    await _refused(world, scene, token, "iat_skew")


async def test_token_living_longer_than_300_seconds_is_refused(world: World) -> None:
    scene = await stage(world)
    now = int(time.time())
    token = sign(
        scene.phone.key, _approval_claims(scene, iat=now, exp=now + 301), kid=scene.phone.device_id
    )
    await _refused(world, scene, token, "lifetime")


async def test_token_for_another_audience_is_refused(world: World) -> None:
    scene = await stage(world)
    token = sign(
        scene.phone.key, _approval_claims(scene, aud="another-service"), kid=scene.phone.device_id
    )
    await _refused(world, scene, token, "aud")


async def test_audience_as_a_list_is_refused(world: World) -> None:
    scene = await stage(world)
    token = sign(
        scene.phone.key, _approval_claims(scene, aud=["push-approval"]), kid=scene.phone.device_id
    )
    await _refused(world, scene, token, "aud")


async def test_alg_none_is_refused(world: World) -> None:
    scene = await stage(world)
    token = forge({"alg": "none", "kid": scene.phone.device_id}, _approval_claims(scene), b"")
    await _refused(world, scene, token, "alg", claimed=None)


@pytest.mark.parametrize("secret", ["raw public key bytes", "JWK x string"])
async def test_hs256_signed_with_the_public_key_as_hmac_secret_is_refused(
    world: World, secret: str
) -> None:
    scene = await stage(world)
    key = raw_public(scene.phone.key)
    mac_key = key if secret == "raw public key bytes" else b64url(key).encode()
    header = {"alg": "HS256", "typ": "JWT", "kid": scene.phone.device_id}
    signing_input = ".".join(
        b64url(json.dumps(part).encode()) for part in (header, _approval_claims(scene))
    )
    mac = hmac.new(mac_key, signing_input.encode(), hashlib.sha256).digest()
    await _refused(world, scene, f"{signing_input}.{b64url(mac)}", "alg", claimed=None)


async def test_rs256_token_is_refused(world: World) -> None:
    scene = await stage(world)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(
        _approval_claims(scene), rsa_key, algorithm="RS256", headers={"kid": scene.phone.device_id}
    )
    await _refused(world, scene, token, "alg", claimed=None)


async def test_token_with_critical_header_is_refused(world: World) -> None:
    scene = await stage(world)
    header = json.dumps({"alg": "EdDSA", "kid": scene.phone.device_id, "crit": ["exp"]})
    token = sign_raw(scene.phone.key, header, json.dumps(_approval_claims(scene)))
    await _refused(world, scene, token, "crit", claimed=None)


async def test_kid_of_another_device_signed_by_the_attackers_own_key_is_refused(
    world: World,
) -> None:
    scene = await stage(world)
    mallory = await world.enroll("mallory", scene.app)
    claims = _approval_claims(scene, iss=scene.phone.device_id)
    token = sign(mallory.key, claims, kid=scene.phone.device_id)
    await _refused(world, scene, token, "invalid_token")


async def test_kid_of_a_revoked_device_is_refused(world: World) -> None:
    scene = await stage(world)
    lost = await world.enroll(scene.user, scene.app)
    gone = await world.client.delete(f"/v1/admin/devices/{lost.device_id}", headers=ADMIN)
    assert gone.status == 204
    token = lost.response(scene.view, number=scene.challenge["match_number"])
    await _refused(world, scene, token, "unknown_device", claimed=lost.device_id)


async def test_iss_naming_another_device_than_kid_is_refused(world: World) -> None:
    scene = await stage(world)
    tablet = await world.enroll(scene.user, scene.app)
    token = sign(
        scene.phone.key, _approval_claims(scene, iss=tablet.device_id), kid=scene.phone.device_id
    )
    await _refused(world, scene, token, "iss")


async def test_duplicate_claim_names_under_a_valid_signature_are_refused(world: World) -> None:
    scene = await stage(world)
    claims = json.dumps(_approval_claims(scene, decision="deny"))
    # A parser keeping the last member would read "approve"; one keeping the first, "deny".
    payload = claims[:-1] + ', "decision": "approve"}'
    header = json.dumps({"alg": "EdDSA", "kid": scene.phone.device_id})
    token = sign_raw(scene.phone.key, header, payload)
    await _refused(world, scene, token, "invalid_token", claimed=None)


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"iat": "now"}, "claim_type"),
        ({"exp": 1.0e12}, "claim_type"),
        ({"iat": True}, "claim_type"),
        ({"jti": None}, "jti"),
        ({"jti": "short"}, "jti"),
        ({"cid": None}, "claims"),
        ({"decision": "maybe"}, "claims"),
        ({"number": 123}, "claims"),
        ({"fraud": True}, "claims"),
    ],
)
async def test_mistyped_or_missing_claims_are_refused(
    world: World, override: dict[str, Any], reason: str
) -> None:
    scene = await stage(world)
    token = sign(scene.phone.key, _approval_claims(scene, **override), kid=scene.phone.device_id)
    await _refused(world, scene, token, reason)


async def test_response_token_of_another_device_on_this_stream_is_refused(world: World) -> None:
    scene = await stage(world)
    tablet = await world.enroll(scene.user, scene.app)
    ws = await connect(world, scene.phone)
    assert (await next_frame(ws))["challenge"]["challenge_id"] == scene.cid
    was = await before(world)
    stolen = tablet.response(scene.view, number=scene.challenge["match_number"])
    await ws.send_json({"type": "response", "token": stolen})
    frame = await next_frame(ws)
    assert (frame["code"], frame["challenge_id"]) == ("invalid_token", scene.cid)
    await unchanged(world, was, pending=[scene])
    await ws.close()
