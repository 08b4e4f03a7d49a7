"""The stream's messages: server frames built once, device frames parsed strictly. No I/O."""

from __future__ import annotations

from typing import Any

from . import jsonbody
from .errors import PushError, invalid
from .fields import Fields
from .models import Challenge

CLOSE_AUTH = 4401
CLOSE_REVOKED = 4403
CLOSE_TOO_MANY_STREAMS = 4429
CLOSE_SLOW = 4408
CLOSE_UNAVAILABLE = 1013


def hello(nonce: str) -> str:
    return jsonbody.dumps({"type": "hello", "nonce": nonce})


def ready(device_id: str) -> str:
    return jsonbody.dumps({"type": "ready", "device_id": device_id})


def challenge(item: Challenge) -> str:
    return jsonbody.dumps({"type": "challenge", "challenge": item.device_view()})


def result(challenge_id: str, status: str) -> str:
    return jsonbody.dumps({"type": "result", "challenge_id": challenge_id, "status": status})


def resolved(challenge_id: str, status: str) -> str:
    return jsonbody.dumps({"type": "resolved", "challenge_id": challenge_id, "status": status})


def error(exc: PushError, challenge_id: str | None = None) -> str:
    body: dict[str, Any] = {"type": "error", "code": exc.code.value, "message": exc.message}
    if challenge_id:
        body["challenge_id"] = challenge_id
    return jsonbody.dumps(body)


def parse(text: str, expected: set[str]) -> tuple[str, str]:
    """A device frame's type and token; PushError(invalid_request) for anything else."""
    fields = Fields(jsonbody.loads(text, max_depth=4), {"type", "token"}, "The message")
    kind = fields.text("type", max_len=32)
    if kind not in expected:
        raise invalid(f"Unknown message type {kind!r}; expected one of {sorted(expected)}.")
    return kind, fields.text("token", max_len=8192)
