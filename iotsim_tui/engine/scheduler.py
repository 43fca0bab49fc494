"""One scheduler for all telemetry of a simulation.

A heap of next-due times rather than a sleeping task per device: ten thousand devices that
publish every second cost one timer and ten thousand heap operations a second. Each telemetry
starts at a random point of its first interval (counted from the device's start, so a slow
connection does not push it past the interval) and keeps a little jitter afterwards, so a
thousand devices do not fire in the same millisecond. The timer wakes the loop at most every
`MIN_GAP` seconds and publishes whatever is due by then: a turn of the event loop (a timer, a
poll of ten thousand sockets) costs more than a publish, and was once paid per few messages.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from typing import Protocol

BATCH = 500
"""Publishes per turn of the event loop before letting other work run (a few milliseconds)."""
JITTER = 0.02
"""Each interval is stretched or shrunk by up to this fraction, unless a telemetry sets its
own `jitter`."""
MIN_GAP = 0.005
"""Seconds between the timer's turns, at the least (a publish is at most this late)."""


class Publisher(Protocol):
    """A device as the scheduler sees it."""

    generation: int
    telemetry_running: bool

    @property
    def connected(self) -> bool: ...

    def intervals(self) -> list[float]: ...

    def jitters(self) -> list[float]: ...

    def publish_telemetry(self, index: int) -> None: ...


class TelemetryScheduler:
    """Calls `publish_telemetry` on devices when their telemetry is due."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, int, float, float, Publisher]] = []
        """(due, order of adding, device generation, telemetry index, interval, jitter,
        device)"""
        self._counter = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._fired_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, device: Publisher, since: float | None = None) -> None:
        """Schedule every telemetry of `device` for its current generation.

        Each first publish falls at a random point of the interval that begins at `since`
        (a `loop.time()`; None: now), or at once when that point has passed while the device
        was connecting: a run as long as the interval sees every device publish.
        """
        loop = self._loop = asyncio.get_running_loop()
        now = loop.time()
        start = now if since is None else since
        jitters = device.jitters()
        for index, interval in enumerate(device.intervals()):
            due = max(now, start + random.random() * interval)  # noqa: S311
            self._push(due, index, interval, jitters[index], device)
        self._arm()

    def clear(self) -> None:
        """Forget everything (the simulation is stopping)."""
        self._heap.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _push(
        self, due: float, index: int, interval: float, jitter: float, device: Publisher
    ) -> None:
        self._counter += 1
        entry = (due, self._counter, device.generation, index, interval, jitter, device)
        heapq.heappush(self._heap, entry)

    def _arm(self) -> None:
        if not self._heap or self._loop is None:
            return
        due = max(self._heap[0][0], self._fired_at + MIN_GAP)
        if self._timer is not None:
            if self._timer_at <= due:
                return
            self._timer.cancel()
        self._timer_at = due
        self._timer = self._loop.call_at(due, self._fire)

    def _fire(self) -> None:
        assert self._loop is not None
        self._timer = None
        heap, pop, push, rand = self._heap, heapq.heappop, heapq.heappush, random.random
        now = self._fired_at = self._loop.time()
        done = 0
        while heap and heap[0][0] <= now and done < BATCH:
            due, _, generation, index, interval, jitter, device = pop(heap)
            if generation != device.generation or not device.telemetry_running:
                continue  # stopped or restarted since: its new entries are in the heap
            if not device.connected:
                continue  # the device schedules its telemetry again when it reconnects
            device.publish_telemetry(index)
            done += 1
            due += interval * (1.0 + jitter * (2.0 * rand() - 1.0))
            if due < now:  # fell behind (a busy loop): skip, do not burst to catch up
                due = now + interval * rand()
            self._counter += 1
            push(heap, (due, self._counter, generation, index, interval, jitter, device))
        self._arm()
