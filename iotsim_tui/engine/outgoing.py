"""What one device publishes: sent at once while connected, otherwise kept or dropped.

Publishing never waits: QoS 0 goes straight to the socket, QoS 1/2 are tracked by packet id
until the broker acknowledges them, and wait in the device's bounded outbox while it is
offline. Telemetry at QoS 0, nearly all the traffic at scale, takes a shorter way: its topic
is encoded once (`Qos0Frame`) and no message object is made on the way to the socket.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from iotsim_tui.engine.context import NetworkContext
from iotsim_tui.engine.events import PAYLOAD_PREVIEW_BYTES, MessageKind, MessageOut
from iotsim_tui.engine.generators import PayloadBuilder
from iotsim_tui.engine.message_properties import to_paho
from iotsim_tui.engine.mqtt_client import MQTT_ERR_SUCCESS, PahoClient, Qos0Writer, send_qos0
from iotsim_tui.engine.outbox import NOT_QUEUED, Outbox, Pending
from iotsim_tui.engine.views import Ledger
from iotsim_tui.profiles.model import Telemetry, Trigger
from iotsim_tui.protocol.fast import Qos0Frame
from iotsim_tui.protocol.properties import NO_PROPERTIES, Properties, encode_properties

_UNSET = object()


class Watch:
    """A telemetry's trigger and what it last published and sampled."""

    __slots__ = ("last", "previous", "trigger")

    def __init__(self, trigger: Trigger | None) -> None:
        self.trigger = trigger
        self.last: object = _UNSET
        """The field's value in the last message published (_UNSET: publish the next)."""
        self.previous: object = _UNSET
        """The field's value at the last sample, published or not."""

    def fires(self, values: Mapping[str, Any]) -> bool:
        """True when this sample is to be published."""
        trigger = self.trigger
        if trigger is None:
            return True
        value = values.get(trigger.field)
        previous, self.previous = self.previous, value
        fire = self.last is _UNSET
        if not fire and trigger.change is not None:
            fire = _moved(self.last, value, trigger.change)
        if not fire and trigger.crosses is not None and _numeric(previous) and _numeric(value):
            line = trigger.crosses
            fire = (previous < line) != (value < line)  # type: ignore[operator]
        if fire:
            self.last = value
        return fire


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _moved(last: object, value: object, change: float) -> bool:
    if _numeric(last) and _numeric(value):
        return abs(cast(float, value) - cast(float, last)) >= change
    return value != last  # text, true/false: any change


class _TelemetryOut:
    """What publishing one telemetry of one device takes, kept together: each publish reads
    this one object rather than a list and an object for each part."""

    __slots__ = (
        "build",
        "fixed",
        "frame",
        "heads",
        "properties",
        "qos",
        "retain",
        "sample",
        "topic",
        "watch",
    )

    def __init__(
        self, builder: PayloadBuilder, telemetry: Telemetry, level: int, properties: Properties
    ) -> None:
        self.build = builder.build
        self.sample = builder.sample
        self.topic = builder.topic
        self.qos = telemetry.qos
        self.retain = telemetry.retain
        self.properties = properties
        """MQTT 5 properties (NO_PROPERTIES: none)."""
        self.frame = Qos0Frame.for_topic(
            self.topic, self.qos, self.retain, level, encode_properties(properties)
        )
        """The QoS 0 PUBLISH made around each payload (None at QoS 1/2: the general way)."""
        self.fixed = None if self.frame is None else self.frame.fixed
        self.heads: tuple[bytes, ...] = () if self.frame is None else self.frame.heads
        """The frame's parts, read here for the packets it makes in one piece (most
        telemetry): one object fewer to read per message."""
        self.watch = Watch(telemetry.publish_when) if telemetry.publish_when else None
        """The telemetry's trigger (None: every interval, no checks)."""


