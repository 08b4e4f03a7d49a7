"""The ``push-device`` command: a terminal push approval device.

Parses arguments, runs one command, and turns failures into one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .backoff import Backoff
from .device import DeviceClient
from .enroll import parse_enrollment_uri
from .errors import EnrollmentURIError, KeyFileError, PushApprovalError
from .listen import Listener
from .models import DeviceChallenge
from .stream import DeviceStream
from .terminal import (
    LineSource,
    ThreadLineReader,
    describe_challenge,
    one_line,
    printable,
    run_command,
)

KEY_FILE_ENV = "PUSH_DEVICE_KEY_FILE"
PROG = "push-device"
LISTEN_BACKOFF = Backoff(base=1.0, cap=60.0)


def default_key_file() -> Path:
    """Return the key file path used when ``--key-file`` is not given.

    Returns:
        ``$PUSH_DEVICE_KEY_FILE`` if set, else ``push-device/device.json`` under
        ``$XDG_CONFIG_HOME`` (default ``~/.config``).
    """
    from_env = os.environ.get(KEY_FILE_ENV)
    if from_env:
        return Path(from_env).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "push-device" / "device.json"


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``push-device``.

    Returns:
        The parser; each sub-command stores its handler's name in ``command``.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help=f"device key file (default: ${KEY_FILE_ENV} or ~/.config/push-device/device.json)",
    )
    parser = argparse.ArgumentParser(
        prog=PROG, description="Approve or deny sign-in requests from this terminal."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    enroll = commands.add_parser(
        "enroll", parents=[common], help="enroll this device with an enrollment URI"
    )
    enroll.add_argument("uri", help="the pushapproval://enroll?... URI (from the QR code)")
    enroll.add_argument("--name", help="a name for this device (default: the host name)")
    enroll.add_argument(
        "--force", action="store_true", help="replace an existing key file at the same path"
    )

    listen = commands.add_parser(
        "listen", parents=[common], help="wait for sign-in requests and answer them"
    )
    listen.add_argument(
        "--auto",
        choices=("approve", "deny"),
        help="answer without asking; 'approve' answers only requests without number "
        "matching (the number is on the login screen, which a script cannot see)",
    )
    listen.add_argument("--once", action="store_true", help="stop after the first answered request")

    pending = commands.add_parser(
        "pending", parents=[common], help="list pending requests (without the stream)"
    )
    pending.add_argument("--json", action="store_true", help="print JSON")

    respond = commands.add_parser(
        "respond", parents=[common], help="answer a pending request (without the stream)"
    )
    respond.add_argument("challenge_id", metavar="CHALLENGE_ID")
    respond.add_argument("decision", choices=("approve", "deny", "fraud"))
    respond.add_argument("--number", help="the number shown on the login screen (approve)")

    commands.add_parser("rotate-key", parents=[common], help="replace this device's key")
    revoke = commands.add_parser(
        "revoke", parents=[common], help="revoke this device and delete its key file"
    )
    revoke.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    commands.add_parser("status", parents=[common], help="show this device and check it")
    return parser


@dataclass
class _Io:
    out: TextIO
    err: TextIO
    stdin: TextIO
    lines: LineSource | None = None


async def run(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
    lines: LineSource | None = None,
) -> int:
    """Run one ``push-device`` command.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
        out: Where normal output goes (default: stdout).
        err: Where errors go (default: stderr).
        stdin: Where confirmations are read from (default: stdin).
        lines: Source of interactive answers for ``listen`` (default: a reader of stdin).

    Returns:
        The exit status: 0 on success, 1 on failure (after one line on ``err``).

    Raises:
        SystemExit: For invalid arguments (exit status 2, from argparse).
    """
    args = build_parser().parse_args(argv)
    io = _Io(out or sys.stdout, err or sys.stderr, stdin or sys.stdin, lines)
    key_path: Path = args.key_file or default_key_file()
    try:
        handler = _HANDLERS[args.command]
        return await handler(args, key_path, io)
    except (PushApprovalError, KeyFileError, EnrollmentURIError, ValueError) as exc:
        print(f"{PROG}: {one_line(exc)}", file=io.err)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``push-device`` command.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status (130 after Ctrl-C).
    """
    return run_command(run(argv))


async def _enroll(args: argparse.Namespace, key_path: Path, io: _Io) -> int:
    enrollment = parse_enrollment_uri(args.uri)
    if enrollment.insecure:
        print(
            f"Warning: {enrollment.url} is not https; tokens and answers travel unprotected.",
            file=io.err,
        )
    name = args.name or socket.gethostname()
    async with await DeviceClient.enroll_from_uri(
        args.uri, name, key_path, overwrite=args.force
    ) as device:
        print(
            f"Enrolled device {device.device_id} for user {device.user_id} at "
            f"{device.base_url}. Key saved to {key_path}.",
            file=io.out,
        )
    return 0


