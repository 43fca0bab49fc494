"""How long a headless run's devices ran: `--duration` counts from their start to their stop.

The clock starts when the devices start connecting (the connection ramp is part of the run)
and stops when they are told to stop. Starting the bundled broker, the eavesdrop relay or the
worker processes before, and the devices' clean disconnect after, are not counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RunClock:
    """When the devices of a run started connecting, and when they were told to stop.

    Times are `time.monotonic()`, which is the same clock in every process of a host, so
    worker processes can report when their devices started.

    Args:
        on_start: Called with the start time, once (a worker tells the parent).
    """

    def __init__(self, on_start: Callable[[float], None] | None = None) -> None:
        self.started: float | None = None
        self.stopped: float | None = None
        self._on_start = on_start
        self._to_wall = time.time() - time.monotonic()

    def start(self, at: float | None = None) -> None:
        """The devices start connecting now (or at `at`); later starts are ignored."""
        if self.started is not None:
            return
        self.started = time.monotonic() if at is None else at
        if self._on_start is not None:
            self._on_start(self.started)

    def stop(self) -> None:
        """The devices are told to stop now (the first call counts)."""
        if self.started is not None and self.stopped is None:
            self.stopped = time.monotonic()

    def deadline(self, duration: float | None) -> float | None:
        """When a run of `duration` seconds ends (None: no duration, or not started yet)."""
        if duration is None or self.started is None:
            return None
        return self.started + duration

    @property
    def seconds(self) -> float:
        """Seconds the devices have run (until now, when they have not been stopped)."""
        if self.started is None:
            return 0.0
        end = time.monotonic() if self.stopped is None else self.stopped
        return max(0.0, end - self.started)

    @property
    def window(self) -> tuple[float, float] | None:
        """When the devices ran, as `time.time()` values (start, stop or now): None before the
        start. The windows of several hosts' shards are laid side by side to merge their rates.
        """
        if self.started is None:
            return None
        end = time.monotonic() if self.stopped is None else self.stopped
        return self.started + self._to_wall, end + self._to_wall
