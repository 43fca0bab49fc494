"""Packet values to bytes, one function per packet type (properties only in 5.0)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
    SubAck,
    Subscribe,
    UnsubAck,
    Unsubscribe,
)
from iotsim_tui.protocol.properties import NO_PROPERTIES, Properties, encode_properties
from iotsim_tui.protocol.reasons import (
    ConnectReturnCode,
    MQTTVersion,
    ReasonCode,
    connect_return_code,
)
from iotsim_tui.protocol.wire import MAX_VBI, U16, encode_binary, encode_string, encode_vbi

_V5 = MQTTVersion.V5
_NO_PROPERTY_BYTES = b"\x00"


def _frame(first: int, *parts: bytes) -> bytes:
    length = sum(map(len, parts))
    if length > MAX_VBI:
        raise ValueError(f"a packet body of {length} bytes exceeds MQTT's {MAX_VBI}")
    return b"".join((bytes((first,)), encode_vbi(length), *parts))


def _props(properties: Properties, v5: bool) -> bytes:
    if not v5:
        return b""
    return encode_properties(properties)


def encode_connect(packet: Connect, version: MQTTVersion) -> bytes:
    """CONNECT, written with the packet's own protocol level."""
    v5 = packet.protocol_level == _V5
    if packet.password is not None and packet.username is None and not v5:
        raise ValueError("before MQTT 5.0 a password needs a user name")
    will = packet.will
    flags = (0x02 if packet.clean_start else 0) | (0x80 if packet.username is not None else 0)
    flags |= 0x40 if packet.password is not None else 0
    parts = [
        encode_string(packet.protocol_name),
        bytes((packet.protocol_level,)),
        b"",
        U16.pack(packet.keepalive),
        _props(packet.properties, v5),
        encode_string(packet.client_id),
    ]
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        parts += [
            _props(will.properties, v5),
            encode_string(will.topic),
            encode_binary(will.payload),
        ]
    if packet.username is not None:
        parts.append(encode_string(packet.username))
    if packet.password is not None:
        parts.append(encode_binary(packet.password))
    parts[2] = bytes((flags,))
    return _frame(0x10, *parts)


def encode_connack(packet: ConnAck, version: MQTTVersion) -> bytes:
    """CONNACK; a 5.0 reason given for 3.1.1 becomes the matching return code."""
    code = packet.reason_code
    if version < _V5 and not isinstance(code, ConnectReturnCode):
        mapped = connect_return_code(ReasonCode(code))
        if mapped is None:
            raise ValueError(f"MQTT 3.1.1 has no CONNACK return code for {code!r}")
        code = mapped
    elif version == _V5 and isinstance(code, ConnectReturnCode):
        raise ValueError(f"a MQTT 5.0 CONNACK needs a ReasonCode, not {code!r}")
    head = bytes((1 if packet.session_present else 0, code))
    return _frame(0x20, head, _props(packet.properties, version == _V5))


def encode_publish(packet: Publish, version: MQTTVersion) -> bytes:
    """PUBLISH; the hot path, so it builds the bytes in one join."""
    topic = packet.topic.encode("utf-8")
    qos = packet.qos
    first = 0x30 | (qos << 1) | (0x08 if packet.dup else 0) | (0x01 if packet.retain else 0)
    packet_id = U16.pack(packet.packet_id) if qos else b""
    if version == _V5:
        properties = packet.properties
        props = _NO_PROPERTY_BYTES if properties is NO_PROPERTIES else encode_properties(properties)
    else:
        props = b""
    payload = packet.payload
    length = 2 + len(topic) + len(packet_id) + len(props) + len(payload)
    if length > MAX_VBI or len(topic) > 0xFFFF:
        raise ValueError(f"PUBLISH to {packet.topic[:40]!r} is too large for MQTT")
    return b"".join(
        (
            bytes((first,)),
            encode_vbi(length),
            U16.pack(len(topic)),
            topic,
            packet_id,
            props,
            payload,
        )
    )


