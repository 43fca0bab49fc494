"""The broker's messages as it routes, stores and sends them; PUBLISH read and written fast.

PUBLISH is most of the traffic, so it takes the codec's fast path (`protocol.fast`): it is
parsed without building intermediate objects, its forwardable MQTT 5 properties are kept as
the bytes they arrived in, and a message is encoded once per variant and reused for every
subscriber that takes that variant. Every other packet goes through the general codec.
`decode_publish` and `IncomingPublish` are the codec's, under the names the broker has always
used; variable byte integers are read by the codec's one reader, `protocol.wire.read_vbi`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from iotsim_tui.protocol.errors import ProtocolError
from iotsim_tui.protocol.fast import (
    IncomingPublish,
    publish_packet,
    publish_parts,
    publish_properties,
    read_plain_qos0,
    read_publish,
)
from iotsim_tui.protocol.reasons import ReasonCode

__all__ = [
    "PAYLOAD_FORMAT_INVALID",
    "IncomingPublish",
    "Message",
    "WireError",
    "decode_publish",
    "read_plain_qos0",
]

decode_publish = read_publish
"""Parse a PUBLISH body (`protocol.fast.read_publish`)."""
PAYLOAD_FORMAT_INVALID = ReasonCode.PAYLOAD_FORMAT_INVALID


class WireError(ProtocolError):
    """A packet breaks the protocol, found by the broker's own checks: `WireError(reason, text)`.

    The codec's fast path raises `ProtocolError` (and `MalformedPacket`) itself; catch those.
    """

    def __init__(self, reason_code: int, message: str) -> None:
        super().__init__(message, ReasonCode(reason_code))


@dataclass(slots=True, eq=False)
class Message:
    """An application message as the broker routes and stores it."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: bytes = b""
    """Encoded MQTT 5 properties forwarded as they came (no alias, expiry or subscription id)."""
    expires_at: float | None = None
    """Monotonic time after which the message is no longer delivered (message expiry)."""
    sender: str | None = None
    """The client id that published it (for no-local); None for the broker's own."""
    _parts: dict[int, tuple[bytes, bytes]] | None = field(default=None, repr=False)
    """Encoded (topic, properties + payload) by `version << 1 | retain`, built on first use."""
    _qos0: dict[int, bytes] | None = field(default=None, repr=False)
    """Whole QoS 0 packets by `version << 1 | retain`: the same bytes for every subscriber."""

    def expired(self, now: float) -> bool:
        """True when its message expiry interval has passed."""
        return self.expires_at is not None and now >= self.expires_at

    def encode(
        self,
        version: int,
        qos: int,
        retain: bool,
        packet_id: int = 0,
        dup: bool = False,
        *,
        now: float = 0.0,
        subscription_ids: tuple[int, ...] = (),
        alias: int = 0,
        send_topic: bool = True,
    ) -> bytes:
        """This message as a PUBLISH packet for one subscriber.

        The common case (no per-subscriber properties) is built once per (version, retain)
        pair and reused; only the packet identifier is spliced in for QoS 1 and 2.
        """
        key = version << 1 | retain
        simple = not subscription_ids and not alias and (version != 5 or self.expires_at is None)
        if simple and not qos:
            return self.qos0_packet(version, retain)
        cached = self._parts.get(key) if simple and self._parts is not None else None
        if cached is None:
            topic = self.topic.encode() if send_topic else b""
            properties = None
            if version == 5:
                properties = self._properties_for(now, subscription_ids, alias)
            cached = publish_parts(topic, properties, self.payload)
            if simple:
                if self._parts is None:
                    self._parts = {}
                self._parts[key] = cached
        head, tail = cached
        return publish_packet(head, tail, qos, retain, packet_id, dup)

    def reuse_packet(self, version: int, packet: bytes) -> None:
        """Keep the QoS 0, non-retained PUBLISH it arrived in: it is what subscribers of the
        same protocol version get, byte for byte (no alias or expiry to rewrite)."""
        self._qos0 = {version << 1: packet}

    def qos0_packet(self, version: int, retain: bool) -> bytes:
        """This message as a QoS 0 PUBLISH without per-subscriber properties, built once."""
        key = version << 1 | retain
        packets = self._qos0
        if packets is None:
            packets = self._qos0 = {}
        else:
            packet = packets.get(key)
            if packet is not None:
                return packet
        properties = self._properties_for(0.0, (), 0) if version == 5 else None
        head, tail = publish_parts(self.topic.encode(), properties, self.payload)
        packet = publish_packet(head, tail, 0, retain)
        packets[key] = packet
        return packet

    def _properties_for(self, now: float, subscription_ids: tuple[int, ...], alias: int) -> bytes:
        expiry = None
        if self.expires_at is not None:
            expiry = max(0, int(self.expires_at - now + 0.999))
        return publish_properties(self.properties, expiry, alias, subscription_ids)
