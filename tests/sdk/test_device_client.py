"""The device's HTTP client against the fake service: enroll, poll, answer, rotate, revoke."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from client_sdk import DeviceClient, KeyFile, KeyFileError, PushApprovalError

from .conftest import Running


async def test_enrollment_registers_a_proven_key_and_saves_a_private_key_file(
    running: Running, tmp_path: Path
) -> None:
    path = tmp_path / "phone" / "device.json"
    uri = running.service.enrollment_uri(running.base_url, user_id="alice")
    async with await DeviceClient.enroll_from_uri(uri, "Alice's phone", path) as device:
        assert device.user_id == "alice"
        registered = running.service.devices[device.device_id]
    assert registered.name == "Alice's phone"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = KeyFile.load(path)
    assert saved.device_id == device.device_id
    assert saved.base_url == running.base_url
    assert saved.issuer == running.service.issuer
    assert saved.key.public_key.public_bytes_raw() == registered.public_key.public_bytes_raw()


async def test_enrollment_with_a_used_code_is_invalid_enrollment_and_writes_nothing(
    running: Running, tmp_path: Path
) -> None:
    uri = running.service.enrollment_uri(running.base_url)
    first = await DeviceClient.enroll_from_uri(uri, "one", tmp_path / "one.json")
    await first.close()
    with pytest.raises(PushApprovalError) as caught:
        await DeviceClient.enroll_from_uri(uri, "two", tmp_path / "two.json")
    assert (caught.value.code, caught.value.status) == ("invalid_enrollment", 400)
    assert not (tmp_path / "two.json").exists()


async def test_enrollment_refuses_to_overwrite_an_existing_key_file(
    running: Running, device: DeviceClient
) -> None:
    uri = running.service.enrollment_uri(running.base_url)
    with pytest.raises(KeyFileError, match="already exists"):
        await DeviceClient.enroll_from_uri(uri, "again", device.key_file.path)
    assert len(running.service.codes) == 1  # the code was not spent


async def test_pending_lists_the_users_challenges_with_a_valid_device_token(
    running: Running, device: DeviceClient
) -> None:
    challenge = running.service.add_challenge("alice")
    running.service.add_challenge("bob")
    pending = await device.pending()
    assert [c.challenge_id for c in pending] == [challenge.challenge_id]
    assert pending[0].app.name == "Intranet"
    assert pending[0].expires_at.tzinfo is not None


async def test_approve_with_the_right_number_approves(
    running: Running, device: DeviceClient
) -> None:
    challenge = running.service.add_challenge(match_number="042")
    (shown,) = await device.pending()
    result = await device.approve(shown, "042")
    assert (result.challenge_id, result.status) == (challenge.challenge_id, "approved")
    claims = running.service.response_claims[-1]
    assert (claims["decision"], claims["number"], claims["nonce"]) == (
        "approve",
        "042",
        challenge.view["nonce"],
    )


async def test_report_fraud_denies_with_reason_fraud_reported(
    running: Running, device: DeviceClient
) -> None:
    challenge = running.service.add_challenge()
    (shown,) = await device.pending()
    result = await device.report_fraud(shown)
    assert result.status == "denied"
    assert challenge.reason == "fraud_reported"


async def test_answering_an_ended_challenge_is_challenge_not_pending(
    running: Running, device: DeviceClient
) -> None:
    running.service.add_challenge()
    (shown,) = await device.pending()
    await device.deny(shown)
    with pytest.raises(PushApprovalError) as caught:
        await device.deny(shown)
    assert (caught.value.code, caught.value.status) == ("challenge_not_pending", 409)


async def test_rotate_key_switches_the_service_and_the_key_file_to_the_new_key(
    running: Running, device: DeviceClient
) -> None:
    path = device.key_file.path
    old_public = device.key_file.key.public_jwk()
    await device.rotate_key()
    new_public = device.key_file.key.public_jwk()
    assert new_public != old_public
    assert KeyFile.load(path).key.public_jwk() == new_public
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    assert await device.pending() == []  # the service accepts the new key


async def test_rotate_key_refused_by_the_service_keeps_the_old_key(
    running: Running, device: DeviceClient
) -> None:
    path = device.key_file.path
    old_public = device.key_file.key.public_jwk()
    running.service.devices[device.device_id].revoked = True
    with pytest.raises(PushApprovalError) as caught:
        await device.rotate_key()
    assert caught.value.code == "invalid_token"
    assert KeyFile.load(path).key.public_jwk() == old_public
    assert device.key_file.key.public_jwk() == old_public
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


async def test_rotate_key_refuses_to_start_while_an_unfinished_rotation_is_on_disk(
    running: Running, device: DeviceClient
) -> None:
    leftover = device.key_file.path.with_name(device.key_file.path.name + ".rotating")
    leftover.write_text("{}")
    with pytest.raises(KeyFileError, match="did not finish"):
        await device.rotate_key()
    assert running.service.rotations == 0


async def test_revoke_makes_the_service_refuse_the_device(
    running: Running, device: DeviceClient
) -> None:
    await device.revoke()
    assert running.service.devices[device.device_id].revoked
    with pytest.raises(PushApprovalError) as caught:
        await device.pending()
    assert (caught.value.code, caught.value.status) == ("invalid_token", 401)
