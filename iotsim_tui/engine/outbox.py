"""A device's outgoing messages: its ledger, its bounded outbox, and those awaiting an ack.

`accepted == acknowledged + queued + dropped` at every moment: each message a device is asked
to publish is either confirmed (a PUBACK/PUBCOMP for QoS 1/2, handed to the socket for QoS 0),
waiting (in the outbox while offline, or for its acknowledgement), or dropped with a reason.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from iotsim_tui.engine.events import DeviceStatus, MessageKind
from iotsim_tui.engine.measures import Measures
from iotsim_tui.engine.views import MAX_ERROR_SAMPLES, Ledger
from iotsim_tui.protocol.properties import NO_PROPERTIES, Properties

OUTBOX_LIMIT = 1000
"""QoS 1/2 messages a device keeps while offline; more are dropped ("outbox full")."""
NOT_QUEUED = "not connected (QoS 0 is not queued)"


@dataclass(slots=True)
class Pending:
    """A message to publish."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    kind: MessageKind
    properties: Properties = NO_PROPERTIES
    """MQTT 5 properties (sent on 5 only)."""


class Totals:
    """Counts for a whole simulation, kept up to date as they change.

    A summary is asked for several times a second; adding up ten thousand devices each time
    would cost more than running them.
    """

    __slots__ = (
        "accepted",
        "acknowledged",
        "drop_reasons",
        "dropped",
        "error_samples",
        "failed",
        "measures",
        "messages_in",
        "messages_out",
        "sent_at_once",
        "statuses",
    )

    def __init__(self) -> None:
        self.statuses = dict.fromkeys(DeviceStatus, 0)
        self.failed = 0
        self.messages_in = 0
        self.messages_out = 0
        self.accepted = 0
        self.acknowledged = 0
        self.dropped = 0
        self.sent_at_once = 0
        """QoS 0 telemetry handed to the socket as it was published: accepted and acknowledged
        at once, counted here alone (the ledger adds it in) to keep the hot path short."""
        self.drop_reasons: dict[str, int] = {}
        self.error_samples: list[str] = []
        self.measures = Measures()

    def sample(self, device_id: str, message: str) -> None:
        """Keep a few distinct error messages for the final report."""
        if len(self.error_samples) < MAX_ERROR_SAMPLES and not any(
            sample.endswith(f": {message}") for sample in self.error_samples
        ):
            self.error_samples.append(f"{device_id}: {message}")

    def ledger(self) -> Ledger:
        """The simulation's ledger; what is neither acknowledged nor dropped is queued."""
        queued = self.accepted - self.acknowledged - self.dropped
        accepted, acknowledged = (
            self.accepted + self.sent_at_once,
            self.acknowledged + self.sent_at_once,
        )
        return Ledger(accepted, acknowledged, queued, self.dropped, dict(self.drop_reasons))


class Outbox:
    """The counts and queues behind one device's ledger."""

    __slots__ = (
        "accepted",
        "acknowledged",
        "drop_reasons",
        "dropped",
        "limit",
        "totals",
        "unacked",
        "waiting",
    )

    def __init__(self, totals: Totals, limit: int = OUTBOX_LIMIT) -> None:
        self.totals = totals
        self.limit = limit
        self.accepted = 0
        self.acknowledged = 0
        self.dropped = 0
        self.drop_reasons: dict[str, int] = {}
        self.waiting: deque[Pending] = deque()
        """Not sent yet: published while offline, or sent once and not acknowledged."""
        self.unacked: dict[int, Pending] = {}
        """Sent, awaiting the broker's acknowledgement, by packet id."""

    @property
    def queued(self) -> int:
        """Messages waiting in the outbox or for their acknowledgement."""
        return len(self.waiting) + len(self.unacked)

    def accept(self) -> None:
        """Count one message the device was asked to publish."""
        self.accepted += 1
        self.totals.accepted += 1

    def drop(self, reason: str) -> None:
        """Count one accepted message as dropped."""
        self.dropped += 1
        self.drop_reasons[reason] = self.drop_reasons.get(reason, 0) + 1
        totals = self.totals
        totals.dropped += 1
        totals.drop_reasons[reason] = totals.drop_reasons.get(reason, 0) + 1

    def keep(self, message: Pending) -> None:
        """Keep a QoS 1/2 message for later, or drop it when the outbox is full."""
        if message.qos == 0:
            self.drop(NOT_QUEUED)
        elif len(self.waiting) >= self.limit:
            self.drop("outbox full")
        else:
            self.waiting.append(message)

    def sent(self, message: Pending, mid: int) -> None:
        """A message went to the socket; QoS 0 is done, QoS 1/2 waits for its ack."""
        if message.qos == 0:
            self.sent_at_most_once()
        else:
            self.unacked[mid] = message

    def sent_at_most_once(self) -> None:
        """A QoS 0 message went to the socket: that is all it gets."""
        self.acknowledged += 1
        self.totals.acknowledged += 1

    def ack(self, mid: int) -> None:
        """The broker acknowledged packet `mid`."""
        if self.unacked.pop(mid, None) is not None:
            self.acknowledged += 1
            self.totals.acknowledged += 1

    def requeue_unacked(self) -> None:
        """The connection ended: unacknowledged messages go first in the outbox.

        They are sent again after the reconnect (at least once: the broker may have some).
        """
        if self.unacked:
            self.waiting.extendleft(reversed(list(self.unacked.values())))
            self.unacked.clear()

    def ledger(self, sent_at_once: int = 0) -> Ledger:
        """The ledger now, with `sent_at_once` QoS 0 messages counted elsewhere (accepted and
        handed to the socket at once)."""
        return Ledger(
            accepted=self.accepted + sent_at_once,
            acknowledged=self.acknowledged + sent_at_once,
            queued=self.queued,
            dropped=self.dropped,
            drop_reasons=dict(self.drop_reasons),
        )
