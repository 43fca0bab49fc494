"""PUBLISH the short way, for the hot paths: the same bytes as `encode`, fewer objects.

Nearly all the traffic of a simulation and of the broker is PUBLISH. The general codec builds
a `Publish` value for each; the devices' telemetry and the broker's delivery build the packet
from bytes they keep (a topic encoded once, a message encoded once per protocol version). The
tests hold every function here to the general codec's output.
"""

from __future__ import annotations

from dataclasses import dataclass

from iotsim_tui.protocol.encoding import encode_publish
from iotsim_tui.protocol.errors import MalformedPacket, ProtocolError
from iotsim_tui.protocol.packets import Publish
from iotsim_tui.protocol.properties import NO_PROPERTIES, Properties, PropertyId
from iotsim_tui.protocol.reasons import MQTTVersion, ReasonCode
from iotsim_tui.protocol.wire import U16, U32, decode_text, encode_vbi, read_vbi

_QOS0_FIRST = (b"\x30", b"\x31")
"""The first byte of a QoS 0 PUBLISH, by retain flag."""
_QOS0_SHORT_HEADS = tuple(
    tuple(bytes((first[0], size)) for size in range(128)) for first in _QOS0_FIRST
)
"""The fixed header of a QoS 0 PUBLISH shorter than 128 bytes after it, by retain flag and
length (a Remaining Length under 128 takes one byte)."""


def publish_qos0(
    topic: str,
    payload: bytes,
    retain: bool,
    version: int,
    properties: Properties = NO_PROPERTIES,
) -> bytes:
    """A QoS 0 PUBLISH; `version` is the protocol level (4, 5), `properties` go on 5 only."""
    if version != MQTTVersion.V5:
        properties = NO_PROPERTIES
    publish = Publish(topic, payload, retain=retain, properties=properties)
    return encode_publish(publish, MQTTVersion(version))


class Qos0Frame:
    """QoS 0 PUBLISH packets to one topic, with the bytes that never change encoded once.

    Telemetry publishes to the same topic every time: only the length and payload differ.
    """

    __slots__ = ("_first", "_fixed", "_heads", "retain")

    def __init__(
        self, name: bytes, retain: bool, version: int, properties: bytes = b"\x00"
    ) -> None:
        self.retain = retain
        self._first = _QOS0_FIRST[retain]
        self._heads = _QOS0_SHORT_HEADS[retain]
        # The topic, then (MQTT 5) the encoded properties; QoS 0 has no packet id.
        self._fixed = (
            U16.pack(len(name)) + name + (properties if version == MQTTVersion.V5 else b"")
        )

    @classmethod
    def for_topic(
        cls, topic: str, qos: int, retain: bool, version: int, properties: bytes = b"\x00"
    ) -> Qos0Frame | None:
        """The frame for telemetry to `topic`; None at QoS 1/2 (or a topic MQTT cannot carry,
        which the general way reports). `properties`: the encoded MQTT 5 properties."""
        name = topic.encode("utf-8")
        if qos != 0 or len(name) > 0xFFFF:
            return None
        return cls(name, retain, version, properties)

    @property
    def fixed(self) -> bytes:
        """What follows the fixed header, before the payload (the topic, MQTT 5 properties)."""
        return self._fixed

    @property
    def heads(self) -> tuple[bytes, ...]:
        """The fixed header of a packet whose rest is shorter than 128 bytes, by its length."""
        return self._heads

    def packet(self, payload: bytes) -> bytes:
        """The whole PUBLISH packet carrying `payload`."""
        fixed = self._fixed
        size = len(fixed) + len(payload)
        if size < 128:  # most telemetry: the header is one of a few made in advance
            return self._heads[size] + fixed + payload
        return b"".join((self._first, encode_vbi(size), fixed, payload))


# -- The broker's side: PUBLISH read without building a `Publish`, written once per variant --

# PUBLISH property identifiers (MQTT 5.0 s3.3.2.3), as plain ints for the loops below.
_PAYLOAD_FORMAT = int(PropertyId.PAYLOAD_FORMAT_INDICATOR)
_MESSAGE_EXPIRY = int(PropertyId.MESSAGE_EXPIRY_INTERVAL)
_CONTENT_TYPE = int(PropertyId.CONTENT_TYPE)
_RESPONSE_TOPIC = int(PropertyId.RESPONSE_TOPIC)
_CORRELATION_DATA = int(PropertyId.CORRELATION_DATA)
_SUBSCRIPTION_ID = int(PropertyId.SUBSCRIPTION_IDENTIFIER)
_TOPIC_ALIAS = int(PropertyId.TOPIC_ALIAS)
_USER_PROPERTY = int(PropertyId.USER_PROPERTY)


