"""What every relay in front of one broker shares: a free loopback port, the capture, the items.

`Eavesdrop` (passive: TLS stays end to end) and `Impostor` (a man in the middle that answers
the device's TLS itself) differ only in how they carry one connection. Both listen on a
free loopback port that devices connect to instead of the broker, keep what went over the
wire in a bounded `CaptureStore`, hand the dissected `WireItem`s to the recent list and to
every subscriber, and write the capture as a pcap file.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Self

from iotsim_tui.errors import CaptureError
from iotsim_tui.wiretap.items import WireItem
from iotsim_tui.wiretap.pcap import PcapSummary, write_pcap
from iotsim_tui.wiretap.store import Address, CaptureStore, Limits

LISTEN_HOST = "127.0.0.1"


class ItemFeed:
    """New dissected items, as an async iterator; bounded: the oldest unread are dropped."""

    def __init__(self, limit: int) -> None:
        self._items: deque[WireItem] = deque()
        self._limit = limit
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0
        """Items dropped because this reader fell more than `limit` behind."""

    def put(self, item: WireItem) -> None:
        """Queue one item for the reader."""
        if len(self._items) >= self._limit:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        self._ready.set()

    def close(self) -> None:
        """End the iteration once the queued items are read."""
        self._closed = True
        self._ready.set()

    def drain(self) -> list[WireItem]:
        """Every item queued right now, without waiting (to handle a burst in one go)."""
        items = list(self._items)
        self._items.clear()
        return items

    def __aiter__(self) -> AsyncIterator[WireItem]:
        return self

    async def __anext__(self) -> WireItem:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()


class LoopbackRelay(ABC):
    """A relay listening on a free loopback port in front of one broker; an async context manager.

    A relay says how it carries a connection with `_listen` (start serving on the host and a
    free port) and `_end_connections` (end every connection it carries).
    """

    name = "the relay"
    """What error messages call it ("the eavesdrop relay cannot listen on ...")."""

    def __init__(self, target: Address, *, limits: Limits | None = None) -> None:
        self.target = target
        """The broker's (host, port)."""
        self.store = CaptureStore(limits)
        self._recent: deque[WireItem] = deque(maxlen=self.store.limits.items)
        self._feeds: list[ItemFeed] = []
        self._server: asyncio.Server | None = None
        self._endpoint: Address | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Listen on a free loopback port; raises CaptureError when it cannot."""
        try:
            self._server = await self._listen(LISTEN_HOST)
        except OSError as exc:
            raise CaptureError(f"{self.name} cannot listen on {LISTEN_HOST}: {exc}") from exc
        host, port = self._server.sockets[0].getsockname()[:2]
        self._endpoint = (host, port)

    async def close(self) -> None:
        """Stop listening, end the relayed connections, and end every subscriber's feed."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self._end_connections()
        for feed in self._feeds:
            feed.close()
        self._feeds.clear()
        if server is not None:
            # Last: from Python 3.12 this waits for the relayed connections to be gone too.
            await server.wait_closed()

    @abstractmethod
    async def _listen(self, host: str) -> asyncio.Server:
        """Serve devices on `host` and a free port."""

    @abstractmethod
    async def _end_connections(self) -> None:
        """End every relayed connection (the server no longer accepts new ones)."""

    @property
    def endpoint(self) -> Address:
        """The (host, port) devices connect to instead of the broker."""
        if self._endpoint is None:
            raise CaptureError(f"{self.name} is not started")
        return self._endpoint

    def items(self) -> list[WireItem]:
        """The most recent dissected items (at most `Limits.items`), oldest first."""
        return list(self._recent)

    def subscribe(self, *, replay: bool = True) -> ItemFeed:
        """An async iterator of dissected items; with `replay`, the recent ones come first."""
        feed = ItemFeed(self.store.limits.subscriber_queue)
        if replay:
            for item in self._recent:
                feed.put(item)
        if self._server is None and self._endpoint is not None:
            feed.close()
        else:
            self._feeds.append(feed)
        return feed

    def unsubscribe(self, feed: ItemFeed) -> None:
        """Stop feeding `feed` (its iteration ends after the queued items)."""
        if feed in self._feeds:
            self._feeds.remove(feed)
        feed.close()

    def publish(self, items: list[WireItem]) -> None:
        """Hand new items to the recent list and to every subscriber."""
        for item in items:
            self._recent.append(item)
            for feed in self._feeds:
                feed.put(item)

    def write_pcap(self, path: str | Path) -> PcapSummary:
        """Write every kept connection to a pcap file; raises CaptureError naming the path."""
        return write_pcap(Path(path), self.store.records())

    async def save_pcap(self, path: str | Path) -> PcapSummary:
        """`write_pcap` in a worker thread, from a snapshot, so the event loop keeps relaying."""
        return await asyncio.to_thread(write_pcap, Path(path), self.store.snapshot())
