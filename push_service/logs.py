"""Log output: JSON lines for machines, or text for a terminal, chosen by PUSH_LOG_FORMAT.

Callers pass facts as `extra=`; this module only formats them. Secrets never reach it: the
service logs ids, routes and reasons, never credentials, tokens, codes or match numbers.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str, form: str) -> None:
    handler = logging.StreamHandler()
    if form == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # One access line per request is useful in JSON, noise on a developer's terminal.
    logging.getLogger("push_service.access").setLevel(level if form == "json" else "WARNING")
    logging.getLogger("aiohttp.access").setLevel("WARNING")