def _malformed(problem: str) -> MalformedPacket:
    return MalformedPacket(problem, ReasonCode.MALFORMED_PACKET)


def read_plain_qos0(data: bytes, start: int, end: int, version: int) -> tuple[str, int] | None:
    """The topic and where the payload starts, for the PUBLISH body at `data[start:end]` of a
    QoS 0, not retained PUBLISH (first byte 0x30) that needs nothing but routing: a topic of
    its own (no `$` first, no alias) and, in MQTT 5, no properties. None for any other, and
    for anything wrong, which `read_publish` then reports."""
    if end - start < 2:
        return None
    position = start + 2 + ((data[start] << 8) | data[start + 1])
    if version == 5:
        if position >= end or data[position]:
            return None
    elif position > end:
        return None
    try:
        topic = str(data[start + 2 : position], "utf-8")
    except UnicodeDecodeError:
        return None
    if not topic or topic[0] == "$" or "+" in topic or "#" in topic or "\x00" in topic:
        return None
    return topic, position + 1 if version == 5 else position


@dataclass(slots=True)
class IncomingPublish:
    """A PUBLISH packet a client sent, checked against the spec."""

    topic: str
    """Empty when the client used a topic alias alone."""
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    packet_id: int
    properties: bytes
    """Forwardable properties, still encoded."""
    message_expiry: int | None
    topic_alias: int
    utf8_payload: bool
    """Payload Format Indicator 1: the payload must be UTF-8."""


def read_publish(flags: int, data: bytes, start: int, end: int, version: int) -> IncomingPublish:
    """Parse the PUBLISH body at `data[start:end]`, whose fixed-header flags are `flags`.

    Raises `ProtocolError` (`MalformedPacket` for bytes that do not parse) with the MQTT 5
    reason code for whatever is wrong.
    """
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise _malformed("PUBLISH with QoS 3")
    dup = flags & 0x08 != 0
    if dup and not qos:
        raise _malformed("PUBLISH with QoS 0 must not have the DUP flag")
    if end - start < 2:
        raise _malformed("PUBLISH too short for its topic length")
    position = start + 2 + ((data[start] << 8) | data[start + 1])
    if position > end:
        raise _malformed("PUBLISH topic runs past the end of the packet")
    topic = decode_text(data[start + 2 : position], "PUBLISH: topic name")
    if "+" in topic or "#" in topic:
        raise ProtocolError(
            f"PUBLISH topic {topic!r} contains a wildcard", ReasonCode.TOPIC_NAME_INVALID
        )
    packet_id = 0
    if qos:
        if position + 2 > end:
            raise _malformed("PUBLISH too short for its packet identifier")
        packet_id = (data[position] << 8) | data[position + 1]
        if not packet_id:
            raise ProtocolError("PUBLISH with QoS > 0 and packet identifier 0")
        position += 2
    properties = b""
    expiry: int | None = None
    alias = 0
    utf8_payload = False
    if version == 5:
        try:
            decoded = read_vbi(data, position, end)
        except MalformedPacket as error:
            raise _malformed(f"PUBLISH properties length: {error}") from None
        if decoded is None:
            raise _malformed("PUBLISH properties length runs past the packet")
        length, used = decoded
        first = position + used
        position = first + length
        if position > end:
            raise _malformed("PUBLISH properties run past the end of the packet")
        if length:
            properties, expiry, alias, utf8_payload = _publish_properties(data, first, position)
    if not topic:
        if version != 5:
            raise _malformed("PUBLISH with an empty topic")
        if not alias:
            raise ProtocolError("PUBLISH with an empty topic and no topic alias")
    return IncomingPublish(
        topic, data[position:end], qos, flags & 1 != 0, dup, packet_id, properties, expiry,
        alias, utf8_payload,
    )  # fmt: skip


