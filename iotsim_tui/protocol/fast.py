"""PUBLISH the short way, for the hot paths: the same bytes as `encode`, fewer objects.

Nearly all the traffic of a simulation and of the broker is PUBLISH. The general codec builds
a `Publish` value for each; the devices' telemetry and the broker's delivery build the packet
from bytes they keep (a topic encoded once, a message encoded once per protocol version). The
tests hold every function here to the general codec's output.
"""

from __future__ import annotations

from iotsim_tui.protocol.encoding import encode_publish
from iotsim_tui.protocol.packets import Publish
from iotsim_tui.protocol.reasons import MQTTVersion
from iotsim_tui.protocol.wire import U16, encode_vbi

_QOS0_FIRST = (b"\x30", b"\x31")
"""The first byte of a QoS 0 PUBLISH, by retain flag."""


def publish_qos0(topic: str, payload: bytes, retain: bool, version: int) -> bytes:
    """A QoS 0 PUBLISH with no properties; `version` is the protocol level (4, 5)."""
    return encode_publish(Publish(topic, payload, retain=retain), MQTTVersion(version))


class Qos0Frame:
    """QoS 0 PUBLISH packets to one topic, with the bytes that never change encoded once.

    Telemetry publishes to the same topic every time: only the length and payload differ.
    """

    __slots__ = ("_first", "_fixed", "retain")

    def __init__(self, name: bytes, retain: bool, version: int) -> None:
        self.retain = retain
        self._first = _QOS0_FIRST[retain]
        # The topic, then (MQTT 5) an empty property list; QoS 0 has no packet id.
        self._fixed = U16.pack(len(name)) + name + (b"\x00" if version == MQTTVersion.V5 else b"")

    @classmethod
    def for_topic(cls, topic: str, qos: int, retain: bool, version: int) -> Qos0Frame | None:
        """The frame for telemetry to `topic`; None at QoS 1/2 (or a topic MQTT cannot carry,
        which the general way reports)."""
        name = topic.encode("utf-8")
        return cls(name, retain, version) if qos == 0 and len(name) <= 0xFFFF else None

    def packet(self, payload: bytes) -> bytes:
        """The whole PUBLISH packet carrying `payload`."""
        fixed = self._fixed
        return b"".join((self._first, encode_vbi(len(fixed) + len(payload)), fixed, payload))
