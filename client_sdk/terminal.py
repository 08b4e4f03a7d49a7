"""Terminal input and text for the ``push-device`` and ``push-admin`` commands.

Reads stdin lines in a background thread, so waiting for the user never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from .models import DeviceChallenge


def run_command(command: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine to completion, as a command's entry point does.

    Args:
        command: The command, returning its exit status.

    Returns:
        The command's exit status (130 after Ctrl-C).
    """
    try:
        return asyncio.run(command)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


def one_line(exc: Exception) -> str:
    """Return an exception's text on one line (its type's name when it has no text)."""
    return " ".join(str(exc).split()) or type(exc).__name__


class LineSource(Protocol):
    """Where answers typed by the user come from."""

    async def get(self) -> str | None:
        """Return the next line without its newline, or None once input has ended."""
        ...

    def drain(self) -> None:
        """Discard lines typed before now, so they cannot answer a newer question."""
        ...


class ThreadLineReader:
    """A `LineSource` reading a text stream (normally stdin) in a daemon thread."""

    def __init__(self, stream: TextIO) -> None:
        """Start reading.

        Must be called from a running event loop.

        Args:
            stream: The text stream to read lines from.
        """
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._ended = False
        self._thread = threading.Thread(
            target=self._read, args=(stream,), name="push-device-stdin", daemon=True
        )
        self._thread.start()

    def _read(self, stream: TextIO) -> None:
        while True:
            try:
                line = stream.readline()
            except (OSError, ValueError):
                line = ""
            item = line.rstrip("\r\n") if line else None
            try:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
            except RuntimeError:  # the event loop has closed: nobody listens any more
                return
            if item is None:
                return

    async def get(self) -> str | None:
        """Return the next line without its newline, or None once input has ended."""
        if self._ended:
            return None
        line = await self._queue.get()
        if line is None:
            self._ended = True
        return line

    def drain(self) -> None:
        """Discard lines typed before now, keeping track of the end of input."""
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                if self._queue.get_nowait() is None:
                    self._ended = True


def printable(text: str) -> str:
    """Replace characters that could control the terminal (the service refuses them too).

    Args:
        text: Text from the service.

    Returns:
        The text with non-printable characters replaced by ``?``.
    """
    return "".join(char if char.isprintable() else "?" for char in text)


def describe_challenge(challenge: DeviceChallenge, now: datetime | None = None) -> str:
    """Format a challenge for the user: app, user, context and time left.

    Args:
        challenge: The challenge to show.
        now: The current time (defaults to the clock).

    Returns:
        Several lines of text, without a final newline.
    """
    current = datetime.now(UTC) if now is None else now
    lines = [
        f"Sign-in request from {printable(challenge.app.name)} "
        f"(user {printable(challenge.user_id)})"
    ]
    width = max((len(key) for key in challenge.context), default=0)
    for key, value in challenge.context.items():
        lines.append(f"  {printable(key) + ':':<{width + 1}} {printable(value)}")
    seconds = max(0, int(challenge.seconds_left(current)))
    lines.append(f"  Expires in {seconds} s. Challenge id: {printable(challenge.challenge_id)}")
    return "\n".join(lines)


def describe_end(status: str) -> str:
    """Say how a challenge ended without this device's answer.

    Args:
        status: The challenge's final status.

    Returns:
        A phrase such as ``"was approved on another device"``.
    """
    phrases = {
        "approved": "was approved on another device",
        "denied": "was denied on another device",
        "expired": "expired",
        "cancelled": "was cancelled by the app",
    }
    return phrases.get(status, f"ended ({printable(status)})")
