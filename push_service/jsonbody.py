"""Strict JSON: parse request bodies and token segments, refusing what the contract refuses.

Duplicate member names, `NaN`/`Infinity`, invalid UTF-8 and nesting deeper than a limit all raise
`PushError(invalid_request)`; nothing here touches the network.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import invalid


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise invalid(f"The member {key!r} appears twice; send each name once.")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise invalid(f"{name} is not valid JSON; send numbers only.")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise invalid("A number in the body is too large.")
    return value


def loads(raw: bytes | str, *, max_depth: int = 16) -> Any:
    """Parse one JSON document, strictly. Raises PushError(invalid_request)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constants,
            parse_float=_finite,
        )
    except UnicodeDecodeError:
        raise invalid("The body is not valid UTF-8.") from None
    except RecursionError:
        raise invalid(f"The JSON is nested too deeply (limit {max_depth}).") from None
    except json.JSONDecodeError as exc:
        raise invalid(f"The body is not valid JSON ({exc.msg} at character {exc.pos}).") from None
    except ValueError:
        raise invalid("A number in the body has too many digits.") from None
    _check(value, max_depth)
    return value


def _check(value: Any, room: int) -> None:
    """Refuse nesting deeper than `room` containers, and strings no UTF-8 text can carry."""
    if isinstance(value, str):
        _encodable(value)
        return
    if not isinstance(value, dict | list):
        return
    if room <= 0:
        raise invalid("The JSON is nested too deeply.")
    for key in value if isinstance(value, dict) else ():
        _encodable(key)
    for child in value.values() if isinstance(value, dict) else value:
        _check(child, room - 1)


def _encodable(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid("A string holds a lone surrogate (\\ud800-\\udfff escape).") from None


# One encoder for every response and frame: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(value: Any) -> str:
    return _ENCODER.encode(value)
