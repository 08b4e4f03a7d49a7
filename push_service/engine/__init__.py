"""Engines: the in-process one by default, Redis when `PUSH_REDIS_URL` is set (a Redis Cluster
when `PUSH_REDIS_CLUSTER` is also set)."""

from __future__ import annotations

from ..config import Settings
from .base import Engine


def engine_for(settings: Settings) -> Engine:
    """The engine the settings ask for; the Redis one is imported only when used."""
    if settings.redis_url is None:
        from .memory import MemoryEngine

        return MemoryEngine()
    from .redis import RedisEngine

    return RedisEngine(
        settings.redis_url.reveal(),
        prefix=settings.redis_prefix,
        cluster=settings.redis_cluster,
        connections=settings.redis_connections,
    )
