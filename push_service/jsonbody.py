"""Strict JSON: parse request bodies and token segments, refusing what the contract refuses.

Duplicate member names, `NaN`/`Infinity`, invalid UTF-8 and nesting deeper than a limit all raise
`PushError(invalid_request)`; nothing here touches the network.
"""

from __future__ import annotations

import json
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


def loads(raw: bytes | str, *, max_depth: int = 16) -> Any:
    """Parse one JSON document, strictly. Raises PushError(invalid_request)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise invalid("The body is not valid UTF-8.") from None
    except RecursionError:
        raise invalid(f"The JSON is nested too deeply (limit {max_depth}).") from None
    except json.JSONDecodeError as exc:
        raise invalid(f"The body is not valid JSON ({exc.msg} at character {exc.pos}).") from None
    if _depth(value, max_depth) > max_depth:
        raise invalid(f"The JSON is nested too deeply (limit {max_depth}).")
    return value


def _depth(value: Any, limit: int, level: int = 1) -> int:
    if level > limit:
        return level
    if isinstance(value, dict):
        children: list[Any] = list(value.values())
    elif isinstance(value, list):
        children = value
    else:
        return level - 1
    return max((_depth(child, limit, level + 1) for child in children), default=level)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
