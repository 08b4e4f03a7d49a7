"""Terminal helpers: stdin read off the event loop, and safe display of service text."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

from client_sdk import AppInfo, DeviceChallenge
from client_sdk.terminal import ThreadLineReader, describe_challenge, printable


async def test_thread_line_reader_yields_lines_then_none_at_end_of_input() -> None:
    reader = ThreadLineReader(io.StringIO("approve\r\n042\n"))
    assert [await reader.get(), await reader.get(), await reader.get()] == ["approve", "042", None]
    assert await reader.get() is None


async def test_drain_discards_lines_typed_before_the_question_and_keeps_end_of_input() -> None:
    reader = ThreadLineReader(io.StringIO("typed ahead\n"))
    for _ in range(100):  # let the reading thread queue the line and the end of input
        await asyncio.sleep(0.01)
        if reader._queue.qsize() == 2:
            break
    reader.drain()
    assert await reader.get() is None


def test_control_characters_from_the_service_are_not_sent_to_the_terminal() -> None:
    assert printable("Intra\x1b[2Jnet\u202e") == "Intra?[2Jnet?"


def test_challenge_description_shows_app_user_context_and_time_left() -> None:
    now = datetime(2026, 12, 3, 15, 40, tzinfo=UTC)
    challenge = DeviceChallenge(
        challenge_id="ch_1",
        user_id="alice",
        app=AppInfo("app_1", "Intranet"),
        context={"action": "Sign in", "ip": "203.0.113.7"},
        number_matching=True,
        nonce="n",
        created_at=now,
        expires_at=now + timedelta(seconds=42),
    )
    text = describe_challenge(challenge, now=now)
    assert text.splitlines() == [
        "Sign-in request from Intranet (user alice)",
        "  action: Sign in",
        "  ip:     203.0.113.7",
        "  Expires in 42 s. Challenge id: ch_1",
    ]
