"""Apps: the registry, found by id and by API-key hash, listed, deleted."""

from __future__ import annotations

import dataclasses

from push_service.engine.base import Engine
from tests.engine import records
from tests.engine.records import T0


async def test_added_app_is_found_by_id_and_by_key_hash(engine: Engine) -> None:
    app = records.app()
    await engine.add_app(app)
    assert await engine.get_app(app.app_id) == app
    assert await engine.app_by_key_hash(app.key_hash) == app


async def test_unknown_app_is_none_everywhere(engine: Engine) -> None:
    assert await engine.get_app("app_nobody") is None
    assert await engine.app_by_key_hash("no-such-hash") is None
    assert await engine.delete_app("app_nobody") is False


async def test_apps_are_listed_oldest_first(engine: Engine) -> None:
    later, earlier = records.app("B", created_at=T0 + 10), records.app("A", created_at=T0)
    await engine.add_app(later)
    await engine.add_app(earlier)
    assert await engine.list_apps() == [earlier, later]


async def test_deleted_app_is_gone_by_id_key_and_list(engine: Engine) -> None:
    app, kept = records.app(), records.app("Kept")
    await engine.add_app(app)
    await engine.add_app(kept)
    assert await engine.delete_app(app.app_id) is True
    assert await engine.get_app(app.app_id) is None
    assert await engine.app_by_key_hash(app.key_hash) is None
    assert await engine.list_apps() == [kept]
    assert await engine.delete_app(app.app_id) is False


async def test_adding_an_app_again_replaces_it(engine: Engine) -> None:
    """How a webhook secret is rotated: the same app stored with new secrets."""
    app = records.app()
    await engine.add_app(app)
    rotated = app.rotated("whsec_new", now=T0 + 5, grace=60)
    await engine.add_app(rotated)
    assert await engine.get_app(app.app_id) == rotated
    assert await engine.app_by_key_hash(app.key_hash) == rotated
    assert await engine.list_apps() == [rotated]
    assert dataclasses.replace(rotated, retired_secrets=()) != rotated
