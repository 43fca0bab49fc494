"""Messages the app's workers post to its screens, named for what happened."""

from __future__ import annotations

from textual.message import Message

from iotsim_tui.engine.events import Event
from iotsim_tui.errors import IotsimError


class NetworkEventsArrived(Message):
    """A batch of engine events of one open network arrived (already folded into it)."""

    def __init__(self, key: str, batch: list[Event], changed: set[str]) -> None:
        super().__init__()
        self.key = key
        self.batch = batch
        self.changed = changed
        """Ids of the devices whose tree line changed."""


class DeviceHistoryArrived(Message):
    """The kept events of a watched device arrived (already in its record's log)."""

    def __init__(self, key: str, device_id: str, added: list[Event] | None) -> None:
        super().__init__()
        self.key = key
        self.device_id = device_id
        self.added = added
        """The events it added at the end of the log; None when the log was rebuilt."""


class NetworkStopped(Message):
    """A network's simulation ended (stopped, rebuilt, or failed)."""

    def __init__(self, key: str, reason: IotsimError | None = None) -> None:
        super().__init__()
        self.key = key
        self.reason = reason
        """Why it ended by itself (a failure, or its process died); None when it was stopped."""


class BrokerExited(Message):
    """A bundled broker the app started ended by itself."""

    def __init__(self, host: str, port: int, code: int) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self.code = code


class NetworksChanged(Message):
    """Networks were opened, closed or edited: the tree and header need redrawing."""


class BrokerStateChanged(Message):
    """A network's bundled broker started, restarted or failed to: the header needs redrawing."""
