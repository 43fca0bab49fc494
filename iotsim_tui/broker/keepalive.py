"""Deadlines of silent connections: CONNECT within 10 s, then a packet every 1.5 keepalives.

One timer for the whole broker rather than one per connection: with ten thousand idle clients a
timer each (uvloop's timer handle and its libuv timer) was over half a kilobyte per connection.
Connections are filed by deadline in slots of `TICK` seconds; when a slot comes due each of its
connections says whether it is still alive and when it must speak next (`Watched.watched`), and
is filed again under that deadline. A connection is thus checked once per keepalive period at
most, as with a timer of its own, and closed at most `TICK` seconds after its deadline.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from typing import Protocol


class Watched(Protocol):
    """What the watch needs of a connection."""

    deadline: float
    """Loop time by which the connection must have spoken; filed under it while watched."""

    def watched(self, now: float) -> bool:
        """Called once `deadline` has passed: close the connection if it stayed silent, or
        move `deadline` on; True to be watched again (under the new deadline)."""
        ...


TICK = 0.25
"""Seconds per slot: how late past its deadline a silent connection may be closed."""


class DeadlineWatch:
    """Connections filed by deadline, checked by one timer on the event loop."""

    def __init__(self) -> None:
        self._slots: dict[int, set[Watched]] = {}
        self._due: list[int] = []
        """Slot numbers in a heap: the earliest first (a number may be there twice)."""
        self._timer: asyncio.TimerHandle | None = None
        self._timer_slot = 0

    def __len__(self) -> int:
        return sum(len(slot) for slot in self._slots.values())

    def watch(self, connection: Watched, deadline: float) -> None:
        """File `connection` under `deadline` (loop time), instead of any earlier one."""
        self.forget(connection)
        connection.deadline = deadline
        self._file(connection)

    def forget(self, connection: Watched) -> None:
        """Stop watching `connection` (it closed, or has no keepalive)."""
        slot = self._slots.get(_slot(connection.deadline))
        if slot is not None:
            slot.discard(connection)

    def stop(self) -> None:
        """Cancel the timer and forget every connection (the broker stops)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._slots.clear()
        self._due.clear()

    def _file(self, connection: Watched, *, schedule: bool = True) -> None:
        number = _slot(connection.deadline)
        slot = self._slots.get(number)
        if slot is None:
            slot = self._slots[number] = set()
            heapq.heappush(self._due, number)
        slot.add(connection)
        if schedule and (self._timer is None or number < self._timer_slot):
            self._schedule(number)

    def _schedule(self, number: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer_slot = number
        self._timer = loop.call_at(number * TICK, self._check)

    def _check(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        due = self._due
        slots = self._slots
        while due and due[0] * TICK <= now:
            slot = slots.pop(heapq.heappop(due), None)
            for connection in slot or ():
                if connection.watched(now):
                    # Its deadline is past `now`: a later slot.
                    self._file(connection, schedule=False)
        if due:
            self._schedule(due[0])


def _slot(deadline: float) -> int:
    return math.ceil(deadline / TICK)
