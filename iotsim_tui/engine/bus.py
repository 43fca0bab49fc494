"""The event stream: events gathered into batches for one consumer, with a bound.

A simulation made with `record_events=False` keeps nothing (a headless run without `--json`
pays nothing per message). Batches go out about every 50 ms, or at once when `BATCH` events wait.
When the consumer falls behind, message events beyond `CAPACITY` are counted and left out;
status changes, log lines and errors are kept up to twice that.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from iotsim_tui.engine.events import Event, MessageIn, MessageOut

CAPACITY = 20_000
BATCH = 1000
INTERVAL = 0.05


class EventBus:
    """Collects events from every device and hands them out in batches."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._buffer: list[Event] = []
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._consuming = False
        self._closed = False
        self.dropped = 0
        """Events left out because the consumer fell behind."""

    def emit(self, event: Event) -> None:
        """Add one event (a no-op when the bus is not enabled)."""
        if not self.enabled:
            return
        buffer = self._buffer
        size = len(buffer)
        if size >= CAPACITY and (isinstance(event, MessageIn | MessageOut) or size >= 2 * CAPACITY):
            self.dropped += 1
            return
        buffer.append(event)
        if size + 1 >= BATCH:
            self._wake()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(INTERVAL, self._wake)

    def close(self) -> None:
        """End the stream: the consumer gets what is left, then the iteration stops."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def batches(self) -> AsyncIterator[list[Event]]:
        """Batches of events until `close()`; only one consumer at a time."""
        if self._consuming:
            raise RuntimeError("the event stream already has a consumer")
        self._consuming = True
        try:
            while True:
                if not self._buffer and self._closed:
                    return
                if not self._buffer or (self._timer is not None and len(self._buffer) < BATCH):
                    self._waiter = asyncio.get_running_loop().create_future()
                    await self._waiter
                    self._waiter = None
                if self._buffer:
                    batch, self._buffer = self._buffer, []
                    yield batch
        finally:
            self._consuming = False
