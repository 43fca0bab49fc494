"""Packet bodies to packet values, one function per packet type, with the spec's checks.

Each decoder gets the fixed header flags (already checked where they are fixed), the body
after the fixed header, and the protocol version of the connection.
"""

from __future__ import annotations

from collections.abc import Callable

from iotsim_tui.protocol.errors import MalformedPacket, UnsupportedProtocolVersion
from iotsim_tui.protocol.packets import (
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    RetainHandling,
    SubAck,
    Subscribe,
    SubscriptionRequest,
    UnsubAck,
    Unsubscribe,
    Will,
    new_publish,
)
from iotsim_tui.protocol.properties import NO_PROPERTIES, WILL, Properties, decode_properties
from iotsim_tui.protocol.reasons import ConnectReturnCode, MQTTVersion, PacketType, ReasonCode
from iotsim_tui.protocol.topics import SHARE_PREFIX, TopicError, validate_topic_filter
from iotsim_tui.protocol.wire import U16, Cursor, decode_text, ends_early

Decoder = Callable[[int, memoryview, MQTTVersion], Packet]

_V5 = MQTTVersion.V5
_R = ReasonCode
_ACK_REASONS = frozenset({0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99})
_ALLOWED_REASONS = {
    PacketType.CONNACK: frozenset(
        {0x00, *range(0x80, 0x8B), 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F}
    ),
    PacketType.PUBACK: _ACK_REASONS,
    PacketType.PUBREC: _ACK_REASONS,
    PacketType.PUBREL: frozenset({0x00, 0x92}),
    PacketType.PUBCOMP: frozenset({0x00, 0x92}),
    PacketType.SUBACK: frozenset({0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E})
    | {0xA1, 0xA2},
    PacketType.UNSUBACK: frozenset({0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}),
    PacketType.DISCONNECT: frozenset(
        {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, *range(0x8F, 0xA3)}
    )
    - {0x91, 0x92},
    PacketType.AUTH: frozenset({0x00, 0x18, 0x19}),
}
_VERSION_NAMES = {MQTTVersion.V31: "3.1", MQTTVersion.V311: "3.1.1", MQTTVersion.V5: "5.0"}
_SUBACK_V311 = frozenset({0x00, 0x01, 0x02, 0x80})
_LEVELS_BY_NAME = {"MQTT": (MQTTVersion.V311, MQTTVersion.V5), "MQIsdp": (MQTTVersion.V31,)}


def _reason(cursor: Cursor, packet_type: PacketType) -> ReasonCode:
    code = cursor.u8("reason code")
    if code not in _ALLOWED_REASONS[packet_type]:
        raise cursor.fail(
            f"reason code 0x{code:02X} is not one a {packet_type.name} may carry",
            _R.PROTOCOL_ERROR,
        )
    return ReasonCode(code)


def _packet_id(cursor: Cursor) -> int:
    packet_id = cursor.u16("packet identifier")
    if not packet_id:
        raise cursor.fail("the packet identifier must not be 0", _R.PROTOCOL_ERROR)
    return packet_id


def _topic_filter(cursor: Cursor, version: MQTTVersion) -> str:
    topic_filter = cursor.string("topic filter")
    try:
        validate_topic_filter(topic_filter, shared=version == _V5)
    except TopicError as error:
        raise cursor.fail(
            f"topic filter {topic_filter!r}: {error}", _R.TOPIC_FILTER_INVALID
        ) from None
    return topic_filter


def _check_topic_name(topic: str, where: str) -> None:
    if "+" in topic or "#" in topic:
        raise MalformedPacket(
            f"{where} {topic!r} must not contain the wildcards '+' or '#'", _R.TOPIC_NAME_INVALID
        )


