"""The ``push-admin audit`` command: the newest audit events, and ``--follow`` to tail them.

Events print oldest first, as a log reads; following polls for newer ones and prints each once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from .admin_client import AdminClient
from .admin_output import Output, format_table, local_time
from .errors import PushApprovalError
from .terminal import printable

# Seconds between polls while following.
FOLLOW_INTERVAL = 1.0
# Most new events read in one poll; past that the oldest of the burst are skipped.
FOLLOW_BURST = 1000
# Event ids remembered while following, so that none prints twice.
_REMEMBERED = 10_000
_HEADERS = ("TIME", "KIND", "ACTOR", "ABOUT", "DETAIL")
# Column widths while following (a later event cannot widen the columns already printed).
_FOLLOW_WIDTHS = (19, 31, 33, 30)
_SUBJECTS = ("app_id", "user_id", "device_id", "challenge_id")

Event = dict[str, Any]


async def audit(admin: AdminClient, args: argparse.Namespace, out: Output) -> int:
    """Print the newest matching events, then keep printing new ones with ``--follow``."""
    events = await _newest(admin, args, args.limit, seen=None)
    if not args.follow:
        _print_list(events, out)
        return 0
    seen = _Seen()
    _print_follow(events, out, seen, header=True)
    while True:
        await asyncio.sleep(FOLLOW_INTERVAL)
        try:
            fresh = await _newest(admin, args, FOLLOW_BURST, seen)
        except PushApprovalError as exc:
            if exc.status is not None and exc.status < 500:
                raise
            out.warn(f"{exc}; trying again.")
            continue
        if len(fresh) >= FOLLOW_BURST:
            out.warn(f"over {FOLLOW_BURST} new events in one poll; older ones were skipped.")
        _print_follow(fresh, out, seen, header=False)


async def _newest(
    admin: AdminClient, args: argparse.Namespace, limit: int, seen: _Seen | None
) -> list[Event]:
    """Read up to ``limit`` matching events, newest first, stopping at one already seen."""
    found: list[Event] = []
    events = admin.audit_events(
        kind=args.kind,
        app_id=args.app,
        user_id=args.user,
        device_id=args.device,
        page_size=min(limit, 1000),
    )
    async with contextlib.aclosing(events):
        async for event in events:
            if seen is not None and str(event["event_id"]) in seen:
                break
            found.append(event)
            if len(found) >= limit:
                break
    found.reverse()
    return found


def _print_list(events: list[Event], out: Output) -> None:
    if out.as_json:
        out.json(events)
        return
    out.table(_HEADERS, [event_row(event) for event in events], "No audit events.")


def _print_follow(events: list[Event], out: Output, seen: _Seen, *, header: bool) -> None:
    if header and not out.as_json:
        out.line(_fixed(_HEADERS))
    for event in events:
        seen.add(str(event["event_id"]))
        if out.as_json:
            out.json(event, compact=True)
        else:
            out.line(_fixed(event_row(event)))


def event_row(event: Mapping[str, Any]) -> tuple[str, ...]:
    """Format an audit event as table cells: time, kind, actor, subjects, detail.

    Args:
        event: The service's audit event object.

    Returns:
        Five cells; subjects and detail are ``name=value`` pairs.
    """
    about = " ".join(
        f"{name.removesuffix('_id')}={event[name]}" for name in _SUBJECTS if event.get(name)
    )
    detail = event.get("detail")
    pairs = detail.items() if isinstance(detail, Mapping) else ()
    source = [f"from={event['source']}"] if event.get("source") else []
    return (
        local_time(event.get("at")),
        str(event.get("kind", "-")),
        str(event.get("actor", "-")),
        about or "-",
        " ".join([*(f"{key}={value}" for key, value in pairs), *source]) or "-",
    )


def _fixed(cells: tuple[str, ...]) -> str:
    shown = [printable(cell) for cell in cells]
    padded = [cell.ljust(width) for cell, width in zip(shown, _FOLLOW_WIDTHS, strict=False)]
    return format_table([[*padded, *shown[len(padded) :]]])[0]


class _Seen:
    """The ids of the events printed most recently, in order, up to a bound."""

    def __init__(self) -> None:
        self._ids: dict[str, None] = {}

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        if len(self._ids) > _REMEMBERED:
            del self._ids[next(iter(self._ids))]
