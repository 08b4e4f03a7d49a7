"""The command line of ``push-admin``: its commands, their arguments and their handlers.

Global options are accepted before and after the command.
"""

from __future__ import annotations

import argparse
from typing import TypeAlias

from . import admin_commands as commands
from .admin_audit import audit

PROG = "push-admin"
URL_ENV = "PUSH_URL"
TOKEN_ENV = "PUSH_ADMIN_TOKEN"  # noqa: S105 (the variable's name, not a token)
DEFAULT_URL = "http://127.0.0.1:8080"
CHALLENGE_STATUSES = ("pending", "approved", "denied", "expired", "cancelled")
DELIVERY_STATES = ("pending", "failing", "dead", "delivered")
PAGE_LIMIT = 1000

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``push-admin``.

    The global options (``--url``, ``--token``, ``--json``) go before or after the command.

    Returns:
        The parser; each command stores its handler in ``handler``.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[_global_options(after_command=False)],
        description="Manage a push approval service as its operator.",
        epilog=f"The admin token comes from ${TOKEN_ENV} (or --token); the service's URL "
        f"from --url, ${URL_ENV} or {DEFAULT_URL}.",
    )
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _global_options(after_command=True)
    _add_apps(top, common)
    _add_enroll(top, common)
    _add_devices(top, common)
    _add_challenges(top, common)
    _add_users(top, common)
    _add_webhooks(top, common)
    _add_audit(top, common)
    return parser


def _global_options(*, after_command: bool) -> argparse.ArgumentParser:
    # After the command, an option not given must not hide the value given before it.
    suppress = argparse.SUPPRESS if after_command else None
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--url", default=suppress, help=f"the service's base URL (default: ${URL_ENV})"
    )
    options.add_argument(
        "--token",
        default=suppress,
        help=f"the admin token (default: ${TOKEN_ENV}, which keeps it out of process lists)",
    )
    options.add_argument(
        "--json", action="store_true", default=suppress or False, help="print JSON for scripts"
    )
    return options


def _group(top: Commands, name: str, summary: str) -> Commands:
    parser = top.add_parser(name, help=summary, description=summary)
    group: Commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    return group


def _command(
    group: Commands,
    name: str,
    handler: commands.Handler,
    summary: str,
    common: argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(
        name, parents=[common], help=summary, description=summary
    )
    parser.set_defaults(handler=handler)
    return parser


def _add_apps(top: Commands, common: argparse.ArgumentParser) -> None:
    apps = _group(top, "apps", "register, list and delete relying apps")
    create = _command(
        apps, "create", commands.apps_create, "register an app; prints its secrets once", common
    )
    create.add_argument("name", metavar="NAME", help="the app's name, shown on devices")
    _command(apps, "list", commands.apps_list, "list the apps", common)
    delete = _command(apps, "delete", commands.apps_delete, "delete an app", common)
    delete.add_argument("app_id", metavar="APP_ID")
    rotate = _command(
        apps,
        "rotate-secret",
        commands.apps_rotate_secret,
        "give an app a new webhook secret",
        common,
    )
    rotate.add_argument("app_id", metavar="APP_ID")


def _add_enroll(top: Commands, common: argparse.ArgumentParser) -> None:
    summary = "start enrolling a device for a user; prints the URI and its QR code"
    enroll = _command(top, "enroll", commands.enroll, summary, common)
    enroll.add_argument("user", metavar="USER", help="the user whose device is enrolled")
    enroll.add_argument(
        "--app",
        action="append",
        metavar="APP_ID",
        help="an app the device may answer for (repeat for several; default: every app)",
    )
    enroll.add_argument("--no-qr", action="store_true", help="do not print the QR code")


def _add_devices(top: Commands, common: argparse.ArgumentParser) -> None:
    devices = _group(top, "devices", "list and revoke users' devices")
    listing = _command(devices, "list", commands.devices_list, "list a user's devices", common)
    listing.add_argument("user", metavar="USER")
    revoke = _command(devices, "revoke", commands.devices_revoke, "revoke a device", common)
    revoke.add_argument("device_id", metavar="DEVICE_ID")


def _add_challenges(top: Commands, common: argparse.ArgumentParser) -> None:
    challenges = _group(top, "challenges", "list and cancel challenges")
    summary = "list challenges, newest first"
    listing = _command(challenges, "list", commands.challenges_list, summary, common)
    listing.add_argument("--status", choices=CHALLENGE_STATUSES)
    listing.add_argument("--app", metavar="APP_ID", help="only this app's challenges")
    listing.add_argument("--user", metavar="USER", help="only this user's challenges")
    listing.add_argument("--limit", type=_page_limit, metavar="N", help="at most N (1 to 1000)")
    summary = "cancel a pending challenge"
    cancel = _command(challenges, "cancel", commands.challenges_cancel, summary, common)
    cancel.add_argument("challenge_id", metavar="CHALLENGE_ID")


def _add_users(top: Commands, common: argparse.ArgumentParser) -> None:
    users = _group(top, "users", "see and reset users' push-fatigue standing")
    summary = "show a user's strikes, push count and lock"
    show = _command(users, "show", commands.users_show, summary, common)
    show.add_argument("user", metavar="USER")
    summary = "lift a user's lock and clear their strikes and push count"
    reset = _command(users, "reset", commands.users_reset, summary, common)
    reset.add_argument("user", metavar="USER")


def _add_webhooks(top: Commands, common: argparse.ArgumentParser) -> None:
    webhooks = _group(top, "webhooks", "inspect and redeliver webhook deliveries")
    summary = "list deliveries, newest first"
    listing = _command(webhooks, "list", commands.webhooks_list, summary, common)
    listing.add_argument("--state", choices=DELIVERY_STATES)
    listing.add_argument("--limit", type=_page_limit, metavar="N", help="at most N (1 to 1000)")
    summary = "send a delivered or dead webhook again"
    redeliver = _command(webhooks, "redeliver", commands.webhooks_redeliver, summary, common)
    redeliver.add_argument("delivery_id", metavar="DELIVERY_ID")


def _add_audit(top: Commands, common: argparse.ArgumentParser) -> None:
    summary = "show the newest audit events, oldest first; --follow keeps printing new ones"
    parser = _command(top, "audit", audit, summary, common)
    parser.add_argument("--kind", help="only this kind, or kinds below it ('device' and so on)")
    parser.add_argument("--user", metavar="USER", help="only events about this user")
    parser.add_argument("--app", metavar="APP_ID", help="only events about this app")
    parser.add_argument("--device", metavar="DEVICE_ID", help="only events about this device")
    parser.add_argument(
        "--limit", type=_count, default=20, metavar="N", help="show the newest N (default 20)"
    )
    parser.add_argument(
        "--follow", "-f", action="store_true", help="poll for new events each second until Ctrl-C"
    )


def _count(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return int(value)


def _page_limit(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= PAGE_LIMIT:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from 1 to {PAGE_LIMIT}")
    return int(value)