def decode_connect(flags: int, body: memoryview, version: MQTTVersion) -> Connect:
    """CONNECT, read with the protocol level it announces (not `version`)."""
    cursor = Cursor(body, "CONNECT")
    name = cursor.string("protocol name")
    level = cursor.u8("protocol level")
    known = level in MQTTVersion._value2member_map_
    if name not in _LEVELS_BY_NAME:
        raise MalformedPacket(
            f"CONNECT: protocol name {name!r} is not 'MQTT' (or 'MQIsdp' for MQTT 3.1)",
            _R.UNSUPPORTED_PROTOCOL_VERSION,
            version=MQTTVersion(level) if known else None,
        )
    if level not in _LEVELS_BY_NAME[name]:
        raise UnsupportedProtocolVersion(
            f"CONNECT: protocol level {level} is not supported with protocol name {name!r} "
            f"(3 = 3.1 as 'MQIsdp', 4 = 3.1.1 and 5 = 5.0 as 'MQTT')",
            _R.UNSUPPORTED_PROTOCOL_VERSION,
            connack_return_code=ConnectReturnCode.UNACCEPTABLE_PROTOCOL_VERSION,
            version=MQTTVersion.V311,
        )
    level_version = MQTTVersion(level)
    try:
        return _connect_fields(cursor, name, level_version)
    except MalformedPacket as error:
        error.version = level_version
        raise


def _connect_fields(cursor: Cursor, name: str, level: MQTTVersion) -> Connect:
    flags = cursor.u8("connect flags")
    if flags & 0x01:
        raise cursor.fail("the reserved connect flag (bit 0) must be 0")
    has_will = bool(flags & 0x04)
    will_qos = (flags >> 3) & 0x03
    will_retain = bool(flags & 0x20)
    has_password = bool(flags & 0x40)
    has_username = bool(flags & 0x80)
    if not has_will and (will_qos or will_retain):
        raise cursor.fail("will QoS and will retain must be 0 when the will flag is 0")
    if will_qos == 3:
        raise cursor.fail("will QoS must be 0, 1 or 2, not 3")
    if has_password and not has_username and level < _V5:
        raise cursor.fail(
            f"a password needs a user name in MQTT {_VERSION_NAMES[level]} "
            "(password flag set, user name flag not)"
        )
    keepalive = cursor.u16("keep alive")
    properties = decode_properties(cursor, PacketType.CONNECT) if level == _V5 else NO_PROPERTIES
    client_id = cursor.string("client identifier")
    will = None
    if has_will:
        will_properties = decode_properties(cursor, WILL) if level == _V5 else NO_PROPERTIES
        will_topic = cursor.string("will topic")
        if not will_topic:
            raise cursor.fail("the will topic must not be empty", _R.TOPIC_NAME_INVALID)
        _check_topic_name(will_topic, "CONNECT: will topic")
        will = Will(
            will_topic, cursor.binary("will payload"), will_qos, will_retain, will_properties
        )
    username = cursor.string("user name") if has_username else None
    password = cursor.binary("password") if has_password else None
    cursor.expect_end()
    clean_start = bool(flags & 0x02)
    problem = None
    if level == MQTTVersion.V31 and not 1 <= len(client_id) <= 23:
        problem = f"MQTT 3.1 needs a client identifier of 1 to 23 characters, not {len(client_id)}"
    elif level == MQTTVersion.V311 and not client_id and not clean_start:
        problem = "an empty client identifier is only allowed with a clean session"
    if problem:
        raise MalformedPacket(
            f"CONNECT: {problem}",
            _R.CLIENT_IDENTIFIER_NOT_VALID,
            connack_return_code=ConnectReturnCode.IDENTIFIER_REJECTED,
        )
    return Connect(
        client_id=client_id,
        protocol_level=level,
        protocol_name=name,
        clean_start=clean_start,
        keepalive=keepalive,
        will=will,
        username=username,
        password=password,
        properties=properties,
    )