def _publish_properties(body: bytes, start: int, end: int) -> tuple[bytes, int | None, int, bool]:
    keep: list[bytes] = []
    seen: set[int] = set()
    expiry: int | None = None
    alias = 0
    utf8_payload = False
    position = start
    while position < end:
        ident = body[position]
        begin = position
        position += 1
        if ident in seen and ident != _USER_PROPERTY:
            raise ProtocolError(f"PUBLISH property 0x{ident:02X} appears twice")
        seen.add(ident)
        if ident == _PAYLOAD_FORMAT:
            position += 1
            if position > end or body[position - 1] > 1:
                raise ProtocolError("Payload Format Indicator must be 0 or 1")
            utf8_payload = body[position - 1] == 1
        elif ident in (_MESSAGE_EXPIRY, _TOPIC_ALIAS):
            width = 4 if ident == _MESSAGE_EXPIRY else 2
            position += width
            if position > end:
                raise _malformed("a PUBLISH property runs past its properties")
            value = int.from_bytes(body[position - width : position], "big")
            if ident == _MESSAGE_EXPIRY:
                expiry = value
            else:
                if value == 0:
                    raise ProtocolError(
                        "Topic Alias 0 is not allowed", ReasonCode.TOPIC_ALIAS_INVALID
                    )
                alias = value
            continue
        elif ident in (_CONTENT_TYPE, _RESPONSE_TOPIC, _CORRELATION_DATA):
            position = _skip_string(body, position, end, utf8=ident != _CORRELATION_DATA)
            if ident == _RESPONSE_TOPIC:
                topic = bytes(body[begin + 3 : position]).decode()
                if "+" in topic or "#" in topic or not topic:
                    raise ProtocolError("Response Topic must be a topic name")
        elif ident == _USER_PROPERTY:
            position = _skip_string(body, position, end, utf8=True)
            position = _skip_string(body, position, end, utf8=True)
        elif ident == _SUBSCRIPTION_ID:
            raise ProtocolError("a client must not send a Subscription Identifier")
        else:
            raise _malformed(f"property 0x{ident:02X} does not belong in PUBLISH")
        keep.append(bytes(body[begin:position]))
    return b"".join(keep), expiry, alias, utf8_payload


def _skip_string(body: bytes, position: int, end: int, *, utf8: bool) -> int:
    if position + 2 > end:
        raise _malformed("a PUBLISH property runs past its properties")
    stop = position + 2 + ((body[position] << 8) | body[position + 1])
    if stop > end:
        raise _malformed("a PUBLISH property runs past its properties")
    if utf8:
        decode_text(body[position + 2 : stop], "PUBLISH: a property")
    return stop


def publish_properties(
    forwarded: bytes, expiry: int | None, alias: int, subscription_ids: tuple[int, ...]
) -> bytes:
    """A PUBLISH's MQTT 5 properties: those forwarded as they came, then the broker's own for
    one subscriber (remaining message expiry, topic alias, subscription identifiers)."""
    parts = [forwarded]
    if expiry is not None:
        parts.append(bytes((_MESSAGE_EXPIRY,)) + U32.pack(expiry))
    if alias:
        parts.append(bytes((_TOPIC_ALIAS,)) + U16.pack(alias))
    for identifier in subscription_ids:
        parts.append(bytes((_SUBSCRIPTION_ID,)) + encode_vbi(identifier))
    return b"".join(parts)


def publish_parts(topic: bytes, properties: bytes | None, payload: bytes) -> tuple[bytes, bytes]:
    """The two parts of a PUBLISH body around its packet identifier: the topic, then
    properties (MQTT 5; None for 3.1.1) and payload. `topic` is encoded (b"": alias only)."""
    head = U16.pack(len(topic)) + topic
    if properties is None:
        return head, payload
    return head, encode_vbi(len(properties)) + properties + payload


def publish_packet(
    head: bytes, tail: bytes, qos: int, retain: bool, packet_id: int = 0, dup: bool = False
) -> bytes:
    """A whole PUBLISH packet from the parts `publish_parts` made."""
    first = 0x30 | (dup << 3) | (qos << 1) | retain
    if qos:
        length = len(head) + 2 + len(tail)
        return b"".join((bytes((first,)), encode_vbi(length), head, U16.pack(packet_id), tail))
    return b"".join((bytes((first,)), encode_vbi(len(head) + len(tail)), head, tail))
