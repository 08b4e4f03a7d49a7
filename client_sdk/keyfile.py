"""The device key file: a private JSON file with the device's identity and private key.

Written atomically with mode 0600 from creation; loading refuses a file others can access.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import KeyFileError
from .keys import DeviceKey

FORMAT_VERSION = 1
_PRIVATE_MODE = 0o600


@dataclass(frozen=True)
class KeyFile:
    """A device's identity and private key, and the path of the file holding them."""

    path: Path
    device_id: str
    user_id: str
    issuer: str
    base_url: str
    key: DeviceKey
    name: str | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyFile:
        """Read a key file.

        Args:
            path: The key file's path.

        Returns:
            The key file's contents.

        Raises:
            KeyFileError: If the file is missing or unreadable, is accessible to its group or
                to others, or does not hold a valid device identity.
        """
        file_path = Path(path).expanduser()
        try:
            fd = os.open(file_path, os.O_RDONLY)
        except FileNotFoundError:
            raise KeyFileError(
                f"No device key file at {file_path}; enroll this device first."
            ) from None
        except OSError as exc:
            raise KeyFileError(f"Cannot open key file {file_path}: {exc.strerror}.") from None
        with os.fdopen(fd, "rb") as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            if os.name == "posix" and mode & 0o077:
                raise KeyFileError(
                    f"Key file {file_path} is accessible to other users (mode {mode:04o}); "
                    f"run 'chmod 600 {file_path}' and make sure nobody else copied the key."
                )
            try:
                raw = handle.read()
            except OSError as exc:
                raise KeyFileError(f"Cannot read key file {file_path}: {exc.strerror}.") from None
        return cls._from_json(file_path, raw)

    @classmethod
    def _from_json(cls, path: Path, raw: bytes) -> KeyFile:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            raise KeyFileError(f"Key file {path} is not valid JSON.") from None
        fields = ("device_id", "user_id", "issuer", "base_url", "private_key")
        if not isinstance(data, dict) or not all(
            isinstance(data.get(name), str) and data[name] for name in fields
        ):
            raise KeyFileError(f"Key file {path} lacks one of: {', '.join(fields)}.")
        if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
            raise KeyFileError(f"Key file {path} has an unsupported format version.")
        try:
            key = DeviceKey.from_b64url(data["private_key"])
        except ValueError:
            raise KeyFileError(f"Key file {path} holds an invalid private key.") from None
        name = data.get("name")
        return cls(
            path=path,
            device_id=data["device_id"],
            user_id=data["user_id"],
            issuer=data["issuer"],
            base_url=data["base_url"],
            key=key,
            name=name if isinstance(name, str) else None,
        )

    def to_json(self) -> dict[str, Any]:
        """Return the file's JSON content (it includes the private key: keep it private)."""
        data: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "device_id": self.device_id,
            "user_id": self.user_id,
            "issuer": self.issuer,
            "base_url": self.base_url,
            "private_key": self.key.private_b64url(),
        }
        if self.name is not None:
            data["name"] = self.name
        return data

    def with_key(self, key: DeviceKey) -> KeyFile:
        """Return a copy holding another key (after a key rotation).

        Args:
            key: The new key.

        Returns:
            The updated key file, not yet saved.
        """
        return dataclasses.replace(self, key=key)

    def save(self, path: str | os.PathLike[str] | None = None) -> None:
        """Write the key file atomically, private to its owner (mode 0600) from creation.

        The content goes to a new temporary file created with mode 0600 next to the target,
        which then replaces the target in one step: readers see the old or the new file,
        never a partial one. A missing parent directory is created with mode 0700.

        Args:
            path: Where to write; defaults to `path`.

        Raises:
            KeyFileError: If the file cannot be written.
        """
        target = Path(path if path is not None else self.path).expanduser()
        content = json.dumps(self.to_json(), indent=2).encode() + b"\n"
        try:
            write_private_file(target, content)
        except OSError as exc:
            raise KeyFileError(f"Cannot write key file {target}: {exc.strerror}.") from None


def write_private_file(target: Path, content: bytes) -> None:
    """Atomically replace ``target`` with ``content``, the file being mode 0600 throughout.

    Args:
        target: The file to create or replace.
        content: The bytes to write.

    Raises:
        OSError: If the directory or file cannot be written.
    """
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            if os.name == "posix":
                os.fchmod(handle.fileno(), _PRIVATE_MODE)
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _sync_directory(target.parent)


def _sync_directory(directory: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