def decode_connack(flags: int, body: memoryview, version: MQTTVersion) -> ConnAck:
    """CONNACK: 2 bytes in 3.1.1; flags, reason code and properties in 5.0."""
    cursor = Cursor(body, "CONNACK")
    if version < _V5 and len(body) != 2:
        raise cursor.fail(f"the remaining length must be 2, not {len(body)}")
    acknowledge = cursor.u8("acknowledge flags")
    if acknowledge & 0xFE:
        raise cursor.fail("the reserved acknowledge flags (bits 7-1) must be 0")
    code: ReasonCode | ConnectReturnCode
    if version == _V5:
        code = _reason(cursor, PacketType.CONNACK)
        properties = decode_properties(cursor, PacketType.CONNACK)
        cursor.expect_end()
    else:
        value = cursor.u8("return code")
        if value > 5:
            raise cursor.fail(f"return code {value} is reserved (0 to 5 are defined)")
        code = ConnectReturnCode(value)
        properties = NO_PROPERTIES
    if acknowledge and code:
        raise cursor.fail(
            "session present must be 0 when the connection is refused", _R.PROTOCOL_ERROR
        )
    return ConnAck(bool(acknowledge), code, properties)


def decode_publish(flags: int, body: memoryview, version: MQTTVersion) -> Publish:
    """PUBLISH; kept lean, it is most of the traffic (errors are built off the hot path)."""
    qos = (flags >> 1) & 0x03
    size = len(body)
    pos = 2 + U16.unpack_from(body)[0] if size >= 2 else 2
    if qos == 3 or (flags & 0x08 and not qos) or pos > size:
        raise _publish_header_problem(flags, size, pos)
    try:
        topic = str(body[2:pos], "utf-8")
    except UnicodeDecodeError:
        topic = decode_text(body[2:pos], "PUBLISH: topic name")  # raises the right message
    if "\x00" in topic:
        decode_text(body[2:pos], "PUBLISH: topic name")
    if "+" in topic or "#" in topic:
        _check_topic_name(topic, "PUBLISH: topic name")
    packet_id = 0
    if qos:
        if pos + 2 > size:
            raise MalformedPacket(
                f"PUBLISH: {ends_early(pos + 2 - size, 'packet identifier')}",
                _R.MALFORMED_PACKET,
            )
        packet_id = U16.unpack_from(body, pos)[0]
        pos += 2
        if not packet_id:
            raise MalformedPacket(
                f"PUBLISH: the packet identifier must not be 0 with QoS {qos}", _R.PROTOCOL_ERROR
            )
    properties = NO_PROPERTIES
    if version == 5:
        if pos < size and not body[pos]:
            pos += 1
        else:
            cursor = Cursor(body, "PUBLISH", pos)
            properties = decode_properties(cursor, PacketType.PUBLISH)
            pos = cursor.pos
        if not topic and properties.topic_alias is None:
            raise MalformedPacket(
                "PUBLISH: an empty topic name needs a topic alias", _R.PROTOCOL_ERROR
            )
    elif not topic:
        raise MalformedPacket("PUBLISH: the topic name must not be empty", _R.MALFORMED_PACKET)
    return new_publish(
        topic,
        body[pos:].tobytes(),
        qos,
        bool(flags & 0x01),
        bool(flags & 0x08),
        packet_id,
        properties,
    )


def _publish_header_problem(flags: int, size: int, pos: int) -> MalformedPacket:
    qos = (flags >> 1) & 0x03
    if qos == 3:
        problem = "QoS must be 0, 1 or 2, not 3"
    elif flags & 0x08 and not qos:
        problem = "the DUP flag must be 0 for QoS 0"
    else:
        problem = ends_early(pos - size, "topic name")
    return MalformedPacket(f"PUBLISH: {problem}", _R.MALFORMED_PACKET)


