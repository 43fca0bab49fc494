"""What the simulation's process tells the app, boiled down to what the screen shows.

A thousand devices make a thousand events a second, but the screen shows one device's log,
the devices' status marks and a few counts. The simulation's process folds every event into
a `Digester`, which keeps each device's recent events, and sends the app a `Digest` at most
ten times a second: the status of the devices whose status changed, message counts, topics
seen for the first time, and every event of the one device the app watches (the selected
one). When the app watches another device it gets that device's kept events as a `History`
first. So the app's work per digest follows what changed, not how many devices there are.

Nothing here imports textual: the simulation's process uses it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from iotsim_tui.engine.events import (
    DeviceError,
    DeviceStatus,
    Event,
    LogLine,
    MessageIn,
    MessageOut,
    StatusChanged,
)

LOG_KEPT = 500
"""Events kept per device, so that a device selected later shows its recent history."""
TOPICS_KEPT = 500
"""Topics remembered for the publish prompt's completion."""
DIGEST_SECONDS = 0.1
"""How often at most a digest is sent (the screen redraws its tables as often)."""
KEPT_AT_END = 100
"""Events of each device sent when the simulation ends, so that its log stays readable."""


@dataclass(frozen=True, slots=True)
class Digest:
    """What changed in the simulation since the last digest."""

    statuses: dict[str, tuple[DeviceStatus, str]]
    """Device id -> its status and detail now, for the devices where either changed."""
    counts: dict[str, tuple[int, int]]
    """Device id -> messages it received and sent since the last digest (when not none)."""
    topics: tuple[str, ...]
    """Topics seen for the first time, up to TOPICS_KEPT in all."""
    events: tuple[Event, ...]
    """Every event of the watched device since the last digest (or since its `History`)."""
    followed: tuple[Event, ...] = ()
    """What the other followed devices (those a lab's checks name) received, and their status
    changes and errors, for the checklist."""


@dataclass(frozen=True, slots=True)
class History:
    """The kept events of the device the app now watches, oldest first."""

    device_id: str
    events: tuple[Event, ...]

    def extension_of(self, log: Sequence[Event]) -> list[Event] | None:
        """The events after the last one of `log`, if this history has it; else None."""
        if not log:
            return None
        last = log[-1]
        for index in range(len(self.events) - 1, -1, -1):
            if self.events[index] == last:
                return list(self.events[index + 1 :])
            if self.events[index].at < last.at:
                break
        return None

    def merged_with(self, log: Iterable[Event], notes: Iterable[Event]) -> list[Event]:
        """`log`'s events from before this history (an earlier run), then its events with
        the app's own `notes` of that time in their place."""
        since = self.events[0].at
        merged = [event for event in log if event.at < since]
        later = [note for note in notes if note.at >= since]
        if later:
            merged += sorted([*self.events, *later], key=lambda event: event.at)
        else:
            merged += self.events
        return merged


class Digester:
    """Folds the simulation's events in as they come, and hands out digests."""

    def __init__(self, watched: str | None = None, followed: frozenset[str] = frozenset()) -> None:
        self.watched = watched
        self.followed = followed
        """Devices whose messages in, status changes and errors every digest carries."""
        self._followed: list[Event] = []
        self._kept: dict[str, deque[Event]] = {}
        self._status: dict[str, tuple[DeviceStatus, str]] = {}
        self._topics: set[str] = set()
        self._changed: set[str] = set()
        self._counts: dict[str, list[int]] = {}
        self._new_topics: list[str] = []
        self._events: list[Event] = []

    def fold(self, batch: Iterable[Event]) -> None:
        """Take a batch of events in."""
        kept, watched = self._kept, self.watched
        for event in batch:
            device_id = event.device_id
            log = kept.get(device_id)
            if log is None:
                log = kept[device_id] = deque(maxlen=LOG_KEPT)
            log.append(event)
            if device_id == watched:
                self._events.append(event)
            elif device_id in self.followed and not isinstance(event, MessageOut | LogLine):
                self._followed.append(event)
            if isinstance(event, MessageIn | MessageOut):
                counts = self._counts.get(device_id)
                if counts is None:
                    counts = self._counts[device_id] = [0, 0]
                counts[isinstance(event, MessageOut)] += 1
                if event.topic not in self._topics and len(self._topics) < TOPICS_KEPT:
                    self._topics.add(event.topic)
                    self._new_topics.append(event.topic)
            elif isinstance(event, StatusChanged):
                self._status[device_id] = (event.status, event.detail)
                self._changed.add(device_id)
            elif isinstance(event, DeviceError):
                status = self._status.get(device_id, (DeviceStatus.STOPPED, ""))[0]
                self._status[device_id] = (status, event.message)
                self._changed.add(device_id)
        if len(self._events) > LOG_KEPT:
            # The app stopped reading for a while: it needs no more than a log's worth.
            del self._events[:-LOG_KEPT]
        if len(self._followed) > LOG_KEPT:
            del self._followed[:-LOG_KEPT]

    def watch(self, device_id: str | None) -> History | None:
        """Watch another device; returns its kept events for the app (None: no device)."""
        self.watched = device_id
        self._events = []
        if device_id is None:
            return None
        return History(device_id, tuple(self._kept.get(device_id, ())))

    def at_end(self) -> list[History]:
        """The last KEPT_AT_END events of every device but the watched one (whose log the app
        has whole), for when the simulation ends and its kept events with it."""
        return [
            History(device_id, tuple(log)[-KEPT_AT_END:])
            for device_id, log in self._kept.items()
            if device_id != self.watched
        ]

    def take(self) -> Digest | None:
        """The digest of what changed since the last one; None when nothing did."""
        if not (
            self._changed or self._counts or self._new_topics or self._events or self._followed
        ):
            return None
        digest = Digest(
            statuses={device_id: self._status[device_id] for device_id in self._changed},
            counts={device_id: (got, sent) for device_id, (got, sent) in self._counts.items()},
            topics=tuple(self._new_topics),
            events=tuple(self._events),
            followed=tuple(self._followed),
        )
        self._changed = set()
        self._counts = {}
        self._new_topics = []
        self._events = []
        self._followed = []
        return digest
