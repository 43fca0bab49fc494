"""Every way a packet can break the rules: the exact reason code and the message.

Bytes are written by hand here, since the encoder never writes them wrong.
"""

from __future__ import annotations

import pytest

from iotsim_tui.protocol.codec import PacketReader
from iotsim_tui.protocol.errors import MalformedPacket, UnsupportedProtocolVersion
from iotsim_tui.protocol.packets import MQTTVersion, PacketType, ReasonCode
from iotsim_tui.protocol.wire import U16, encode_vbi

V31, V311, V5 = MQTTVersion.V31, MQTTVersion.V311, MQTTVersion.V5
R = ReasonCode
MALFORMED, PROTOCOL = R.MALFORMED_PACKET, R.PROTOCOL_ERROR


def frame(first: int, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return bytes((first,)) + encode_vbi(len(body)) + body


def s(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return U16.pack(len(data)) + data


def connect(
    flags: int = 0x02,
    *rest: bytes,
    level: int = 4,
    name: bytes = b"MQTT",
    props: bytes = b"\x00",
    client_id: bytes = b"c",
) -> bytes:
    head = s(name) + bytes((level, flags)) + b"\x00\x3c" + (props if level == 5 else b"")
    return frame(0x10, head, s(client_id), *rest)


def prop(identifier: int, value: bytes) -> bytes:
    return bytes((identifier,)) + value


def props(*items: bytes) -> bytes:
    data = b"".join(items)
    return encode_vbi(len(data)) + data


def trickle(reader: PacketReader, data: bytes) -> None:
    """Feed one byte at a time, as a slow network would."""
    for index in range(len(data)):
        reader.feed(data[index : index + 1])


PUBLISH_V5 = frame(0x30, s("t"), props(prop(0x23, b"\x00\x00")), b"x")

CONNECT_CASES = [
    # Protocol name and level (3.1.1 s3.1.2.1-2, 5.0 s3.1.2.1-2).
    ("wrong name", connect(name=b"MQTX"), R.UNSUPPORTED_PROTOCOL_VERSION, None, V311,
     "CONNECT: protocol name 'MQTX' is not 'MQTT' (or 'MQIsdp' for MQTT 3.1)"),
    ("unknown level", connect(level=6), R.UNSUPPORTED_PROTOCOL_VERSION, 1, V311,
     "CONNECT: protocol level 6 is not supported with protocol name 'MQTT' "
     "(3 = 3.1 as 'MQIsdp', 4 = 3.1.1 and 5 = 5.0 as 'MQTT')"),
    ("MQTT at level 3", connect(level=3), R.UNSUPPORTED_PROTOCOL_VERSION, 1, V311,
     "CONNECT: protocol level 3 is not supported with protocol name 'MQTT' "
     "(3 = 3.1 as 'MQIsdp', 4 = 3.1.1 and 5 = 5.0 as 'MQTT')"),
    ("MQIsdp at level 4", connect(name=b"MQIsdp"), R.UNSUPPORTED_PROTOCOL_VERSION, 1, V311,
     "CONNECT: protocol level 4 is not supported with protocol name 'MQIsdp' "
     "(3 = 3.1 as 'MQIsdp', 4 = 3.1.1 and 5 = 5.0 as 'MQTT')"),
    # Connect flags (3.1.1 s3.1.2.3-9).
    ("reserved flag", connect(0x03), MALFORMED, None, V311,
     "CONNECT: the reserved connect flag (bit 0) must be 0"),
    ("reserved flag 5.0", connect(0x03, level=5), MALFORMED, None, V5,
     "CONNECT: the reserved connect flag (bit 0) must be 0"),
    ("will QoS without will", connect(0x0A), MALFORMED, None, V311,
     "CONNECT: will QoS and will retain must be 0 when the will flag is 0"),
    ("will retain without will", connect(0x22), MALFORMED, None, V311,
     "CONNECT: will QoS and will retain must be 0 when the will flag is 0"),
    ("will QoS 3", connect(0x1E, s("w"), s("")), MALFORMED, None, V311,
     "CONNECT: will QoS must be 0, 1 or 2, not 3"),
    ("password without user 3.1.1", connect(0x42, s("pw")), MALFORMED, None, V311,
     "CONNECT: a password needs a user name in MQTT 3.1.1 (password flag set, user name flag not)"),
    ("password without user 3.1", connect(0x42, s("pw"), level=3, name=b"MQIsdp"),
     MALFORMED, None, V31,
     "CONNECT: a password needs a user name in MQTT 3.1 (password flag set, user name flag not)"),
    # Client identifier (3.1.1 s3.1.3.1: return code 2).
    ("empty id, persistent session", connect(0x00, client_id=b""),
     R.CLIENT_IDENTIFIER_NOT_VALID, 2, V311,
     "CONNECT: an empty client identifier is only allowed with a clean session"),
    ("empty id in 3.1", connect(level=3, name=b"MQIsdp", client_id=b""),
     R.CLIENT_IDENTIFIER_NOT_VALID, 2, V31,
     "CONNECT: MQTT 3.1 needs a client identifier of 1 to 23 characters, not 0"),
    ("24-character id in 3.1", connect(level=3, name=b"MQIsdp", client_id=b"x" * 24),
     R.CLIENT_IDENTIFIER_NOT_VALID, 2, V31,
     "CONNECT: MQTT 3.1 needs a client identifier of 1 to 23 characters, not 24"),
    # UTF-8 strings (s1.5.3).
    ("invalid UTF-8", connect(client_id=b"ab\xff"), MALFORMED, None, V311,
     "CONNECT: client identifier is not valid UTF-8"),
    ("null character", connect(client_id=b"a\x00b"), MALFORMED, None, V311,
     "CONNECT: client identifier contains the null character U+0000"),
    ("surrogate", connect(client_id=b"a\xed\xa0\x80"), MALFORMED, None, V311,
     "CONNECT: client identifier contains a UTF-16 surrogate (U+D800 to U+DFFF), "
     "which MQTT forbids"),
    ("surrogate in user name", connect(0x82, s(b"\xed\xbf\xbf")), MALFORMED, None, V311,
     "CONNECT: user name contains a UTF-16 surrogate (U+D800 to U+DFFF), which MQTT forbids"),
    ("protocol name not UTF-8", connect(name=b"\xc3("), MALFORMED, None, None,
     "CONNECT: protocol name is not valid UTF-8"),
    # Will topic and lengths.
    ("will topic wildcard", connect(0x06, s("a/#"), s("")), R.TOPIC_NAME_INVALID, None, V311,
     "CONNECT: will topic 'a/#' must not contain the wildcards '+' or '#'"),
    ("extra bytes", connect(0x02, b"\x00\x00"), MALFORMED, None, V311,
     "CONNECT: 2 unexpected bytes after the last field"),
    ("truncated", frame(0x10, s("MQTT"), b"\x04\x02\x00\x3c\x00\x05ab"), MALFORMED, None, V311,
     "CONNECT: the remaining length ends 3 bytes before the end of the client identifier"),
    ("truncated before level", frame(0x10, s("MQTT")), MALFORMED, None, None,
     "CONNECT: the remaining length ends 1 byte before the end of the protocol level"),
    # Properties (5.0 s2.2.2 and each property's own rule).
    ("property not for CONNECT", connect(level=5, props=props(prop(0x23, b"\x00\x01"))),
     PROTOCOL, None, V5, "CONNECT: property 'topic alias' is not allowed in CONNECT"),
    ("will property in CONNECT", connect(level=5, props=props(prop(0x18, b"\0\0\0\1"))),
     PROTOCOL, None, V5, "CONNECT: property 'will delay interval' is not allowed in CONNECT"),
    ("CONNECT property in will",
     connect(0x06, props(prop(0x11, b"\0\0\0\1")), s("w"), s(""), level=5),
     PROTOCOL, None, V5,
     "CONNECT: property 'session expiry interval' is not allowed in a will message"),
    ("receive maximum 0", connect(level=5, props=props(prop(0x21, b"\x00\x00"))),
     PROTOCOL, None, V5, "CONNECT: property 'receive maximum' must not be 0"),
    ("maximum packet size 0", connect(level=5, props=props(prop(0x27, b"\0\0\0\0"))),
     PROTOCOL, None, V5, "CONNECT: property 'maximum packet size' must not be 0"),
    ("duplicated property",
     connect(level=5, props=props(prop(0x11, b"\0\0\0\1"), prop(0x11, b"\0\0\0\2"))),
     PROTOCOL, None, V5, "CONNECT: property 'session expiry interval' appears twice"),
    ("flag property out of range", connect(level=5, props=props(prop(0x17, b"\x02"))),
     PROTOCOL, None, V5,
     "CONNECT: property 'request problem information' must be one of [0, 1], not 2"),
    ("unknown property", connect(level=5, props=props(prop(0x7F, b"\x00"))),
     MALFORMED, None, V5, "CONNECT: unknown property identifier 0x7F"),
    ("property length too long", connect(level=5, props=b"\x32"), MALFORMED, None, V5,
     "CONNECT: the property length (50) runs past the end of the packet (3 bytes left)"),
    ("property cut short", connect(level=5, props=props(prop(0x11, b"\0\0"))), MALFORMED,
     None, V5, "CONNECT: the remaining length ends 2 bytes before the end of the "
     "property 'session expiry interval'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "reason", "return_code", "version", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in CONNECT_CASES],
)
def test_bad_connect(
    data: bytes,
    reason: ReasonCode,
    return_code: int | None,
    version: MQTTVersion | None,
    message: str,
) -> None:
    reader = PacketReader()
    with pytest.raises(MalformedPacket) as caught:
        reader.feed(data)
    error = caught.value
    assert (error.message, error.reason_code) == (message, reason)
    with pytest.raises(MalformedPacket) as again:
        trickle(PacketReader(), data)
    assert again.value.message == message
    assert error.connack_return_code == return_code
    assert error.version == version
    assert error.packet_type == PacketType.CONNECT
    assert isinstance(error, UnsupportedProtocolVersion) == (return_code == 1)


def test_empty_client_id_with_persistent_session_is_fine_in_5() -> None:
    (packet,) = PacketReader().feed(connect(0x00, level=5, client_id=b""))
    assert packet.client_id == ""  # type: ignore[union-attr]
    assert not packet.clean_start  # type: ignore[union-attr]


def test_password_without_user_name_is_fine_in_5() -> None:
    (packet,) = PacketReader().feed(connect(0x42, s(b"\x00\xff"), level=5))
    assert packet.password == b"\x00\xff"  # type: ignore[union-attr]
    assert packet.username is None  # type: ignore[union-attr]


SUBSCRIBE_A = s("a")
PACKET_CASES = [
    # Fixed header (s2.1.3: reserved flags; s2.1.2: reserved types).
    ("type 0", V311, b"\x00\x00", MALFORMED, "packet type 0 is reserved"),
    ("AUTH in 3.1.1", V311, b"\xf0\x00", MALFORMED,
     "AUTH (packet type 15) exists only in MQTT 5.0"),
    ("SUBSCRIBE flags 0000", V311, frame(0x80, b"\x00\x01", SUBSCRIBE_A, b"\x00"), MALFORMED,
     "SUBSCRIBE: the fixed header flags must be 0010, not 0000"),
    ("UNSUBSCRIBE flags 0011", V5, frame(0xA3, b"\x00\x01\x00", SUBSCRIBE_A), MALFORMED,
     "UNSUBSCRIBE: the fixed header flags must be 0010, not 0011"),
    ("PUBREL flags 0000", V311, b"\x60\x02\x00\x01", MALFORMED,
     "PUBREL: the fixed header flags must be 0010, not 0000"),
    ("PUBACK flags 0010", V311, b"\x42\x02\x00\x01", MALFORMED,
     "PUBACK: the fixed header flags must be 0000, not 0010"),
    ("PINGREQ flags 0001", V311, b"\xc1\x00", MALFORMED,
     "PINGREQ: the fixed header flags must be 0000, not 0001"),
    ("5-byte remaining length", V311, b"\x30\xff\xff\xff\xff\x01", MALFORMED,
     "PUBLISH: the remaining length is a variable byte integer longer than 4 bytes"),
    # PUBLISH (s3.3).
    ("QoS 3", V311, frame(0x36, s("t"), b"\x00\x01"), MALFORMED,
     "PUBLISH: QoS must be 0, 1 or 2, not 3"),
    ("DUP with QoS 0", V311, frame(0x38, s("t")), MALFORMED,
     "PUBLISH: the DUP flag must be 0 for QoS 0"),
    ("packet id 0", V311, frame(0x32, s("t"), b"\x00\x00"), PROTOCOL,
     "PUBLISH: the packet identifier must not be 0 with QoS 1"),
    ("wildcard +", V311, frame(0x30, s("a/+")), R.TOPIC_NAME_INVALID,
     "PUBLISH: topic name 'a/+' must not contain the wildcards '+' or '#'"),
    ("wildcard #", V5, frame(0x30, s("#"), b"\x00"), R.TOPIC_NAME_INVALID,
     "PUBLISH: topic name '#' must not contain the wildcards '+' or '#'"),
    ("empty topic 3.1.1", V311, frame(0x30, s(""), b"x"), MALFORMED,
     "PUBLISH: the topic name must not be empty"),
    ("empty topic without alias", V5, frame(0x30, s(""), b"\x00x"), PROTOCOL,
     "PUBLISH: an empty topic name needs a topic alias"),
    ("topic alias 0", V5, PUBLISH_V5, R.TOPIC_ALIAS_INVALID,
     "PUBLISH: property 'topic alias' must not be 0"),
    ("subscription id 0", V5, frame(0x30, s("t"), props(prop(0x0B, b"\x00"))), PROTOCOL,
     "PUBLISH: property 'subscription identifier' must not be 0"),
    ("payload format 2", V5, frame(0x30, s("t"), props(prop(0x01, b"\x02"))), PROTOCOL,
     "PUBLISH: property 'payload format indicator' must be one of [0, 1], not 2"),
    ("response topic with a wildcard", V5, frame(0x30, s("t"), props(prop(0x08, s("r/#")))),
     PROTOCOL, "PUBLISH: property 'response topic' 'r/#' must not contain the wildcards "
     "'+' or '#'"),
    ("AUTH data without a method", V5, frame(0xF0, b"\x18", props(prop(0x16, s(b"x")))),
     PROTOCOL, "AUTH: property 'authentication data' needs an 'authentication method'"),
    ("PUBLISH with a CONNECT property", V5, frame(0x30, s("t"), props(prop(0x21, b"\0\1"))),
     PROTOCOL, "PUBLISH: property 'receive maximum' is not allowed in PUBLISH"),
    ("topic surrogate", V311, frame(0x30, s(b"\xed\xb0\x80")), MALFORMED,
     "PUBLISH: topic name contains a UTF-16 surrogate (U+D800 to U+DFFF), which MQTT forbids"),
    ("topic null", V311, frame(0x30, s(b"a\x00")), MALFORMED,
     "PUBLISH: topic name contains the null character U+0000"),
    ("topic bad UTF-8", V311, frame(0x30, s(b"\xc0\xaf")), MALFORMED,
     "PUBLISH: topic name is not valid UTF-8"),
    ("topic longer than the packet", V311, frame(0x30, b"\x00\x0aabc"), MALFORMED,
     "PUBLISH: the remaining length ends 7 bytes before the end of the topic name"),
    ("one byte", V311, b"\x30\x01\x00", MALFORMED,
     "PUBLISH: the remaining length ends 1 byte before the end of the topic name"),
    ("no packet id", V311, frame(0x32, s("t"), b"\x01"), MALFORMED,
     "PUBLISH: the remaining length ends 1 byte before the end of the packet identifier"),
    # SUBSCRIBE and UNSUBSCRIBE (s3.8, s3.10).
    ("SUBSCRIBE without filters", V311, frame(0x82, b"\x00\x01"), PROTOCOL,
     "SUBSCRIBE: at least one topic filter is required"),
    ("SUBSCRIBE 5.0 without filters", V5, frame(0x82, b"\x00\x01\x00"), PROTOCOL,
     "SUBSCRIBE: at least one topic filter is required"),
    ("SUBSCRIBE QoS 3", V311, frame(0x82, b"\x00\x01", SUBSCRIBE_A, b"\x03"), MALFORMED,
     "SUBSCRIBE: topic filter 'a': QoS must be 0, 1 or 2, not 3"),
    ("SUBSCRIBE reserved bits 3.1.1", V311, frame(0x82, b"\x00\x01", SUBSCRIBE_A, b"\x04"),
     MALFORMED, "SUBSCRIBE: topic filter 'a': reserved option bits 7-2 must be 0"),
    ("SUBSCRIBE reserved bits 5.0", V5, frame(0x82, b"\x00\x01\x00", SUBSCRIBE_A, b"\x41"),
     MALFORMED, "SUBSCRIBE: topic filter 'a': reserved option bits 7-6 must be 0"),
    ("retain handling 3", V5, frame(0x82, b"\x00\x01\x00", SUBSCRIBE_A, b"\x30"), PROTOCOL,
     "SUBSCRIBE: topic filter 'a': retain handling 3 is reserved"),
    ("shared with no local", V5, frame(0x82, b"\x00\x01\x00", s("$share/g/a"), b"\x04"),
     PROTOCOL, "SUBSCRIBE: topic filter '$share/g/a': no local must not be set on a shared "
     "subscription"),
    ("# not last", V311, frame(0x82, b"\x00\x01", s("a/#/b"), b"\x00"), R.TOPIC_FILTER_INVALID,
     "SUBSCRIBE: topic filter 'a/#/b': '#' must be a whole level and the last one, "
     "as in 'a/b/#'"),
    ("# inside a level", V311, frame(0x82, b"\x00\x01", s("a#"), b"\x00"),
     R.TOPIC_FILTER_INVALID, "SUBSCRIBE: topic filter 'a#': '#' must be a whole level and "
     "the last one, as in 'a/b/#'"),
    ("+ inside a level", V5, frame(0x82, b"\x00\x01\x00", s("a+/b"), b"\x00"),
     R.TOPIC_FILTER_INVALID,
     "SUBSCRIBE: topic filter 'a+/b': '+' must be a whole level, as in 'a/+/c'"),
    ("empty filter", V311, frame(0x82, b"\x00\x01", s(""), b"\x00"), R.TOPIC_FILTER_INVALID,
     "SUBSCRIBE: topic filter '': a topic filter must not be empty"),
    ("share without filter", V5, frame(0x82, b"\x00\x01\x00", s("$share/g"), b"\x00"),
     R.TOPIC_FILTER_INVALID, "SUBSCRIBE: topic filter '$share/g': a shared subscription is "
     "'$share/GROUP/FILTER' with both parts"),
    ("truncated SUBSCRIBE", V311, frame(0x82, b"\x00\x01", SUBSCRIBE_A), MALFORMED,
     "SUBSCRIBE: the remaining length ends 1 byte before the end of the subscription "
     "options of 'a'"),
    ("SUBSCRIBE packet id 0", V311, frame(0x82, b"\x00\x00", SUBSCRIBE_A, b"\x00"), PROTOCOL,
     "SUBSCRIBE: the packet identifier must not be 0"),
    ("two subscription ids", V5,
     frame(0x82, b"\x00\x01", props(prop(0x0B, b"\x01"), prop(0x0B, b"\x02")), SUBSCRIBE_A,
           b"\x00"),
     PROTOCOL, "SUBSCRIBE: property 'subscription identifier' appears twice"),
    ("5-byte variable byte integer", V5,
     frame(0x82, b"\x00\x01", props(prop(0x0B, b"\xff\xff\xff\xff\x7f")), SUBSCRIBE_A, b"\0"),
     MALFORMED, "SUBSCRIBE: the property 'subscription identifier' is a variable byte integer "
     "longer than 4 bytes"),
    ("UNSUBSCRIBE without filters", V311, frame(0xA2, b"\x00\x01"), PROTOCOL,
     "UNSUBSCRIBE: at least one topic filter is required"),
    ("UNSUBSCRIBE bad filter", V311, frame(0xA2, b"\x00\x01", s("#/a")),
     R.TOPIC_FILTER_INVALID, "UNSUBSCRIBE: topic filter '#/a': '#' must be a whole level "
     "and the last one, as in 'a/b/#'"),
    # Lengths fixed by the spec.
    ("PINGREQ with payload", V311, b"\xc0\x01\x00", MALFORMED,
     "PINGREQ: the remaining length must be 0, not 1"),
    ("PINGRESP with payload", V5, b"\xd0\x02\x00\x00", MALFORMED,
     "PINGRESP: the remaining length must be 0, not 2"),
    ("DISCONNECT 3.1.1 with payload", V311, b"\xe0\x01\x00", MALFORMED,
     "DISCONNECT: the remaining length must be 0 in MQTT 3.1.1, not 1"),
    ("PUBACK of 1 byte", V311, b"\x40\x01\x01", MALFORMED,
     "PUBACK: the remaining length must be 2 in MQTT 3.1.1, not 1"),
    ("PUBACK of 3 bytes", V311, b"\x40\x03\x00\x01\x00", MALFORMED,
     "PUBACK: the remaining length must be 2 in MQTT 3.1.1, not 3"),
    ("PUBACK of 1 byte in 5.0", V5, b"\x40\x01\x01", MALFORMED,
     "PUBACK: the remaining length ends 1 byte before the end of the packet identifier"),
    ("PUBCOMP of 3 bytes", V311, b"\x70\x03\x00\x01\x00", MALFORMED,
     "PUBCOMP: the remaining length must be 2 in MQTT 3.1.1, not 3"),
    ("UNSUBACK of 3 bytes", V311, b"\xb0\x03\x00\x01\x00", MALFORMED,
     "UNSUBACK: the remaining length must be 2 in MQTT 3.1.1, not 3"),
    ("CONNACK of 3 bytes", V311, b"\x20\x03\x00\x00\x00", MALFORMED,
     "CONNACK: the remaining length must be 2, not 3"),
    # Reason codes and packet identifiers.
    ("PUBACK packet id 0", V311, b"\x40\x02\x00\x00", PROTOCOL,
     "PUBACK: the packet identifier must not be 0"),
    ("PUBACK reason not for PUBACK", V5, b"\x40\x03\x00\x01\x05", PROTOCOL,
     "PUBACK: reason code 0x05 is not one a PUBACK may carry"),
    ("PUBREL reason not for PUBREL", V5, b"\x62\x03\x00\x01\x10", PROTOCOL,
     "PUBREL: reason code 0x10 is not one a PUBREL may carry"),
    ("DISCONNECT reason not for DISCONNECT", V5, b"\xe0\x01\x91", PROTOCOL,
     "DISCONNECT: reason code 0x91 is not one a DISCONNECT may carry"),
    ("CONNACK return code 6", V311, b"\x20\x02\x00\x06", MALFORMED,
     "CONNACK: return code 6 is reserved (0 to 5 are defined)"),
    ("CONNACK reserved flags", V311, b"\x20\x02\x02\x00", MALFORMED,
     "CONNACK: the reserved acknowledge flags (bits 7-1) must be 0"),
    ("CONNACK session present on refusal", V5, b"\x20\x03\x01\x87\x00", PROTOCOL,
     "CONNACK: session present must be 0 when the connection is refused"),
    ("SUBACK return code 3", V311, b"\x90\x03\x00\x01\x03", MALFORMED,
     "SUBACK: return code 0x03 is reserved (0, 1, 2 and 0x80 are defined)"),
    ("SUBACK without codes", V5, b"\x90\x03\x00\x01\x00", PROTOCOL,
     "SUBACK: at least one reason code is required"),
    ("DISCONNECT property not allowed", V5, frame(0xE0, b"\x00", props(prop(0x23, b"\0\1"))),
     PROTOCOL, "DISCONNECT: property 'topic alias' is not allowed in DISCONNECT"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("version", "data", "reason", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in PACKET_CASES],
)
def test_bad_packet(version: MQTTVersion, data: bytes, reason: ReasonCode, message: str) -> None:
    reader = PacketReader(version)
    with pytest.raises(MalformedPacket) as caught:
        reader.feed(data)
    error = caught.value
    assert (error.message, error.reason_code) == (message, reason)
    assert error.version == version
    with pytest.raises(MalformedPacket) as again:
        trickle(PacketReader(version), data)
    assert again.value.message == message
    assert error.connack_return_code is None
    assert error.packet_type == (PacketType(data[0] >> 4) if data[0] >> 4 else None)


def test_the_first_packet_must_be_connect() -> None:
    with pytest.raises(MalformedPacket) as caught:
        PacketReader().feed(frame(0x30, s("t"), b"x"))
    assert caught.value.message == "PUBLISH: the first packet on a connection must be CONNECT"
    assert caught.value.reason_code == PROTOCOL
    assert caught.value.version is None


def test_a_65535_level_topic_parses() -> None:
    topic = "/" * 65_534
    (packet,) = PacketReader(V311).feed(frame(0x30, s(topic), b"deep"))
    assert packet.topic.count("/") == 65_534  # type: ignore[union-attr]
    assert packet.payload == b"deep"  # type: ignore[union-attr]


def test_topics_outside_the_basic_plane_are_fine() -> None:
    (packet,) = PacketReader(V311).feed(frame(0x30, s("sport/🎾/\U0002a6d4"), b""))
    assert packet.topic == "sport/🎾/\U0002a6d4"  # type: ignore[union-attr]


def test_share_prefix_is_an_ordinary_filter_in_3_1_1() -> None:
    (packet,) = PacketReader(V311).feed(frame(0x82, b"\x00\x01", s("$share/g"), b"\x01"))
    assert packet.subscriptions[0].topic_filter == "$share/g"  # type: ignore[union-attr]
