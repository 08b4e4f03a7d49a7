"""The key file: private (0600) from creation, atomic, and refused when others can read it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from client_sdk import DeviceKey, KeyFile, KeyFileError


def _key_file(path: Path) -> KeyFile:
    return KeyFile(
        path=path,
        device_id="dev_1",
        user_id="alice",
        issuer="push-approval",
        base_url="https://push.example.com",
        key=DeviceKey.generate(),
        name="phone",
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_saved_key_file_is_mode_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    path = tmp_path / "device.json"
    old = os.umask(0)
    try:
        _key_file(path).save()
    finally:
        os.umask(old)
    assert _mode(path) == 0o600


def test_missing_parent_directory_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "config" / "push-device" / "device.json"
    _key_file(path).save()
    assert _mode(path.parent) == 0o700
    assert _mode(path) == 0o600


def test_key_file_round_trips_identity_and_key(tmp_path: Path) -> None:
    original = _key_file(tmp_path / "device.json")
    original.save()
    loaded = KeyFile.load(original.path)
    assert (loaded.device_id, loaded.user_id, loaded.issuer, loaded.base_url, loaded.name) == (
        "dev_1",
        "alice",
        "push-approval",
        "https://push.example.com",
        "phone",
    )
    assert loaded.key.public_jwk() == original.key.public_jwk()


def test_key_file_holds_the_private_key_as_32_raw_bytes_base64url(tmp_path: Path) -> None:
    original = _key_file(tmp_path / "device.json")
    original.save()
    data = json.loads(original.path.read_text())
    assert data["private_key"] == original.key.private_b64url()
    assert "=" not in data["private_key"]


def test_saving_replaces_the_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "device.json"
    first = _key_file(path)
    first.save()
    second = first.with_key(DeviceKey.generate())
    second.save()
    assert KeyFile.load(path).key.public_jwk() == second.key.public_jwk()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["device.json"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_loading_refuses_a_key_file_readable_by_group_or_others(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "device.json"
    _key_file(path).save()
    path.chmod(mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        KeyFile.load(path)


def test_loading_a_missing_key_file_says_to_enroll(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="enroll"):
        KeyFile.load(tmp_path / "absent.json")


def test_loading_a_malformed_key_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "device.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b'{"device_id": "dev_1"}')
    os.close(fd)
    with pytest.raises(KeyFileError, match="lacks"):
        KeyFile.load(path)
