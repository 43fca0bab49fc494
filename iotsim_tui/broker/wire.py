"""The broker's hot path on the wire: packet framing and PUBLISH in and out.

Every other packet goes through the shared codec (`iotsim_tui.protocol`); PUBLISH is read and
written here because it is most of the traffic: it is parsed without building intermediate
objects, its forwardable MQTT 5 properties are kept as the bytes they arrived in, and a message
is encoded once per variant and reused for every subscriber that takes that variant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# MQTT 5 reason codes this module raises or the broker sends.
MALFORMED = 0x81
PROTOCOL_ERROR = 0x82
TOPIC_NAME_INVALID = 0x90
TOPIC_ALIAS_INVALID = 0x94
PACKET_TOO_LARGE = 0x95
PAYLOAD_FORMAT_INVALID = 0x99

# PUBLISH property identifiers (MQTT 5.0 s3.3.2.3).
_PAYLOAD_FORMAT = 0x01
_MESSAGE_EXPIRY = 0x02
_CONTENT_TYPE = 0x03
_RESPONSE_TOPIC = 0x08
_CORRELATION_DATA = 0x09
_SUBSCRIPTION_ID = 0x0B
_TOPIC_ALIAS = 0x23
_USER_PROPERTY = 0x26


class WireError(Exception):
    """A packet breaks the protocol; `reason_code` is the MQTT 5 reason code for it."""

    def __init__(self, reason_code: int, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code


def read_remaining_length(buffer: bytes | bytearray, start: int) -> tuple[int, int] | None:
    """Decode the Remaining Length at `buffer[start:]`: (value, bytes used), or None if cut short.

    Raises `WireError` for a fifth length byte (the encoding allows four) and for a longer
    encoding than the value needs (MQTT 5.0 s1.5.5).
    """
    value = 0
    shift = 0
    for used in range(1, 5):
        if start + used > len(buffer):
            return None
        byte = buffer[start + used - 1]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if not byte and used > 1:
                raise WireError(MALFORMED, "a variable byte integer not in its shortest form")
            return value, used
        shift += 7
    raise WireError(MALFORMED, "the Remaining Length takes more than four bytes")


def encode_remaining_length(value: int) -> bytes:
    """The variable byte integer encoding of `value` (0 .. 268,435,455)."""
    if value < 128:
        return bytes((value,))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _decode_utf8(raw: bytes, what: str) -> str:
    if b"\x00" in raw:
        raise WireError(MALFORMED, f"{what} contains the null character U+0000")
    try:
        return raw.decode("utf-8")  # strict: rejects encoded surrogates too
    except UnicodeDecodeError:
        raise WireError(MALFORMED, f"{what} is not well-formed UTF-8") from None


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
            head = len(topic).to_bytes(2, "big") + topic
            tail = self.payload
            if version == 5:
                props = self._properties_for(now, subscription_ids, alias)
                tail = encode_remaining_length(len(props)) + props + self.payload
            cached = (head, tail)
            if simple:
                if self._parts is None:
                    self._parts = {}
                self._parts[key] = cached
        head, tail = cached
        length = len(head) + len(tail) + (2 if qos else 0)
        first = 0x30 | (dup << 3) | (qos << 1) | retain
        if qos:
            return b"".join(
                (
                    bytes((first,)),
                    encode_remaining_length(length),
                    head,
                    packet_id.to_bytes(2, "big"),
                    tail,
                )
            )
        return b"".join((bytes((first,)), encode_remaining_length(length), head, tail))

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
        topic = self.topic.encode()
        body = len(topic).to_bytes(2, "big") + topic
        if version == 5:
            props = self._properties_for(0.0, (), 0)
            body += encode_remaining_length(len(props)) + props
        body += self.payload
        packet = bytes((0x30 | retain,)) + encode_remaining_length(len(body)) + body
        packets[key] = packet
        return packet

    def _properties_for(self, now: float, subscription_ids: tuple[int, ...], alias: int) -> bytes:
        parts = [self.properties]
        if self.expires_at is not None:
            remaining = max(0, int(self.expires_at - now + 0.999))
            parts.append(bytes((_MESSAGE_EXPIRY,)) + remaining.to_bytes(4, "big"))
        if alias:
            parts.append(bytes((_TOPIC_ALIAS,)) + alias.to_bytes(2, "big"))
        for identifier in subscription_ids:
            parts.append(bytes((_SUBSCRIPTION_ID,)) + encode_remaining_length(identifier))
        return b"".join(parts)


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


def decode_publish(flags: int, data: bytes, start: int, end: int, version: int) -> IncomingPublish:
    """Parse the PUBLISH body at `data[start:end]`, whose fixed-header flags are `flags`.

    Raises `WireError` with the MQTT 5 reason code for whatever is wrong.
    """
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise WireError(MALFORMED, "PUBLISH with QoS 3")
    dup = flags & 0x08 != 0
    if dup and not qos:
        raise WireError(MALFORMED, "PUBLISH with QoS 0 must not have the DUP flag")
    if end - start < 2:
        raise WireError(MALFORMED, "PUBLISH too short for its topic length")
    position = start + 2 + ((data[start] << 8) | data[start + 1])
    if position > end:
        raise WireError(MALFORMED, "PUBLISH topic runs past the end of the packet")
    topic = _decode_utf8(data[start + 2 : position], "the PUBLISH topic")
    if "+" in topic or "#" in topic:
        raise WireError(TOPIC_NAME_INVALID, f"PUBLISH topic {topic!r} contains a wildcard")
    packet_id = 0
    if qos:
        if position + 2 > end:
            raise WireError(MALFORMED, "PUBLISH too short for its packet identifier")
        packet_id = (data[position] << 8) | data[position + 1]
        if not packet_id:
            raise WireError(PROTOCOL_ERROR, "PUBLISH with QoS > 0 and packet identifier 0")
        position += 2
    properties = b""
    expiry: int | None = None
    alias = 0
    utf8_payload = False
    if version == 5:
        decoded = read_remaining_length(data, position)
        if decoded is None:
            raise WireError(MALFORMED, "PUBLISH properties length runs past the packet")
        length, used = decoded
        first = position + used
        position = first + length
        if position > end:
            raise WireError(MALFORMED, "PUBLISH properties run past the end of the packet")
        if length:
            properties, expiry, alias, utf8_payload = _publish_properties(data, first, position)
    if not topic:
        if version != 5:
            raise WireError(MALFORMED, "PUBLISH with an empty topic")
        if not alias:
            raise WireError(PROTOCOL_ERROR, "PUBLISH with an empty topic and no topic alias")
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
            raise WireError(PROTOCOL_ERROR, f"PUBLISH property 0x{ident:02X} appears twice")
        seen.add(ident)
        if ident == _PAYLOAD_FORMAT:
            position += 1
            if position > end or body[position - 1] > 1:
                raise WireError(PROTOCOL_ERROR, "Payload Format Indicator must be 0 or 1")
            utf8_payload = body[position - 1] == 1
        elif ident in (_MESSAGE_EXPIRY, _TOPIC_ALIAS):
            width = 4 if ident == _MESSAGE_EXPIRY else 2
            position += width
            if position > end:
                raise WireError(MALFORMED, "a PUBLISH property runs past its properties")
            value = int.from_bytes(body[position - width : position], "big")
            if ident == _MESSAGE_EXPIRY:
                expiry = value
            else:
                if value == 0:
                    raise WireError(TOPIC_ALIAS_INVALID, "Topic Alias 0 is not allowed")
                alias = value
            continue
        elif ident in (_CONTENT_TYPE, _RESPONSE_TOPIC, _CORRELATION_DATA):
            position = _skip_string(body, position, end, utf8=ident != _CORRELATION_DATA)
            if ident == _RESPONSE_TOPIC:
                topic = bytes(body[begin + 3 : position]).decode()
                if "+" in topic or "#" in topic or not topic:
                    raise WireError(PROTOCOL_ERROR, "Response Topic must be a topic name")
        elif ident == _USER_PROPERTY:
            position = _skip_string(body, position, end, utf8=True)
            position = _skip_string(body, position, end, utf8=True)
        elif ident == _SUBSCRIPTION_ID:
            raise WireError(PROTOCOL_ERROR, "a client must not send a Subscription Identifier")
        else:
            raise WireError(MALFORMED, f"property 0x{ident:02X} does not belong in PUBLISH")
        keep.append(bytes(body[begin:position]))
    return b"".join(keep), expiry, alias, utf8_payload


def _skip_string(body: bytes, position: int, end: int, *, utf8: bool) -> int:
    if position + 2 > end:
        raise WireError(MALFORMED, "a PUBLISH property runs past its properties")
    stop = position + 2 + ((body[position] << 8) | body[position + 1])
    if stop > end:
        raise WireError(MALFORMED, "a PUBLISH property runs past its properties")
    if utf8:
        _decode_utf8(body[position + 2 : stop], "a PUBLISH property")
    return stop
