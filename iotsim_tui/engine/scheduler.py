"""One scheduler for all telemetry of a simulation: a timer wheel that wakes for bursts.

Time is cut into ticks of `TICK` seconds, and each telemetry waits in the slot of the tick its
next publish falls in. The timer wakes the event loop at the end of a tick that holds
something, but not sooner than `gap` after its last wake-up, and publishes every slot that has
ended in one tight loop: ten thousand devices that publish every second cost twenty wake-ups
a second, and per publish a list append rather than a heap operation. Waking up is what costs
(a process that sleeps comes back to cold caches), and so is each send to a broker that has
to be woken for it: publishing in bursts halved the scheduler's own cost per message and made
each send cheaper for the kernel (docs/performance.md).

A publish is never early. It is at most `gap` late: a twentieth of the shortest interval of
the simulation, between one tick and `MAX_GAP` (50 ms for telemetry every second or slower).
Each telemetry starts at a random point of its first interval (counted from the device's
start, so a slow connection does not push it past the interval; early enough that a late
burst still sends it within the interval) and keeps a little jitter
afterwards, so a thousand devices do not fire in the same burst. Lateness does not add up:
the next publish is planned from when the last one was due. Telemetry due further ahead than
the wheel reaches (`SLOTS` ticks) waits in a heap until it comes within reach.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Iterator
from typing import Protocol

TICK = 0.01
"""Seconds per slot of the wheel: the least a publish may be late."""
MAX_GAP = 0.05
"""Seconds between wake-ups of the timer at the most (the most a publish may be late)."""
LATE_SHARE = 0.05
"""How late a publish may be, as a share of the simulation's shortest interval."""
SLOTS = 512
"""Slots in the wheel (a power of two): telemetry due within `SLOTS * TICK` seconds waits in
a slot; due later, in the heap."""
BATCH = 2000
"""Publishes per turn of the event loop before letting other work run (a few milliseconds)."""
JITTER = 0.02
"""Each interval is stretched or shrunk by up to this fraction, unless a telemetry sets its
own `jitter`."""

_MASK = SLOTS - 1


class Publisher(Protocol):
    """A device as the scheduler sees it."""

    def intervals(self) -> list[float]: ...

    def jitters(self) -> list[float]: ...

    def publish_telemetry(self, index: int) -> None: ...


class _Entry:
    """One telemetry of one device, from `add` until cancelled: moved from slot to slot."""

    __slots__ = ("base", "cancelled", "device", "due", "index", "interval", "publish", "spread")

    def __init__(
        self, due: float, device: Publisher, index: int, interval: float, jitter: float
    ) -> None:
        self.due = due
        self.device = device
        self.publish = device.publish_telemetry
        self.index = index
        self.cancelled = False
        self.interval = interval
        self.base = interval * (1.0 - jitter)
        """The shortest gap between two publishes."""
        self.spread = 2.0 * interval * jitter
        """How much longer than `base` a gap may be, at random."""


class Scheduled:
    """A device's telemetry in the scheduler, until `cancel()`."""

    __slots__ = ("_entries",)

    def __init__(self, entries: list[_Entry]) -> None:
        self._entries = entries

    def cancel(self) -> None:
        """Publish no more of it (the device stopped, lost its connection or its telemetry
        was turned off); the entries leave the wheel when their time comes."""
        for entry in self._entries:
            entry.cancelled = True


