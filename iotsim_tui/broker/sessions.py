"""Sessions: what the broker remembers about a client id between and during its connections.

A session holds the client's subscriptions, the QoS 1/2 messages in flight to it (redelivered
with DUP when it comes back), the messages queued for it (bounded), and the packet ids of QoS 2
messages it sent us that still await PUBREL.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from iotsim_tui.broker.subscriptions import Subscription
from iotsim_tui.broker.wire import Message

if TYPE_CHECKING:
    from iotsim_tui.broker.acl import ClientAccess
    from iotsim_tui.broker.connection import Connection


@dataclass(slots=True)
class Delivery:
    """One message on its way to one session, with the options of the subscription(s)."""

    message: Message
    qos: int
    retain: bool
    subscription_ids: tuple[int, ...] = ()
    released: bool = False
    """QoS 2 only: PUBREC arrived and PUBREL was sent; PUBCOMP is awaited."""


class Session:
    """The state of one client id (MQTT 5.0 s4.1).

    Most sessions are of idle devices that never receive a QoS 1/2 message nor send a QoS 2
    one: their queue and their set of packet ids awaiting PUBREL are made on first use (an
    empty deque alone is ~760 bytes). Attributes not listed in `__slots__` still work (kept
    in a dict made only then).
    """

    __slots__ = (
        "__dict__",
        "_awaiting_release",
        "_next_id",
        "_queue",
        "access",
        "client_id",
        "connection",
        "dropped",
        "expiry_interval",
        "expiry_timer",
        "inflight",
        "pending_will",
        "queue_bytes_limit",
        "queue_limit",
        "queued_bytes",
        "subscriptions",
        "will_timer",
    )

    def __init__(self, client_id: str, queue_limit: int, queue_bytes_limit: int = 0) -> None:
        self.client_id = client_id
        self.subscriptions: dict[str, Subscription] = {}
        self.inflight: dict[int, Delivery] = {}
        self._queue: deque[Delivery] | None = None
        self.queue_limit = queue_limit
        self.queue_bytes_limit = queue_bytes_limit
        """Payload bytes the queue may hold (mosquitto's max_queued_bytes); 0: no limit."""
        self.queued_bytes = 0
        self.access: ClientAccess | None = None
        """What the ACL lets this client read and write; None when there is no ACL."""
        self._awaiting_release: set[int] | None = None
        self.expiry_interval = 0
        """Seconds the session outlives its connection; 0xFFFFFFFF never ends."""
        self.connection: Connection | None = None
        self.expiry_timer: asyncio.TimerHandle | None = None
        self.will_timer: asyncio.TimerHandle | None = None
        self.pending_will: Message | None = None
        """A delayed will waiting for its delay or for the session's end."""
        self.dropped = 0
        """Messages not queued because the queue was full."""
        self._next_id = 0

    @property
    def queue(self) -> deque[Delivery]:
        """QoS 1/2 deliveries waiting for the client (flow control, or while it is away)."""
        if self._queue is None:
            self._queue = deque()
        return self._queue

    @property
    def queued(self) -> int:
        """How many deliveries wait in `queue` (without making one)."""
        return len(self._queue) if self._queue is not None else 0

    @property
    def awaiting_release(self) -> set[int]:
        """Packet ids of QoS 2 messages from the client that await its PUBREL."""
        if self._awaiting_release is None:
            self._awaiting_release = set()
        return self._awaiting_release

    def next_packet_id(self) -> int:
        """A packet identifier not in use by any message in flight to this client."""
        if len(self.inflight) >= 65_535:
            raise RuntimeError("all 65,535 packet identifiers are in flight")
        while True:
            self._next_id = self._next_id % 65_535 + 1
            if self._next_id not in self.inflight:
                return self._next_id

    def enqueue(self, delivery: Delivery) -> bool:
        """Queue a QoS 1/2 delivery for later; False (and counted) when the queue is full."""
        size = len(delivery.message.payload)
        if self.queued >= self.queue_limit or (
            self.queue_bytes_limit and self.queued_bytes + size > self.queue_bytes_limit
        ):
            self.dropped += 1
            return False
        self.queue.append(delivery)
        self.queued_bytes += size
        return True

    def dequeue(self) -> Delivery:
        """Take the oldest queued delivery."""
        delivery = self.queue.popleft()
        self.queued_bytes -= len(delivery.message.payload)
        return delivery

    def cancel_timers(self) -> None:
        """Stop the expiry and delayed-will timers (the client came back, or the broker stops)."""
        for timer in (self.expiry_timer, self.will_timer):
            if timer is not None:
                timer.cancel()
        self.expiry_timer = None
        self.will_timer = None