def _ack_decoder(
    kind: type[PubAck | PubRec | PubRel | PubComp],
) -> Callable[[int, memoryview, MQTTVersion], PubAck | PubRec | PubRel | PubComp]:
    packet_type = kind.packet_type
    name = packet_type.name

    def decode(
        flags: int, body: memoryview, version: MQTTVersion
    ) -> PubAck | PubRec | PubRel | PubComp:
        size = len(body)
        cursor = Cursor(body, name)
        if version < _V5 and size != 2:
            raise cursor.fail(f"the remaining length must be 2 in MQTT 3.1.1, not {size}")
        packet_id = _packet_id(cursor)
        if size == 2:
            return kind(packet_id)
        reason = _reason(cursor, packet_type)
        properties = NO_PROPERTIES if size == 3 else decode_properties(cursor, packet_type)
        cursor.expect_end()
        return kind(packet_id, reason, properties)

    decode.__doc__ = f"{name}: a packet identifier, then in 5.0 an optional reason and properties."
    return decode


def decode_subscribe(flags: int, body: memoryview, version: MQTTVersion) -> Subscribe:
    """SUBSCRIBE: packet identifier, (5.0) properties, then filters with their options."""
    cursor = Cursor(body, "SUBSCRIBE")
    packet_id = _packet_id(cursor)
    properties = NO_PROPERTIES
    if version == _V5:
        properties = decode_properties(cursor, PacketType.SUBSCRIBE)
    subscriptions = []
    while cursor.remaining():
        topic_filter = _topic_filter(cursor, version)
        options = cursor.u8(f"subscription options of {topic_filter!r}")
        where = f"topic filter {topic_filter!r}"
        reserved = 0xC0 if version == _V5 else 0xFC
        if options & reserved:
            bits = "7-6" if version == _V5 else "7-2"
            raise cursor.fail(f"{where}: reserved option bits {bits} must be 0")
        qos = options & 0x03
        if qos == 3:
            raise cursor.fail(f"{where}: QoS must be 0, 1 or 2, not 3")
        retain_handling = (options >> 4) & 0x03
        if retain_handling == 3:
            raise cursor.fail(f"{where}: retain handling 3 is reserved", _R.PROTOCOL_ERROR)
        no_local = bool(options & 0x04)
        if no_local and topic_filter.startswith(SHARE_PREFIX):
            raise cursor.fail(
                f"{where}: no local must not be set on a shared subscription", _R.PROTOCOL_ERROR
            )
        subscriptions.append(
            SubscriptionRequest(
                topic_filter, qos, no_local, bool(options & 0x08), RetainHandling(retain_handling)
            )
        )
    if not subscriptions:
        raise cursor.fail("at least one topic filter is required", _R.PROTOCOL_ERROR)
    return Subscribe(packet_id, tuple(subscriptions), properties)


def _reason_codes(
    cursor: Cursor, packet_type: PacketType, version: MQTTVersion
) -> tuple[ReasonCode, ...]:
    codes = []
    while cursor.remaining():
        if version == _V5:
            codes.append(_reason(cursor, packet_type))
            continue
        code = cursor.u8("return code")
        if code not in _SUBACK_V311:
            raise cursor.fail(
                f"return code 0x{code:02X} is reserved (0, 1, 2 and 0x80 are defined)"
            )
        codes.append(ReasonCode(code))
    if not codes:
        raise cursor.fail("at least one reason code is required", _R.PROTOCOL_ERROR)
    return tuple(codes)


def decode_suback(flags: int, body: memoryview, version: MQTTVersion) -> SubAck:
    """SUBACK: packet identifier, (5.0) properties, one code per requested filter."""
    cursor = Cursor(body, "SUBACK")
    packet_id = _packet_id(cursor)
    properties = NO_PROPERTIES
    if version == _V5:
        properties = decode_properties(cursor, PacketType.SUBACK)
    return SubAck(packet_id, _reason_codes(cursor, PacketType.SUBACK, version), properties)