class TelemetryScheduler:
    """Calls `publish_telemetry` on devices when their telemetry is due."""

    def __init__(self) -> None:
        self._wheel: list[list[_Entry]] = [[] for _ in range(SLOTS)]
        self._far: list[tuple[float, int, _Entry]] = []
        """(due, order of adding, entry) for telemetry beyond the wheel's reach."""
        self._counter = 0
        self._done = -1
        """The last tick whose slot was published (a count of ticks of `loop.time()`)."""
        self._backlog: list[_Entry] = []
        """Due, not published yet: more than `BATCH` were due at once."""
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._timer_at = 0.0
        self._fired_at = 0.0
        self._gap = MAX_GAP
        """Seconds between two wake-ups at the least (`LATE_SHARE` of the shortest interval)."""
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return sum(map(len, self._wheel)) + len(self._far) + len(self._backlog)

    def planned(self) -> Iterator[tuple[float, Publisher, int]]:
        """(due, device, telemetry index) of everything waiting, as `loop.time()`s."""
        for entry in self._backlog + [e for _, _, e in self._far]:
            yield entry.due, entry.device, entry.index
        for slot in self._wheel:
            for entry in slot:
                yield entry.due, entry.device, entry.index

    def add(self, device: Publisher, since: float | None = None) -> Scheduled:
        """Schedule every telemetry of `device`, until the device cancels it.

        Each first publish falls at a random point of the interval that begins at `since`
        (a `loop.time()`; None: now), or at once when that point has passed while the device
        was connecting: a run as long as the interval sees every device publish.
        """
        loop = self._loop = asyncio.get_running_loop()
        now = loop.time()
        if self._timer is None:  # nothing waits: the wheel starts from now
            self._done = max(self._done, int(now / TICK) - 1)
        start = now if since is None else since
        jitters = device.jitters()
        entries = []
        for index, interval in enumerate(device.intervals()):
            # Early enough in the interval that, however late the wheel sends it (at most
            # the gap this interval allows), it still goes out within the first interval.
            spread = max(0.0, interval - min(MAX_GAP, max(TICK, interval * LATE_SHARE)))
            due = max(now, start + random.random() * spread)  # noqa: S311
            entries.append(_Entry(due, device, index, interval, jitters[index]))
            self._put(entries[-1])
            self._gap = min(self._gap, max(TICK, interval * LATE_SHARE))
        if entries:
            first = min(entry.due for entry in entries)
            if self._timer is None or self._wake_at(int(first / TICK)) < self._timer_at:
                self._arm()
        return Scheduled(entries)

    def clear(self) -> None:
        """Forget everything (the simulation is stopping)."""
        for slot in self._wheel:
            slot.clear()
        self._far.clear()
        self._backlog.clear()
        self._gap = MAX_GAP
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _put(self, entry: _Entry) -> None:
        tick = int(entry.due / TICK)
        if tick - self._done < SLOTS:
            self._wheel[tick & _MASK].append(entry)
        else:
            self._counter += 1
            heapq.heappush(self._far, (entry.due, self._counter, entry))

    def _wake_at(self, tick: int) -> float:
        """When to wake up for the slot of `tick`: once it has ended, and `gap` after the last
        wake-up (more slots have ended by then: one burst publishes them all)."""
        return max((tick + 1) * TICK, self._fired_at + self._gap)

    def _arm(self) -> None:
        """Set the timer for the first tick that holds something."""
        loop = self._loop
        if loop is None:
            return
        if self._backlog:
            if self._timer is None:
                self._timer = loop.call_soon(self._fire)
            return
        wheel, done = self._wheel, self._done
        tick = next((t for t in range(done + 1, done + SLOTS + 1) if wheel[t & _MASK]), None)
        if tick is None:
            if not self._far:
                return
            tick = int(self._far[0][0] / TICK)
        at = self._wake_at(tick)
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer_at = at
        self._timer = loop.call_at(at, self._fire)

    def _fire(self) -> None:
        assert self._loop is not None
        self._timer = None
        now = self._loop.time()
        # The last tick that has ended. (The loop may run a timer a hair early: then nothing
        # is due yet, and the timer is set again for the same moment.)
        last = int(now / TICK) - 1
        due, self._backlog = self._backlog, []
        wheel = self._wheel
        for tick in range(self._done + 1, min(last, self._done + SLOTS) + 1):
            slot = wheel[tick & _MASK]
            if not slot:
                continue
            if due:
                due += slot
                slot.clear()
            else:
                due, wheel[tick & _MASK] = slot, []
        done = self._done = max(self._done, last)
        far = self._far
        while far and int(far[0][0] / TICK) - done < SLOTS:
            entry = heapq.heappop(far)[2]
            if int(entry.due / TICK) <= done:
                due.append(entry)  # due already (the loop was busy for a while)
            else:
                wheel[int(entry.due / TICK) & _MASK].append(entry)
        if due:
            self._fired_at = now  # (a timer run a hair early finds nothing, and comes again)
        if len(due) > BATCH:
            due, self._backlog = due[:BATCH], due[BATCH:]
        self._publish(due, now)
        self._arm()

    def _publish(self, due: list[_Entry], now: float) -> None:
        """Publish each entry of `due` and put it in the slot of its next publish."""
        wheel, done, rand, far = self._wheel, self._done, random.random, self._far
        for entry in due:
            if entry.cancelled:
                continue  # the device schedules its telemetry again when it (re)connects
            entry.publish(entry.index)
            when = entry.due + entry.base + entry.spread * rand()
            if when < now:  # fell behind (a busy loop): skip, do not burst to catch up
                when = now + entry.interval * rand()
            entry.due = when
            tick = int(when / TICK)
            if tick - done < SLOTS:
                wheel[tick & _MASK].append(entry)
            else:
                self._counter += 1
                heapq.heappush(far, (when, self._counter, entry))
