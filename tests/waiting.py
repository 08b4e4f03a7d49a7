"""Bounded waiting for tests: poll until something holds, or fail saying what never did."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


async def eventually(check: Callable[[], Any], what: str = "", within: float = 5.0) -> Any:
    """Poll `check` (plain or async) until it gives a truthy value, and return that value;
    fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within} s: {what or check} (last: {value!r})")
        await asyncio.sleep(0.02)
