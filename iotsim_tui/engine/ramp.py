"""The connection ramp: at most `rate` new connections a second and `in_flight` at once.

Ten thousand devices started together would otherwise all open a socket in the same
millisecond and stampede the broker (and the thread pool paho connects in).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class ConnectionRamp:
    """Paces connection attempts: `async with ramp.slot(): connect()`."""

    def __init__(self, rate: float, in_flight: int) -> None:
        if rate <= 0 or in_flight < 1:
            raise ValueError("a ramp needs a positive rate and at least one connection in flight")
        self.rate = rate
        self.in_flight = in_flight
        self._interval = 1.0 / rate
        self._next = 0.0
        self._slots = asyncio.Semaphore(in_flight)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a free slot and this attempt's turn, then hold the slot while inside."""
        async with self._slots:
            loop = asyncio.get_running_loop()
            now = loop.time()
            turn = max(now, self._next)
            self._next = turn + self._interval
            if turn > now:
                await asyncio.sleep(turn - now)
            yield