def _encode_ack(packet: PubAck | PubRec | PubRel | PubComp, version: MQTTVersion) -> bytes:
    first = (packet.packet_type << 4) | (0x02 if isinstance(packet, PubRel) else 0)
    packet_id = U16.pack(packet.packet_id)
    if version < _V5:
        return bytes((first, 2)) + packet_id
    props = encode_properties(packet.properties)
    if props == _NO_PROPERTY_BYTES:
        if not packet.reason_code:
            return bytes((first, 2)) + packet_id
        return bytes((first, 3)) + packet_id + bytes((packet.reason_code,))
    return _frame(first, packet_id, bytes((packet.reason_code,)), props)


def encode_subscribe(packet: Subscribe, version: MQTTVersion) -> bytes:
    """SUBSCRIBE with each filter's options byte."""
    parts = [U16.pack(packet.packet_id), _props(packet.properties, version == _V5)]
    for request in packet.subscriptions:
        options = request.qos
        if version == _V5:
            options |= (0x04 if request.no_local else 0) | (
                0x08 if request.retain_as_published else 0
            )
            options |= request.retain_handling << 4
        parts += [encode_string(request.topic_filter), bytes((options,))]
    return _frame(0x82, *parts)


def encode_suback(packet: SubAck, version: MQTTVersion) -> bytes:
    """SUBACK: one code per filter; in 3.1.1 every failure is written as 0x80."""
    codes = packet.reason_codes
    if version < _V5:
        codes = tuple(min(code, ReasonCode.UNSPECIFIED_ERROR) for code in codes)
    return _frame(
        0x90, U16.pack(packet.packet_id), _props(packet.properties, version == _V5), bytes(codes)
    )


def encode_unsubscribe(packet: Unsubscribe, version: MQTTVersion) -> bytes:
    """UNSUBSCRIBE: the filters to drop."""
    parts = [U16.pack(packet.packet_id), _props(packet.properties, version == _V5)]
    parts += [encode_string(topic_filter) for topic_filter in packet.topic_filters]
    return _frame(0xA2, *parts)


def encode_unsuback(packet: UnsubAck, version: MQTTVersion) -> bytes:
    """UNSUBACK: in 3.1.1 only the packet identifier."""
    if version < _V5:
        return b"\xb0\x02" + U16.pack(packet.packet_id)
    return _frame(
        0xB0,
        U16.pack(packet.packet_id),
        _props(packet.properties, True),
        bytes(packet.reason_codes),
    )


def _encode_reason_packet(first: int, packet: Disconnect | Auth, version: MQTTVersion) -> bytes:
    if version < _V5:
        return bytes((first, 0))
    props = encode_properties(packet.properties)
    if props == _NO_PROPERTY_BYTES:
        return bytes((first, 1, packet.reason_code)) if packet.reason_code else bytes((first, 0))
    return _frame(first, bytes((packet.reason_code,)), props)


def encode_disconnect(packet: Disconnect, version: MQTTVersion) -> bytes:
    """DISCONNECT: two bytes unless a 5.0 reason or properties are given."""
    return _encode_reason_packet(0xE0, packet, version)


def encode_auth(packet: Auth, version: MQTTVersion) -> bytes:
    """AUTH (5.0 only)."""
    if version < _V5:
        raise ValueError("AUTH exists only in MQTT 5.0")
    return _encode_reason_packet(0xF0, packet, version)


def _constant(data: bytes) -> Callable[[Any, MQTTVersion], bytes]:
    return lambda packet, version: data


ENCODERS: dict[type[Packet], Callable[[Any, MQTTVersion], bytes]] = {
    Connect: encode_connect,
    ConnAck: encode_connack,
    Publish: encode_publish,
    PubAck: _encode_ack,
    PubRec: _encode_ack,
    PubRel: _encode_ack,
    PubComp: _encode_ack,
    Subscribe: encode_subscribe,
    SubAck: encode_suback,
    Unsubscribe: encode_unsubscribe,
    UnsubAck: encode_unsuback,
    PingReq: _constant(b"\xc0\x00"),
    PingResp: _constant(b"\xd0\x00"),
    Disconnect: encode_disconnect,
    Auth: encode_auth,
}
"""The encoder of each packet class."""
