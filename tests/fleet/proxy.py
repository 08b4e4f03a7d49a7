"""A tiny load balancer for fleet tests: a round-robin TCP proxy on 127.0.0.1.

Each new connection goes to the next backend that accepts it; then bytes are only piped both ways.

When either side closes or fails, both are closed, so a phone behind it notices an instance's
death as a dropped connection and reconnects to whichever backend answers next.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field

CONNECT_WITHIN = 1.0
CHUNK = 64 * 1024


@dataclass(eq=False)
class Link:
    """One client connection and the backend it was handed to."""

    backend: int
    client_port: int
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    closing: bool = False


class TcpProxy:
    """Listens on a free loopback port; `backend_ports` are tried in turn, skipping refusals."""

    def __init__(self, backend_ports: list[int]) -> None:
        self.backend_ports = list(backend_ports)
        self.port = 0
        self._next = 0
        self._links: set[Link] = set()
        self._closers: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            self._close_soon(link)
        while self._closers:
            await asyncio.gather(*self._closers)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def live(self) -> Counter[int]:
        """How many proxied connections are open, per backend index."""
        return Counter(link.backend for link in self._links)

    def backend_of(self, client_port: int) -> int | None:
        """The backend of the open connection whose client side uses this local port."""
        for link in self._links:
            if link.client_port == client_port:
                return link.backend
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self._connect()
        if upstream is None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            return
        index, (up_reader, up_writer) = upstream
        link = Link(index, writer.get_extra_info("peername")[1], writers=[writer, up_writer])
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._pipe(reader, up_writer, link)),
            asyncio.create_task(self._pipe(up_reader, writer, link)),
        ]

    async def _connect(
        self,
    ) -> tuple[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None:
        """The next backend in turn that accepts a connection, skipping those that refuse."""
        count = len(self.backend_ports)
        start, self._next = self._next, self._next + 1
        for step in range(count):
            index = (start + step) % count
            try:
                async with asyncio.timeout(CONNECT_WITHIN):
                    opened = await asyncio.open_connection("127.0.0.1", self.backend_ports[index])
            except (OSError, TimeoutError):
                continue
            return index, opened
        return None

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, link: Link
    ) -> None:
        try:
            while data := await source.read(CHUNK):
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._close_soon(link)

    def _close_soon(self, link: Link) -> None:
        """Close both sides from a task of its own: closing cancels both pipes."""
        if link.closing:
            return
        link.closing = True
        self._links.discard(link)
        closer = asyncio.create_task(self._drop(link))
        self._closers.add(closer)
        closer.add_done_callback(self._closers.discard)

    async def _drop(self, link: Link) -> None:
        for task in link.tasks:
            task.cancel()
        for task in link.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for writer in link.writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
