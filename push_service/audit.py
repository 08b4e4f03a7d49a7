"""The audit trail's record: who did what to whom, when and from where. Pure data.

Audit events never hold secrets: no keys, codes, tokens, nonces or match numbers; `detail`
carries only short descriptive strings (a refusal's reason, a status).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .models import rfc3339


@dataclass(frozen=True, slots=True)
class AuditEvent:
    event_id: str
    at: float
    kind: str
    actor: str
    app_id: str | None = None
    user_id: str | None = None
    device_id: str | None = None
    challenge_id: str | None = None
    source: str | None = None
    detail: dict[str, str] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        view: dict[str, Any] = {"event_id": self.event_id, "at": rfc3339(self.at)}
        for name in ("kind", "actor", "app_id", "user_id", "device_id", "challenge_id", "source"):
            value = getattr(self, name)
            if value is not None:
                view[name] = value
        if self.detail:
            view["detail"] = self.detail
        return view


@dataclass(frozen=True, slots=True)
class AuditQuery:
    kind: str | None = None
    app_id: str | None = None
    user_id: str | None = None
    device_id: str | None = None
    before: str | None = None
    limit: int = 100

    def matches(self, event: AuditEvent) -> bool:
        return all(
            wanted is None or getattr(event, name) == wanted
            for name, wanted in (
                ("app_id", self.app_id),
                ("user_id", self.user_id),
                ("device_id", self.device_id),
            )
        ) and (
            self.kind is None or event.kind == self.kind or event.kind.startswith(self.kind + ".")
        )
