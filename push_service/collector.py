"""Keep the garbage collector's full passes short in a serving process.

A full collection scans every object the collector tracks. Once the service is up that is some
43,000 objects (modules, routes, settings, the engine), and a full pass over them stalls the loop
for about 16 ms, a wait every phone and app on this process shares. They live as long as the
process, so they are frozen out of later collections: a full pass then walks only what requests
left behind. Only the served process does this; an application embedded in another program (the
tests, say) leaves that program's collector alone.
"""

from __future__ import annotations

import gc
import logging

from aiohttp import web

log = logging.getLogger(__name__)


async def freeze_startup_objects(_: web.Application) -> None:
    gc.collect()  # start-up garbage goes now, rather than frozen for the life of the process
    gc.freeze()
    log.info("%d objects alive at start left out of later collections", gc.get_freeze_count())