def decode_unsubscribe(flags: int, body: memoryview, version: MQTTVersion) -> Unsubscribe:
    """UNSUBSCRIBE: packet identifier, (5.0) properties, then one or more filters."""
    cursor = Cursor(body, "UNSUBSCRIBE")
    packet_id = _packet_id(cursor)
    properties = NO_PROPERTIES
    if version == _V5:
        properties = decode_properties(cursor, PacketType.UNSUBSCRIBE)
    filters = []
    while cursor.remaining():
        filters.append(_topic_filter(cursor, version))
    if not filters:
        raise cursor.fail("at least one topic filter is required", _R.PROTOCOL_ERROR)
    return Unsubscribe(packet_id, tuple(filters), properties)


def decode_unsuback(flags: int, body: memoryview, version: MQTTVersion) -> UnsubAck:
    """UNSUBACK: a packet identifier; in 5.0 also properties and one reason per filter."""
    cursor = Cursor(body, "UNSUBACK")
    if version < _V5:
        if len(body) != 2:
            raise cursor.fail(f"the remaining length must be 2 in MQTT 3.1.1, not {len(body)}")
        return UnsubAck(_packet_id(cursor))
    packet_id = _packet_id(cursor)
    properties = decode_properties(cursor, PacketType.UNSUBACK)
    return UnsubAck(packet_id, _reason_codes(cursor, PacketType.UNSUBACK, version), properties)


def _empty_decoder(kind: type[PingReq | PingResp]) -> Decoder:
    name = kind.packet_type.name

    def decode(flags: int, body: memoryview, version: MQTTVersion) -> Packet:
        if body:
            raise MalformedPacket(
                f"{name}: the remaining length must be 0, not {len(body)}", _R.MALFORMED_PACKET
            )
        return kind()

    decode.__doc__ = f"{name}: no variable header and no payload."
    return decode


def _reason_and_properties(
    body: memoryview, packet_type: PacketType
) -> tuple[ReasonCode, Properties]:
    cursor = Cursor(body, packet_type.name)
    if not body:
        return ReasonCode.SUCCESS, NO_PROPERTIES
    reason = _reason(cursor, packet_type)
    properties = NO_PROPERTIES
    if cursor.remaining():
        properties = decode_properties(cursor, packet_type)
        cursor.expect_end()
    return reason, properties


def decode_disconnect(flags: int, body: memoryview, version: MQTTVersion) -> Disconnect:
    """DISCONNECT: empty in 3.1.1; an optional reason and properties in 5.0."""
    if version < _V5:
        if body:
            raise MalformedPacket(
                f"DISCONNECT: the remaining length must be 0 in MQTT 3.1.1, not {len(body)}",
                _R.MALFORMED_PACKET,
            )
        return Disconnect()
    return Disconnect(*_reason_and_properties(body, PacketType.DISCONNECT))


def decode_auth(flags: int, body: memoryview, version: MQTTVersion) -> Auth:
    """AUTH (5.0 only; the reader refuses type 15 in older versions)."""
    return Auth(*_reason_and_properties(body, PacketType.AUTH))


DECODERS: dict[int, Decoder] = {
    PacketType.CONNECT: decode_connect,
    PacketType.CONNACK: decode_connack,
    PacketType.PUBLISH: decode_publish,
    PacketType.PUBACK: _ack_decoder(PubAck),
    PacketType.PUBREC: _ack_decoder(PubRec),
    PacketType.PUBREL: _ack_decoder(PubRel),
    PacketType.PUBCOMP: _ack_decoder(PubComp),
    PacketType.SUBSCRIBE: decode_subscribe,
    PacketType.SUBACK: decode_suback,
    PacketType.UNSUBSCRIBE: decode_unsubscribe,
    PacketType.UNSUBACK: decode_unsuback,
    PacketType.PINGREQ: _empty_decoder(PingReq),
    PacketType.PINGRESP: _empty_decoder(PingResp),
    PacketType.DISCONNECT: decode_disconnect,
    PacketType.AUTH: decode_auth,
}
"""The body decoder of each packet type."""

__all__ = ["DECODERS", "Decoder"]
