"""What every device of one simulation shares: broker settings, TLS, ramp, sockets, events."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from iotsim_tui.engine.driver import SocketDriver
from iotsim_tui.engine.events import Event
from iotsim_tui.engine.outbox import Totals
from iotsim_tui.engine.ramp import ConnectionRamp
from iotsim_tui.engine.scheduler import Scheduled
from iotsim_tui.profiles.model import BrokerSettings

if TYPE_CHECKING:
    from iotsim_tui.engine.device import DeviceRunner


class NetworkContext:
    """What every device of one simulation shares."""

    def __init__(
        self,
        broker: BrokerSettings,
        endpoint: tuple[str, int],
        tls: ssl.SSLContext | None,
        ramp: ConnectionRamp,
        emit: Callable[[Event], None],
        schedule: Callable[[DeviceRunner, float | None], Scheduled],
        totals: Totals,
        *,
        recording: bool = True,
    ) -> None:
        self.broker = broker
        self.endpoint = endpoint
        self.broker_address = (broker.host, broker.effective_port)
        """What the user set and what the log names, even when `endpoint` is a relay."""
        self.where = "{}:{}".format(*self.broker_address) + (
            "" if endpoint == self.broker_address else " through the eavesdrop relay"
        )
        self.tls = tls
        self.ramp = ramp
        self.emit = emit
        self.schedule = schedule
        self.totals = totals
        self.recording = recording
        """False when nobody reads the events: devices then skip building message events."""
        self.driver = SocketDriver(broker.keepalive)
        self.addresses: list[tuple[int, Any]] = []
        """The broker's (or relay's) addresses, resolved once per start for every device."""
        self.resolve_error: OSError | None = None
        """Why the last resolution found no address (each device reports it)."""
