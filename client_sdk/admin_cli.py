"""The ``push-admin`` command: the operator's terminal for a push approval service.

Finds the service and the admin token, runs one command, and turns failures into one line on
stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from . import admin_commands as commands
from .admin_client import AdminClient
from .admin_output import Output
from .admin_parser import DEFAULT_URL, PROG, TOKEN_ENV, URL_ENV, build_parser
from .errors import CONNECTION_ERROR, PushApprovalError
from .terminal import one_line, run_command

__all__ = [
    "DEFAULT_URL",
    "PROG",
    "TOKEN_ENV",
    "URL_ENV",
    "UsageError",
    "admin_token",
    "describe_error",
    "main",
    "run",
]


class UsageError(Exception):
    """The command cannot run as given (e.g. no admin token)."""


async def run(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run one ``push-admin`` command.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
        out: Where results go (default: stdout).
        err: Where warnings and errors go (default: stderr).
        environ: Where ``PUSH_URL`` and ``PUSH_ADMIN_TOKEN`` are read (default: the process
            environment).

    Returns:
        The exit status: 0 on success, 1 on failure (after one line on ``err``).

    Raises:
        SystemExit: For invalid arguments (exit status 2, from argparse).
    """
    args = build_parser().parse_args(argv)
    output = Output(out or sys.stdout, err or sys.stderr, as_json=args.json)
    env = os.environ if environ is None else environ
    handler: commands.Handler = args.handler
    try:
        token = admin_token(args.token, env)
        async with AdminClient(args.url or env.get(URL_ENV) or DEFAULT_URL, token) as admin:
            return await handler(admin, args, output)
    except (PushApprovalError, UsageError, ValueError) as exc:
        print(f"{PROG}: {describe_error(exc)}", file=output.err)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``push-admin`` command.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status (130 after Ctrl-C).
    """
    return run_command(run(argv))


def admin_token(given: str | None, environ: Mapping[str, str]) -> str:
    """Choose the admin token: ``--token`` if given, else ``$PUSH_ADMIN_TOKEN``.

    Args:
        given: The ``--token`` value, or None.
        environ: The environment.

    Returns:
        The token, never empty.

    Raises:
        UsageError: If neither holds a token.
    """
    token = given if given is not None else environ.get(TOKEN_ENV, "")
    if not token.strip():
        raise UsageError(f"No admin token: set {TOKEN_ENV} (or pass --token).")
    return token.strip()


def describe_error(exc: Exception) -> str:
    """Say what went wrong in one line, with a hint for the usual causes.

    Args:
        exc: The failure.

    Returns:
        The text after ``push-admin:``.
    """
    text = one_line(exc)
    if isinstance(exc, PushApprovalError) and exc.code == "unauthorized":
        text += f" Check the admin token ({TOKEN_ENV} or --token)."
    elif isinstance(exc, PushApprovalError) and exc.code == CONNECTION_ERROR:
        text += f" Is the service running there? Set its URL with --url or {URL_ENV}."
    return text
