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


class Outgoing:
    """One device's outgoing messages, its outbox and its count of messages sent.

    Args:
        device_id: Who publishes (named in the events).
        telemetry: The device's telemetry, with `builders` making their payloads.
        context: The network's shared settings, totals and event stream.
    """

    __slots__ = (
        "_builders",
        "_context",
        "_device_id",
        "_frames",
        "_level",
        "_paho",
        "_properties",
        "_telemetry",
        "_watches",
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
        self._telemetry = telemetry
        self._builders = builders
        self._context = context
        self._level = level
        """The protocol level: 4 for MQTT 3.1.1, 5."""
        self._properties = properties or [NO_PROPERTIES] * len(telemetry)
        """Each telemetry's MQTT 5 properties (NO_PROPERTIES: none)."""
        self._frames = [
            Qos0Frame.for_topic(b.topic, t.qos, t.retain, level, encode_properties(p))
            for b, t, p in zip(builders, telemetry, self._properties, strict=True)
        ]
        self._watches = (
            [Watch(t.publish_when) for t in telemetry]
            if any(t.publish_when for t in telemetry)
            else None
        )
        """Each telemetry's trigger, when one has any (None: every interval, no checks)."""
        self.outbox = Outbox(context.totals)
        self.messages_out = 0
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
        """Build and publish telemetry `index` now (unless its trigger holds it back)."""
        builder = self._builders[index]
        if self._watches is None:
            payload = builder.build()
        else:
            values, payload = builder.sample()
            if not self._watches[index].fires(values):
                return
        frame, writer = self._frames[index], self._writer
        if frame is None or writer is None:  # QoS 1/2, or offline: the general way
            telemetry = self._telemetry[index]
            self.publish(
                builder.topic,
                payload,
                telemetry.qos,
                telemetry.retain,
                MessageKind.TELEMETRY,
                self._properties[index],
            )
            return
        if writer.send(frame.packet(payload)):
            self.outbox.sent_at_once()
            self._count(builder.topic, payload, 0, frame.retain, MessageKind.TELEMETRY)
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

    def connected(self) -> None:
        """The device (re)connected: each trigger publishes its next sample whatever it is."""
        for watch in self._watches or ():
            watch.last = _UNSET

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
        if self.probe is not None and kind is MessageKind.TELEMETRY:
            self.probe(topic, payload)
        context = self._context
        context.totals.messages_out += 1
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
