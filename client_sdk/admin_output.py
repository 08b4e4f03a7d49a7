"""How ``push-admin`` prints: aligned tables, relative and local times, JSON, QR codes.

Text from the service is made printable before it reaches the terminal.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import segno

from .models import parse_time
from .terminal import printable

Row = Sequence[str]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Output:
    """Where a command's results and warnings go, and in which form.

    Attributes:
        out: Results (tables, JSON, QR codes).
        err: Warnings and errors.
        as_json: Print JSON for machines instead of text for people.
        now: The clock used for relative times.
    """

    out: TextIO
    err: TextIO
    as_json: bool = False
    now: Callable[[], datetime] = field(default=_utc_now)

    def line(self, text: str = "") -> None:
        """Print one line of results."""
        print(text, file=self.out, flush=True)

    def warn(self, text: str) -> None:
        """Print a warning on the error stream."""
        print(f"Warning: {text}", file=self.err, flush=True)

    def json(self, data: object, *, compact: bool = False) -> None:
        """Print ``data`` as JSON (models and times included).

        Args:
            data: Dicts, lists, dataclasses, datetimes and JSON scalars.
            compact: One line (for streams of objects) instead of indented.
        """
        text = json.dumps(jsonable(data), indent=None if compact else 2, ensure_ascii=False)
        self.line(text)

    def table(self, headers: Row, rows: Iterable[Row], empty: str) -> None:
        """Print rows under their headers in aligned columns, or ``empty`` when none.

        Args:
            headers: Column titles.
            rows: Cells as strings; each is made printable.
            empty: The sentence printed instead of a table without rows.
        """
        lines = [[printable(cell) for cell in row] for row in rows]
        if not lines:
            self.line(empty)
            return
        for row in format_table([list(headers), *lines]):
            self.line(row)

    def fields(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Print ``label: value`` lines with the values aligned."""
        width = max(len(label) for label, _ in pairs) + 1
        for label, value in pairs:
            self.line(f"{label + ':':<{width}} {printable(value)}")

    def ago(self, value: object) -> str:
        """Format a time from the service relative to now (``"5 min ago"``, ``"in 40 s"``).

        Args:
            value: An RFC 3339 string or a datetime; None (or unreadable text) gives ``"-"``.
        """
        when = _as_time(value)
        if when is None:
            return "-"
        return relative(when, self.now())


def format_table(rows: Sequence[Row]) -> list[str]:
    """Align rows into columns two spaces apart; the last column is not padded.

    Args:
        rows: The header row first, then the data rows.

    Returns:
        One string per row, without trailing spaces.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def relative(when: datetime, now: datetime) -> str:
    """Describe ``when`` as a short distance from ``now``.

    Args:
        when: The time described (aware).
        now: The current time (aware).

    Returns:
        ``"now"``, ``"12 s ago"``, ``"in 5 min"``, ``"3 h ago"``, ``"2 d ago"``.
    """
    seconds = int((when - now).total_seconds())
    if seconds == 0:
        return "now"
    amount = duration(abs(seconds))
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def duration(seconds: int) -> str:
    """Describe a number of seconds in its largest whole unit.

    Args:
        seconds: A non-negative number of seconds.

    Returns:
        ``"42 s"``, ``"5 min"``, ``"3 h"`` or ``"2 d"`` (rounded down).
    """
    for limit, unit, size in ((60, "s", 1), (3600, "min", 60), (86400, "h", 3600)):
        if seconds < limit:
            return f"{seconds // size} {unit}"
    return f"{seconds // 86400} d"


def local_time(value: object) -> str:
    """Format a time from the service in the local time zone, to the second.

    Args:
        value: An RFC 3339 string or a datetime; None (or unreadable text) gives ``"-"``.
    """
    when = _as_time(value)
    return "-" if when is None else when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def write_qr(text: str, out: TextIO) -> None:
    """Print ``text`` as a QR code made of Unicode half blocks (two rows per line).

    A regular QR code (never a Micro QR code, which phones do not read) with its quiet zone.

    Args:
        text: What the code carries, e.g. an enrollment URI.
        out: The terminal to print to.
    """
    segno.make_qr(text).terminal(out=out, compact=True)
    out.flush()


def jsonable(data: object) -> Any:
    """Turn models into JSON values: dataclasses to objects, datetimes to RFC 3339 UTC.

    A dataclass field that is None is left out, as the service leaves out unset members.

    Args:
        data: Dicts, lists, tuples, dataclass instances, datetimes and JSON scalars.

    Returns:
        The same data made only of JSON types.
    """
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        values = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
        return {name: jsonable(value) for name, value in values.items() if value is not None}
    if isinstance(data, datetime):
        return rfc3339(data)
    if isinstance(data, Mapping):
        return {str(key): jsonable(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [jsonable(item) for item in data]
    return data


def rfc3339(when: datetime) -> str:
    """Format an aware time as RFC 3339 UTC, with milliseconds when it has them.

    Args:
        when: The time.

    Returns:
        E.g. ``"2026-12-03T15:40:00Z"`` or ``"2026-12-03T15:40:00.250Z"``.
    """
    utc = when.astimezone(UTC)
    if utc.microsecond == 0:
        spec = "seconds"
    elif utc.microsecond % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return utc.isoformat(timespec=spec).replace("+00:00", "Z")


def _as_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None