async def _listen(args: argparse.Namespace, key_path: Path, io: _Io) -> int:
    async with DeviceClient.load(key_path) as device:
        stream = DeviceStream(device, backoff=LISTEN_BACKOFF)
        lines = io.lines
        if lines is None and args.auto is None:
            lines = ThreadLineReader(io.stdin)
        print(
            f"Listening for sign-in requests for {device.user_id} at {device.base_url} "
            "(Ctrl-C to stop).",
            file=io.out,
            flush=True,
        )
        listener = Listener(device, stream, io.out, lines=lines, auto=args.auto, once=args.once)
        await listener.run()
    return 0


async def _pending(args: argparse.Namespace, key_path: Path, io: _Io) -> int:
    async with DeviceClient.load(key_path) as device:
        challenges = await device.pending()
    if args.json:
        print(json.dumps([_challenge_json(c) for c in challenges], indent=2), file=io.out)
    elif not challenges:
        print("No pending sign-in requests.", file=io.out)
    else:
        for challenge in challenges:
            print(describe_challenge(challenge), file=io.out)
            number = "yes" if challenge.number_matching else "no"
            print(f"  Number matching: {number}", file=io.out)
    return 0


def _challenge_json(challenge: DeviceChallenge) -> dict[str, object]:
    return {
        "challenge_id": challenge.challenge_id,
        "user_id": challenge.user_id,
        "app": {"app_id": challenge.app.app_id, "name": challenge.app.name},
        "context": challenge.context,
        "number_matching": challenge.number_matching,
        "created_at": challenge.created_at.isoformat(),
        "expires_at": challenge.expires_at.isoformat(),
    }


async def _respond(args: argparse.Namespace, key_path: Path, io: _Io) -> int:
    decision: str = args.decision
    number: str | None = args.number
    if number is not None and decision != "approve":
        raise ValueError("--number goes only with approve")
    async with DeviceClient.load(key_path) as device:
        found = [c for c in await device.pending() if c.challenge_id == args.challenge_id]
        if not found:
            raise ValueError(
                f"No pending request {args.challenge_id} for this device (it may have ended)."
            )
        challenge = found[0]
        if decision == "approve":
            if challenge.number_matching and number is None:
                raise ValueError(
                    "This request uses number matching: add --number with the number shown "
                    "on the login screen."
                )
            result = await device.approve(challenge, number)
        elif decision == "fraud":
            result = await device.report_fraud(challenge)
        else:
            result = await device.deny(challenge)
    mismatch = decision == "approve" and result.status == "denied"
    note = " (the number did not match)" if mismatch else ""
    print(f"{printable(challenge.app.name)}: {printable(result.status)}{note}.", file=io.out)
    return 0


async def _rotate_key(args: argparse.Namespace, key_path: Path, io: _Io) -> int:
    async with DeviceClient.load(key_path) as device:
        await device.rotate_key()
        print(f"Device {device.device_id} now uses a new key, saved to {key_path}.", file=io.out)
    return 0


async def _revoke(args: argparse.Namespace, key_path: Path, io: _Io) -> int:
    async with DeviceClient.load(key_path) as device:
        if not args.yes:
            if not io.stdin.isatty():
                raise ValueError("Refusing to revoke without confirmation; add --yes.")
            print(
                f"Revoke device {device.device_id} of {device.user_id}? It will no longer "
                "approve anything. [y/N] ",
                end="",
                file=io.out,
                flush=True,
            )
            answer = await asyncio.to_thread(io.stdin.readline)
            if answer.strip().lower() not in ("y", "yes"):
                print("Not revoked.", file=io.out)
                return 1
        await device.revoke()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(device.key_file.path)
    print(
        f"Device {device.device_id} revoked; key file {device.key_file.path} deleted.", file=io.out
    )
    return 0


async def _status(args: argparse.Namespace, key_path: Path, io: _Io) -> int:
    async with DeviceClient.load(key_path) as device:
        kf = device.key_file
        print(f"Key file:  {kf.path}", file=io.out)
        print(f"Device:    {kf.device_id}" + (f" ({kf.name})" if kf.name else ""), file=io.out)
        print(f"User:      {kf.user_id}", file=io.out)
        print(f"Service:   {kf.base_url} (issuer {kf.issuer})", file=io.out)
        discovery = await device.discovery()
        if discovery.get("issuer") != kf.issuer:
            raise ValueError(
                f"The service's issuer is now {discovery.get('issuer')!r}, not {kf.issuer!r}; "
                "enroll this device again."
            )
        pending = await device.pending()
        print(
            f"Status:    accepted by the service; {len(pending)} pending request(s).", file=io.out
        )
    return 0


_HANDLERS = {
    "enroll": _enroll,
    "listen": _listen,
    "pending": _pending,
    "respond": _respond,
    "rotate-key": _rotate_key,
    "revoke": _revoke,
    "status": _status,
}
