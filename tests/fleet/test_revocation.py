"""Revocation and key rotation take effect on every instance at once, whichever was called."""

from __future__ import annotations

import dataclasses
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.fleet.conftest import Scene
from tests.fleet.support import ADMIN_TOKEN, eventually, is_contract_error
from tests.phone import jwk, sign


async def test_a_device_revoked_through_one_instance_is_cut_off_on_every_instance(
    scene: Scene,
) -> None:
    fleet = await scene.fleet(scene.redis(), 3)
    one, two, three = endpoints = [scene.endpoint(url) for url in fleet.urls]
    app = await one.new_app()
    revoked, kept = await one.enroll("erin", app), await three.enroll("erin", app)
    link = await scene.link(two.url, revoked)
    other = await scene.link(two.url, kept)
    made = await three.challenge(app, "erin")
    cid = made["challenge_id"]
    view = await link.challenge(cid)
    kept_view = await other.challenge(cid)

    started = time.monotonic()
    await one.revoke(revoked.device_id)
    code = await link.closed_with(within=3.0)
    took = time.monotonic() - started
    assert code == 4403
    assert took < 3.0, f"the stream closed {took:.2f} s after the revocation"

    for endpoint in endpoints:
        polled = await endpoint.pending(revoked)
        assert is_contract_error(polled, 401, "invalid_token"), (endpoint.url, polled)
        answered = await endpoint.respond(revoked, view, "approve", number=made["match_number"])
        assert is_contract_error(answered, 401, "invalid_token"), (endpoint.url, answered)
        attempt = await scene.attempt(endpoint.url, revoked)
        assert attempt.ready is None
        assert await attempt.closed_with() == 4401
    assert (await three.get(app, cid))["status"] == "pending"

    # Only that device is cut off: the user's other phone, on the same instance, answers.
    assert not other.closed
    await other.send_response(kept_view, "approve", number=made["match_number"])
    assert (await other.outcome(cid))["status"] == "approved"


async def test_a_key_rotated_through_one_instance_is_refused_at_once_on_another(
    scene: Scene,
) -> None:
    fleet = await scene.fleet(scene.redis(), 2)
    one, two = (scene.endpoint(url) for url in fleet.urls)
    app = await one.new_app()
    phone = await one.enroll("frank", app)
    new_key = Ed25519PrivateKey.generate()
    rotated = dataclasses.replace(phone, key=new_key)
    proof = sign(new_key, {"device_id": phone.device_id, "iat": int(time.time())})

    await one.ok(
        "POST",
        "/v1/devices/me/key",
        headers=phone.bearer(),
        body={"public_key": jwk(new_key), "proof": proof},
    )
    # At once, with no pause: the old key is refused on the other instance...
    polled = await two.pending(phone)
    assert is_contract_error(polled, 401, "invalid_token"), polled
    attempt = await scene.attempt(two.url, phone)
    assert attempt.ready is None
    assert await attempt.closed_with() == 4401
    # ...and the new one accepted there.
    assert (await two.pending(rotated)).status == 200
    link = await scene.link(two.url, rotated)
    made = await one.challenge(app, "frank")
    view = await link.challenge(made["challenge_id"])
    await link.send_response(view, "approve", number=made["match_number"])
    assert (await link.outcome(made["challenge_id"]))["status"] == "approved"


async def test_an_app_deleted_on_one_instance_is_refused_on_another_at_once(
    scene: Scene,
) -> None:
    fleet = await scene.fleet(scene.redis(), 2)
    first, second = (scene.endpoint(url) for url in fleet.urls)
    app = await first.new_app()
    await second.enrollment("zoe", app)  # the key is now known to the second instance
    await first.ok("DELETE", f"/v1/admin/apps/{app['app_id']}", 204, token=ADMIN_TOKEN)

    async def refused() -> bool:
        reply = await second.call(
            "POST", "/v1/enrollments", token=app["api_key"], body={"user_id": "zoe"}
        )
        return is_contract_error(reply, 401, "unauthorized")

    await eventually(refused, "the deleted app's key refused on the other instance", within=1)