class Outgoing:
    """One device's outgoing messages, its outbox and its count of messages sent.

    Args:
        device_id: Who publishes (named in the events).
        telemetry: The device's telemetry, with `builders` making their payloads.
        context: The network's shared settings, totals and event stream.
    """

    __slots__ = (
        "_context",
        "_device_id",
        "_level",
        "_paho",
        "_sent_at_once",
        "_telemetry",
        "_totals",
        "_writer",
        "messages_out",
        "outbox",
        "probe",
    )

    def __init__(
        self,
        device_id: str,
        telemetry: tuple[Telemetry, ...],
        builders: list[PayloadBuilder],
        context: NetworkContext,
        level: int,
        properties: list[Properties] | None = None,
    ) -> None:
        self._device_id = device_id
        self._context = context
        self._totals = context.totals
        self._level = level
        """The protocol level: 4 for MQTT 3.1.1, 5."""
        self._telemetry = tuple(  # a tuple: its items are in the object itself, not apart
            _TelemetryOut(b, t, level, p)
            for b, t, p in zip(
                builders, telemetry, properties or [NO_PROPERTIES] * len(telemetry), strict=True
            )
        )
        self.outbox = Outbox(context.totals)
        self.messages_out = 0
        self._sent_at_once = 0
        """QoS 0 telemetry sent as it was published (counted here, not in the outbox)."""
        self._paho: PahoClient | None = None
        self._writer: Qos0Writer | None = None
        self.probe: Callable[[str, bytes], None] | None = None
        """Told of each telemetry message as it goes out, when the latency probe times it."""

    @property
    def paho(self) -> PahoClient | None:
        """The connection's paho client while the broker has accepted it (None: offline)."""
        return self._paho

    @paho.setter
    def paho(self, paho: PahoClient | None) -> None:
        self._paho = paho
        self._writer = None if paho is None else Qos0Writer(paho)

    def publish_telemetry(self, index: int) -> None:
        """Build and publish telemetry `index` now (unless its trigger holds it back).

        The hot path of a simulation (ten thousand devices publishing every second): QoS 0
        telemetry of a connected device goes from its payload builder, through its frame, to
        the socket, and is counted, with as few objects looked at as it takes.
        """
        out = self._telemetry[index]
        if out.watch is None:
            payload = out.build()
        else:
            values, payload = out.sample()
            if not out.watch.fires(values):
                return
        fixed, writer = out.fixed, self._writer
        if fixed is None or writer is None:  # QoS 1/2, or offline: the general way
            kind = MessageKind.TELEMETRY
            self.publish(out.topic, payload, out.qos, out.retain, kind, out.properties)
            return
        size = len(fixed) + len(payload)  # Qos0Frame.packet, without the call
        if size < 128:
            packet = out.heads[size] + fixed + payload
        else:
            assert out.frame is not None  # (fixed is its part)
            packet = out.frame.packet(payload)
        if writer.send(packet):
            self.messages_out += 1
            self._sent_at_once += 1
            totals = self._totals
            totals.messages_out += 1
            totals.sent_at_once += 1
            if self.probe is not None or self._context.recording:
                self._told(out.topic, payload, 0, out.retain, MessageKind.TELEMETRY)
        else:
            self.outbox.accept()
            self.outbox.drop(NOT_QUEUED)

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        kind: MessageKind,
        properties: Properties = NO_PROPERTIES,
    ) -> None:
        """Publish without waiting: sent now, kept in the outbox (QoS 1/2) or dropped."""
        self.outbox.accept()
        message = Pending(topic, payload, qos, retain, kind, properties)
        if self.paho is None or not self._send(self.paho, message):
            self.outbox.keep(message)

    def ledger(self) -> Ledger:
        """The device's ledger now."""
        return self.outbox.ledger(self._sent_at_once)

    def connected(self) -> None:
        """The device (re)connected: each trigger publishes its next sample whatever it is."""
        for out in self._telemetry:
            if out.watch is not None:
                out.watch.last = _UNSET

    def flush(self) -> None:
        """Send what waits in the outbox (the device has just connected)."""
        waiting = self.outbox.waiting
        while waiting and self.paho is not None:
            if not self._send(self.paho, waiting[0]):
                return
            waiting.popleft()

    def _send(self, paho: PahoClient, message: Pending) -> bool:
        if message.qos == 0:
            if not send_qos0(
                paho,
                message.topic,
                message.payload,
                message.retain,
                self._level,
                message.properties,
            ):
                return False
            self.outbox.sent_at_most_once()
        else:
            info = paho.publish(
                message.topic,
                message.payload,
                message.qos,
                message.retain,
                to_paho(message.properties) if self._level == 5 else None,
            )
            if info.rc != MQTT_ERR_SUCCESS:
                return False
            self.outbox.sent(message, info.mid)
        self._count(message.topic, message.payload, message.qos, message.retain, message.kind)
        return True

    def _count(self, topic: str, payload: bytes, qos: int, retain: bool, kind: MessageKind) -> None:
        self.messages_out += 1
        self._totals.messages_out += 1
        self._told(topic, payload, qos, retain, kind)

    def _told(self, topic: str, payload: bytes, qos: int, retain: bool, kind: MessageKind) -> None:
        """Tell the latency probe and the event stream of a message sent (when they listen)."""
        if self.probe is not None and kind is MessageKind.TELEMETRY:
            self.probe(topic, payload)
        context = self._context
        if context.recording:  # otherwise nobody reads events: the counters are the summary
            context.emit(
                MessageOut(
                    self._device_id,
                    topic,
                    qos,
                    retain,
                    payload[:PAYLOAD_PREVIEW_BYTES],
                    len(payload),
                    kind,
                    time.time(),
                )
            )
