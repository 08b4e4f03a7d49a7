"""The audit trail: newest first, filtered, paged by event id, trimmed to about `keep`."""

from __future__ import annotations

from push_service.audit import AuditEvent, AuditQuery
from push_service.engine.base import Engine
from tests.engine.records import T0


def event(number: int, kind: str = "challenge.created", user_id: str = "alice") -> AuditEvent:
    return AuditEvent(
        event_id=f"ev_{number:06d}",
        at=T0 + number,
        kind=kind,
        actor="app:app_main",
        app_id="app_main",
        user_id=user_id,
        detail={"status": "pending"},
    )


async def test_events_are_read_back_newest_first(engine: Engine) -> None:
    await engine.append_audit([event(1), event(2)], keep=100)
    await engine.append_audit([event(3)], keep=100)
    assert await engine.read_audit(AuditQuery()) == [event(3), event(2), event(1)]


async def test_reading_filters_by_kind_prefix_and_user(engine: Engine) -> None:
    created, ended = event(1), event(2, kind="challenge.ended")
    enrolled, other = event(3, kind="device.enrolled"), event(4, user_id="bob")
    await engine.append_audit([created, ended, enrolled, other], keep=100)
    assert await engine.read_audit(AuditQuery(kind="challenge", user_id="alice")) == [
        ended,
        created,
    ]
    assert await engine.read_audit(AuditQuery(kind="device.enrolled")) == [enrolled]
    assert await engine.read_audit(AuditQuery(user_id="bob")) == [other]


async def test_reading_pages_with_before_and_limit(engine: Engine) -> None:
    await engine.append_audit([event(n) for n in range(1, 6)], keep=100)
    first = await engine.read_audit(AuditQuery(limit=2))
    assert first == [event(5), event(4)]
    after = await engine.read_audit(AuditQuery(before=first[-1].event_id, limit=2))
    assert after == [event(3), event(2)]


async def test_the_trail_keeps_about_the_newest_keep(engine: Engine) -> None:
    for n in range(1, 11):
        await engine.append_audit([event(n)], keep=5)
    kept = await engine.read_audit(AuditQuery(limit=100))
    assert kept[:5] == [event(n) for n in range(10, 5, -1)]
    assert len(kept) <= 6
