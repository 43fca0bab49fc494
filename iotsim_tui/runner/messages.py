"""What the app and the simulation's process say to each other over their two pipes.

The app sends named requests (start, stop, publish, subscribe, watch, leave); the child answers
calls with a `Reply`, sends the watched device's view as `Viewed` and says `Ended` when it is over.
A `Failure` carries an exception as words, since not every error pickles.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from iotsim_tui.errors import IotsimError

if TYPE_CHECKING:
    from iotsim_tui.engine import DeviceView
    from iotsim_tui.profiles.model import Device

log = logging.getLogger("iotsim_tui.runner")

LEAVE_SECONDS = 10.0
"""How long the app waits for the child to stop its devices and say so (they get 5 s)."""
VIEW_SECONDS = 0.2
"""How often the watched device's view (subscriptions, counts) is sent when it changed."""


# -- what the app asks ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """Start devices (None: all), first taking those added to the network since it started."""

    device_ids: tuple[str, ...] | None
    added: tuple[Device, ...] = ()


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop devices: they disconnect cleanly."""

    device_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Publish:
    """Publish by hand as a device."""

    device_id: str
    topic: str
    payload: str
    qos: int
    retain: bool


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Subscribe a device to a topic filter now."""

    device_id: str
    topic_filter: str
    qos: int


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Unsubscribe a device from a topic filter now."""

    device_id: str
    topic_filter: str


@dataclass(frozen=True, slots=True)
class Watch:
    """Send this device's view from now on (None: no device)."""

    device_id: str | None


@dataclass(frozen=True, slots=True)
class Leave:
    """Stop every device and exit."""


Call: TypeAlias = Start | Stop | Publish | Subscribe | Unsubscribe
"""A request the app waits for the answer to."""


# -- what the child says -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    """An exception raised in the child, carried as words: not every error pickles."""

    module: str
    name: str
    message: str
    title: str | None
    details: str
    """The child's traceback for a bug; empty for an expected failure."""

    @classmethod
    def of(cls, error: BaseException) -> Failure:
        """Describe `error` so that `rebuild` can raise its like in the app."""
        kind = type(error)
        if isinstance(error, IotsimError):
            return cls(kind.__module__, kind.__name__, error.message, error.title, "")
        words = error.args[0] if len(error.args) == 1 else str(error)
        details = "" if isinstance(error, KeyError | ValueError) else traceback.format_exc()
        return cls(kind.__module__, kind.__name__, str(words), None, details)

    def rebuild(self) -> Exception:
        """An exception of the same class when it is an IotsimError or a built-in one."""
        kind = getattr(sys.modules.get(self.module), self.name, None)
        if isinstance(kind, type) and issubclass(kind, IotsimError):
            error = kind.__new__(kind)
            IotsimError.__init__(error, self.message, title=self.title)
            return error
        if isinstance(kind, type) and issubclass(kind, Exception) and self.module == "builtins":
            with contextlib.suppress(Exception):
                return kind(self.message)
        # A bug in the child: its traceback goes to the app's log, the words to the screen.
        log.error("in the simulation's process: %s: %s\n%s", self.name, self.message, self.details)
        return RuntimeError(f"{self.name} in the simulation's process: {self.message}")


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to call `number`: None when it succeeded."""

    number: int
    failure: Failure | None


@dataclass(frozen=True, slots=True)
class Viewed:
    """The watched device's latest view."""

    view: DeviceView | None


@dataclass(frozen=True, slots=True)
class Ended:
    """The simulation is over; every device was stopped. `failure` says why it ended early."""

    failure: Failure | None
