"""Checking request objects field by field: types, ranges, and no member the contract lacks.

Each accessor either returns a value of the promised type or raises PushError(invalid_request)
naming the field and what was expected. Booleans are never accepted where numbers are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .errors import invalid

# C0/C1 controls and the bidirectional overrides and isolates that can disguise text on a phone.
UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class Fields:
    """A request object whose members are read, and checked, one by one."""

    def __init__(self, data: Any, allowed: Iterable[str], what: str = "The body") -> None:
        if not isinstance(data, dict):
            raise invalid(f"{what} must be a JSON object.")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise invalid(f"{what} has unknown member(s): {', '.join(unknown)}.")
        self._data: dict[str, Any] = data

    def has(self, name: str) -> bool:
        return self._data.get(name) is not None

    def text(self, name: str, *, max_len: int = 256, min_len: int = 1) -> str:
        value = self._data.get(name)
        if not isinstance(value, str):
            raise invalid(f"'{name}' must be a string.")
        if not min_len <= len(value) <= max_len:
            raise invalid(f"'{name}' must have {min_len} to {max_len} characters.")
        if UNSAFE_TEXT.search(value):
            raise invalid(f"'{name}' contains control or direction-override characters.")
        return value

    def optional_text(self, name: str, *, max_len: int = 256) -> str | None:
        return self.text(name, max_len=max_len) if self.has(name) else None

    def integer(self, name: str, *, low: int, high: int, default: int) -> int:
        if not self.has(name):
            return default
        value = self._data[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(f"'{name}' must be a whole number.")
        if not low <= value <= high:
            raise invalid(f"'{name}' must be between {low} and {high}.")
        return value

    def flag(self, name: str, *, default: bool) -> bool:
        if not self.has(name):
            return default
        value = self._data[name]
        if not isinstance(value, bool):
            raise invalid(f"'{name}' must be true or false.")
        return value

    def raw(self, name: str) -> Any:
        if not self.has(name):
            raise invalid(f"'{name}' is required.")
        return self._data[name]

    def string_map(self, name: str, *, max_items: int, max_len: int) -> dict[str, str]:
        if not self.has(name):
            return {}
        value = self._data[name]
        if not isinstance(value, dict):
            raise invalid(f"'{name}' must be an object of strings.")
        if len(value) > max_items:
            raise invalid(f"'{name}' may have at most {max_items} keys.")
        inner = Fields(value, value.keys(), f"'{name}'")
        for key in value:
            if not key or len(key) > 64 or UNSAFE_TEXT.search(key):
                raise invalid(f"'{name}' keys must be 1 to 64 printable characters.")
            inner.text(key, max_len=max_len, min_len=0)
        return dict(value)

    def string_list(self, name: str, *, max_items: int) -> tuple[str, ...] | None:
        if not self.has(name):
            return None
        value = self._data[name]
        if not isinstance(value, list) or not value or len(value) > max_items:
            raise invalid(f"'{name}' must be a list of 1 to {max_items} strings.")
        if not all(isinstance(item, str) and 0 < len(item) <= 128 for item in value):
            raise invalid(f"'{name}' must contain only non-empty strings.")
        return tuple(dict.fromkeys(value))
