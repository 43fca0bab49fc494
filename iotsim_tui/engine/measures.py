"""What a load tool reports beyond counts: connect times, delivery latency, errors, outages.

Devices write here as things happen (one `Measures` per simulation, inside its `Totals`); a
summary takes a copy. Nothing here waits or allocates per message except the latency probe's
sample, which is bounded.
"""

from __future__ import annotations

import heapq
import time
from collections import deque

from iotsim_tui.engine.histogram import Histogram
from iotsim_tui.engine.views import MAX_OUTAGES_SHOWN

MAX_ERROR_KINDS = 20
"""Distinct error messages counted one by one; the rest count as "other errors"."""
OTHER_ERRORS = "other errors"
RECENT_ERRORS = 1000
"""Errors kept for whoever prints them as they happen (`Simulation.take_errors`)."""


class Measures:
    """Connections, connect times, latency, errors by kind and outages of one simulation."""

    __slots__ = (
        "connect_time",
        "connections",
        "errors_by_kind",
        "first_connections",
        "last_first_connect_at",
        "latency",
        "offline",
        "offline_since",
        "recent_errors",
        "recovered",
        "started_at",
    )

    def __init__(self) -> None:
        self.started_at: float | None = None
        """time.time() when the first device was started."""
        self.connections = 0
        """Connections the broker accepted (reconnections included)."""
        self.first_connections = 0
        """Devices that connected once since the start."""
        self.last_first_connect_at: float | None = None
        """time.time() of the last of those first connections."""
        self.connect_time = Histogram()
        """From the TCP connect (after the ramp let the device go) to the broker's CONNACK."""
        self.latency = Histogram()
        """Publish to delivery, measured by the latency probe on a sample of telemetry."""
        self.errors_by_kind: dict[str, int] = {}
        self.recent_errors: deque[tuple[str, str]] = deque(maxlen=RECENT_ERRORS)
        self.recovered = 0
        """Devices that reported an error and have connected again since."""
        self.offline: dict[str, float] = {}
        """Seconds each device that lost its connection was offline (ended outages)."""
        self.offline_since: dict[str, float] = {}
        """time.monotonic() when a device lost its connection, until it is back."""

    def started(self) -> None:
        """Devices are starting (the first call counts)."""
        if self.started_at is None:
            self.started_at = time.time()

    def connected(self, device_id: str, seconds: float, *, first: bool) -> None:
        """A device's connection was accepted after `seconds`."""
        self.connections += 1
        self.connect_time.add(seconds)
        if first:
            self.first_connections += 1
            self.last_first_connect_at = time.time()
        since = self.offline_since.pop(device_id, None)
        if since is not None:
            self.offline[device_id] = self.offline.get(device_id, 0.0) + time.monotonic() - since

    def lost(self, device_id: str) -> None:
        """A device's connection ended without it asking."""
        self.offline_since.setdefault(device_id, time.monotonic())

    def stopped(self, device_id: str) -> None:
        """A device was stopped: an outage in progress ends here."""
        since = self.offline_since.pop(device_id, None)
        if since is not None:
            self.offline[device_id] = self.offline.get(device_id, 0.0) + time.monotonic() - since

    def error(self, device_id: str, message: str) -> None:
        """A device reported an error (once per distinct failure)."""
        kinds = self.errors_by_kind
        kind = message if message in kinds or len(kinds) < MAX_ERROR_KINDS else OTHER_ERRORS
        kinds[kind] = kinds.get(kind, 0) + 1
        self.recent_errors.append((device_id, message))

    def take_errors(self) -> list[tuple[str, str]]:
        """The errors reported since the last call, oldest first."""
        taken = list(self.recent_errors)
        self.recent_errors.clear()
        return taken

    def outages(self) -> tuple[int, float, tuple[tuple[str, float], ...]]:
        """Devices that were offline, their seconds offline in all, and the longest outages."""
        now = time.monotonic()
        seconds = dict(self.offline)
        for device_id, since in self.offline_since.items():
            seconds[device_id] = seconds.get(device_id, 0.0) + now - since
        longest = heapq.nlargest(MAX_OUTAGES_SHOWN, seconds.items(), key=lambda item: item[1])
        return len(seconds), sum(seconds.values()), tuple(longest)
