"""The event loop the service runs on: uvloop when installed and allowed, else asyncio's own.

uvloop is an optional extra (`push-approval[fast]`): the service is the same on either loop,
uvloop only spends less CPU per request and frame (see docs/performance.md for the figures).
"""

from __future__ import annotations

import asyncio

from .config import ConfigError


def new_loop(choice: str) -> tuple[asyncio.AbstractEventLoop, str]:
    """A new loop for PUSH_EVENT_LOOP's `choice` (auto, uvloop, asyncio), and its name."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise ConfigError(
                    "PUSH_EVENT_LOOP=uvloop, but uvloop is not installed"
                    " (pip install 'push-approval[fast]')"
                ) from None
        else:
            return uvloop.new_event_loop(), "uvloop"
    return asyncio.new_event_loop(), "asyncio"
