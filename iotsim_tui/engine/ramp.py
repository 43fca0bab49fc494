"""The connection ramp: at most `rate` new connections a second and `in_flight` at once.

Ten thousand devices started together would otherwise all open a socket in the same
millisecond and stampede the broker (and the thread pool paho connects in). Waiting devices
queue in a FIFO of futures: `asyncio.Semaphore` (Python 3.11) removes each woken waiter from
the middle of its deque, which made ten thousand waiting devices quadratic.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
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
        self._free = in_flight
        self._waiting: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a free slot and this attempt's turn, then hold the slot while inside."""
        loop = asyncio.get_running_loop()
        if self._free > 0 and not self._waiting:
            self._free -= 1
        else:
            turn: asyncio.Future[None] = loop.create_future()
            self._waiting.append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._release()  # handed a slot just as it was cancelled: pass it on
                raise
        try:
            now = loop.time()
            start = max(now, self._next)
            self._next = start + self._interval
            if start > now:
                await asyncio.sleep(start - now)
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():  # skip waiters that were cancelled meanwhile
                turn.set_result(None)  # the slot goes straight to the next in line
                return
        self._free += 1


BACKOFF_FIRST = 1.0
BACKOFF_CAP = 30.0


def backoff(attempt: int) -> float:
    """Seconds to wait before attempt `attempt` (2, 3, ...): doubling, capped, with jitter."""
    ceiling = min(BACKOFF_CAP, BACKOFF_FIRST * 2.0 ** max(0, attempt - 2))
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not a secret)
