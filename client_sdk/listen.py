"""The ``push-device listen`` loop: show each challenge, ask the user or answer by rule.

Stream events are handled in one task and questions asked in another, so neither blocks.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TextIO

from .device import DeviceClient
from .errors import NOT_CONNECTED, PushApprovalError
from .events import ChallengeEvent, Disconnected, Ready, Resolved, Result, StreamError
from .models import DeviceChallenge
from .stream import DeviceStream
from .terminal import LineSource, describe_challenge, describe_end, printable

AutoDecision = Literal["approve", "deny"]
_CHOICE_PROMPT = "Answer: [a]pprove, [d]eny, [f]raud (I did not try to sign in): "
_NUMBER_PROMPT = "Type the number shown on the login screen: "
_FORGET_AFTER = timedelta(minutes=5)


@dataclass
class _Answer:
    decision: Literal["approve", "deny"]
    number: str | None = None
    fraud: bool = False


class Listener:
    """Listens on a device stream and answers challenges, asking the user or by rule."""

    def __init__(
        self,
        client: DeviceClient,
        stream: DeviceStream,
        out: TextIO,
        *,
        lines: LineSource | None = None,
        auto: AutoDecision | None = None,
        once: bool = False,
    ) -> None:
        """Set up the listener.

        Args:
            client: The device client (for answering over HTTP when the stream is down).
            stream: The device stream to listen on.
            out: Where to write messages for the user.
            lines: Where the user's answers come from; required unless ``auto`` is set.
            auto: Answer every challenge this way without asking. ``"approve"`` answers only
                challenges without number matching: the number is shown on the login screen,
                which an automatic answer cannot see, so those are left for the user.
            once: Stop after the first answered challenge's outcome is known.

        Raises:
            ValueError: If neither ``lines`` nor ``auto`` is given.
        """
        if lines is None and auto is None:
            raise ValueError("an interactive listener needs a source of lines")
        self._client = client
        self._stream = stream
        self._out = out
        self._lines = lines
        self._auto = auto
        self._once = once
        self._queue: asyncio.Queue[DeviceChallenge] = asyncio.Queue()
        self._known: dict[str, DeviceChallenge] = {}
        self._ended: dict[str, asyncio.Event] = {}
        self._sent: dict[str, _Answer] = {}
        self._open_prompt: str | None = None
        self._done = asyncio.Event()

    async def run(self) -> None:
        """Listen until input ends, ``once`` is satisfied, or the stream fails for good.

        Raises:
            PushApprovalError: If the stream ends for good (auth refused, device revoked).
        """
        tasks = {asyncio.create_task(self._consume())}
        if self._auto is None:
            tasks.add(asyncio.create_task(self._ask_loop()))
        done_waiter = asyncio.create_task(self._done.wait())
        try:
            finished, _ = await asyncio.wait(
                {*tasks, done_waiter}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (*tasks, done_waiter):
                task.cancel()
            await asyncio.gather(*tasks, done_waiter, return_exceptions=True)
            await self._stream.close()
        for task in finished:
            if task is not done_waiter:
                task.result()

    def _say(self, text: str) -> None:
        if self._open_prompt is not None:
            self._out.write("\n")
        self._out.write(text + "\n")
        if self._open_prompt is not None:
            self._out.write(self._open_prompt)
        self._out.flush()

    async def _consume(self) -> None:
        async for event in self._stream:
            if isinstance(event, Ready):
                self._say(
                    "Reconnected."
                    if event.reconnected
                    else "Connected; waiting for sign-in requests."
                )
            elif isinstance(event, Disconnected):
                self._say(
                    f"Connection lost ({event.reason}); reconnecting in {event.retry_in:.1f} s."
                )
            elif isinstance(event, ChallengeEvent):
                await self._on_challenge(event.challenge)
            elif isinstance(event, Result):
                self._on_result(event.challenge_id, event.status)
            elif isinstance(event, Resolved):
                self._on_resolved(event)
            elif isinstance(event, StreamError):
                self._say(
                    f"The service refused the answer: {printable(event.message)} ({event.code})."
                )
                if self._once and event.challenge_id in self._sent:
                    self._done.set()

    async def _on_challenge(self, challenge: DeviceChallenge) -> None:
        self._forget_old()
        self._known[challenge.challenge_id] = challenge
        self._ended[challenge.challenge_id] = asyncio.Event()
        if self._auto is None:
            self._queue.put_nowait(challenge)
            return
        self._say(describe_challenge(challenge))
        if self._auto == "approve" and challenge.number_matching:
            self._say(
                "Not answered: it needs the number shown on the login screen "
                "(answer it with 'push-device respond' or 'push-device listen')."
            )
            return
        await self._send(challenge, _Answer(self._auto))

    def _on_result(self, challenge_id: str, status: str) -> None:
        challenge = self._known.get(challenge_id)
        name = printable(challenge.app.name) if challenge else printable(challenge_id)
        sent = self._sent.get(challenge_id)
        if sent is not None and sent.decision == "approve" and status == "denied":
            self._say(f"{name}: denied; the number did not match the login screen.")
        else:
            self._say(f"{name}: {printable(status)}.")
        self._mark_ended(challenge_id)
        if self._once and sent is not None:
            self._done.set()

    def _on_resolved(self, event: Resolved) -> None:
        challenge = self._known.get(event.challenge_id)
        name = printable(challenge.app.name) if challenge else printable(event.challenge_id)
        self._say(f"Sign-in request from {name} {describe_end(event.status)}.")
        self._mark_ended(event.challenge_id)

    def _forget_old(self) -> None:
        """Drop what is kept about challenges long past their expiry (listening runs for days)."""
        limit = datetime.now(UTC) - _FORGET_AFTER
        for challenge_id, challenge in list(self._known.items()):
            if challenge.expires_at < limit:
                del self._known[challenge_id]
                self._ended.pop(challenge_id, None)
                self._sent.pop(challenge_id, None)

    def _mark_ended(self, challenge_id: str) -> None:
        ended = self._ended.get(challenge_id)
        if ended is not None:
            ended.set()

    async def _ask_loop(self) -> None:
        while True:
            challenge = await self._queue.get()
            ended = self._ended.get(challenge.challenge_id)
            if ended is None or ended.is_set() or challenge.seconds_left() <= 0:
                continue
            self._say(describe_challenge(challenge))
            answer = await self._ask(challenge)
            if answer is not None:
                await self._send(challenge, answer)

    async def _ask(self, challenge: DeviceChallenge) -> _Answer | None:
        while True:
            choice = await self._read(challenge, _CHOICE_PROMPT)
            if choice is None:
                return None
            word = choice.strip().lower()
            if word in ("d", "deny", "n", "no"):
                return _Answer("deny")
            if word in ("f", "fraud"):
                return _Answer("deny", fraud=True)
            if word in ("a", "approve", "y", "yes"):
                if not challenge.number_matching:
                    return _Answer("approve")
                number = await self._read_number(challenge)
                return None if number is None else _Answer("approve", number)
            self._say("Please type a, d or f.")

    async def _read_number(self, challenge: DeviceChallenge) -> str | None:
        while True:
            text = await self._read(challenge, _NUMBER_PROMPT)
            if text is None:
                return None
            number = text.strip()
            if number.isascii() and number.isdigit():
                return number
            self._say("Digits only, please.")

    async def _read(self, challenge: DeviceChallenge, prompt: str) -> str | None:
        """Ask one question; None if input ended or the challenge ended meanwhile."""
        assert self._lines is not None
        self._lines.drain()
        self._out.write(prompt)
        self._out.flush()
        self._open_prompt = prompt
        ended = self._ended.setdefault(challenge.challenge_id, asyncio.Event())
        line_task = asyncio.create_task(self._lines.get())
        ended_task = asyncio.create_task(ended.wait())
        try:
            await asyncio.wait(
                {line_task, ended_task},
                timeout=max(0.0, challenge.seconds_left()),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            self._open_prompt = None
            for task in (line_task, ended_task):
                task.cancel()
            await asyncio.gather(line_task, ended_task, return_exceptions=True)
        if ended_task.done() and not ended_task.cancelled():
            return None  # already announced by the event handler
        if not line_task.done() or line_task.cancelled():
            self._say("\nThe request expired before it was answered.")
            return None
        line = line_task.result()
        if line is None:
            self._say("\nInput ended; no longer listening.")
            self._done.set()
        return line

    async def _send(self, challenge: DeviceChallenge, answer: _Answer) -> None:
        self._sent[challenge.challenge_id] = answer
        try:
            await self._stream.send_response(
                challenge, answer.decision, answer.number, answer.fraud
            )
            return
        except PushApprovalError as exc:
            if exc.code != NOT_CONNECTED:
                raise
        try:
            result = await self._client.respond(
                challenge, answer.decision, answer.number, answer.fraud
            )
        except PushApprovalError as exc:
            self._say(f"The answer was not accepted: {exc}.")
            if self._once:
                self._done.set()
            return
        self._on_result(result.challenge_id, result.status)
