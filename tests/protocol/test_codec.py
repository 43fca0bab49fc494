"""Round trips of every packet in both versions, and byte-exact encodings from the specs."""

from __future__ import annotations

import pytest

from iotsim_tui.protocol.codec import PacketReader, encode, peek_header
from iotsim_tui.protocol.packets import (
    Auth,
    ConnAck,
    Connect,
    ConnectReturnCode,
    Disconnect,
    MQTTVersion,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    ReasonCode,
    RetainHandling,
    SubAck,
    Subscribe,
    SubscriptionRequest,
    UnsubAck,
    Unsubscribe,
    Will,
)
from iotsim_tui.protocol.properties import Properties
from iotsim_tui.protocol.wire import encode_vbi

V311 = MQTTVersion.V311
V5 = MQTTVersion.V5
R = ReasonCode

EVERY_PROPERTY_OF_CONNACK = Properties(
    session_expiry_interval=3600,
    assigned_client_identifier="auto-1F2E",
    server_keep_alive=120,
    authentication_method="SCRAM-SHA-1",
    authentication_data=b"\x00\x01",
    response_information="resp/",
    server_reference="other:1883",
    reason_string="welcome",
    receive_maximum=100,
    topic_alias_maximum=10,
    maximum_qos=1,
    retain_available=0,
    user_properties=(("a", "1"), ("a", "2"), ("b", "")),
    maximum_packet_size=1_048_576,
    wildcard_subscription_available=1,
    subscription_identifier_available=0,
    shared_subscription_available=1,
)
MESSAGE_PROPERTIES = Properties(
    payload_format_indicator=1,
    message_expiry_interval=60,
    content_type="application/json",
    response_topic="reply/TS1",
    correlation_data=b"\xde\xad",
    user_properties=(("unit", "°C"),),
)

COMMON: list[Packet] = [
    Connect(client_id="TS1"),
    Connect(client_id="", keepalive=0),
    Connect(client_id="TS1", clean_start=False, username="u", password=b"\x00pw"),
    Connect(client_id="TS1", username="only-user"),
    Connect(client_id="TS1", will=Will("devices/TS1", b"gone", 2, retain=True)),
    Publish("High_Tempe", b"Alert for High Temperature"),
    Publish("a/b", b"", qos=1, packet_id=1),
    Publish("a/b", bytes(range(256)) * 70, qos=2, retain=True, dup=True, packet_id=65535),
    Publish("sport/🎾/score", "ÿ😀".encode()),
    Publish("\ufeffbom/is/kept", b""),  # s1.5.4: a leading U+FEFF must not be skipped
    Publish("/".join(["x"] * 1000), b"deep"),
    PubAck(1),
    PubRec(2),
    PubRel(3),
    PubComp(65535),
    Subscribe(
        10,
        (
            SubscriptionRequest("a/b", 1),
            SubscriptionRequest("c/#", 2),
            SubscriptionRequest("+/+", 0),
            SubscriptionRequest("$share/g/t", 1),
        ),
    ),
    SubAck(10, (R.GRANTED_QOS_1, R.GRANTED_QOS_2, R.GRANTED_QOS_0, R.UNSPECIFIED_ERROR)),
    Unsubscribe(11, ("a/b", "c/#")),
    PingReq(),
    PingResp(),
    Disconnect(),
]
V311_ONLY: list[Packet] = [
    ConnAck(False, ConnectReturnCode.ACCEPTED),
    ConnAck(True, ConnectReturnCode.ACCEPTED),
    ConnAck(False, ConnectReturnCode.NOT_AUTHORIZED),
    UnsubAck(11),
]
V5_ONLY: list[Packet] = [
    Connect(client_id="TS1", protocol_level=V5, clean_start=False, password=b"no user in 5.0"),
    Connect(
        client_id="TS1",
        protocol_level=V5,
        properties=Properties(
            session_expiry_interval=0xFFFFFFFF,
            receive_maximum=20,
            maximum_packet_size=65536,
            topic_alias_maximum=5,
            request_response_information=1,
            request_problem_information=0,
            authentication_method="m",
            authentication_data=b"d",
            user_properties=(("k", "v"),),
        ),
        will=Will("w", b"x", 1, False, Properties(will_delay_interval=30, content_type="t")),
    ),
    ConnAck(False, R.SUCCESS),
    ConnAck(True, R.SUCCESS, EVERY_PROPERTY_OF_CONNACK),
    ConnAck(False, R.BAD_USER_NAME_OR_PASSWORD),
    Publish("t", b"p", 1, packet_id=5, properties=MESSAGE_PROPERTIES),
    Publish("", b"by alias", properties=Properties(topic_alias=3)),
    Publish("t", b"", properties=Properties(subscription_identifiers=(1, 268_435_455))),
    PubAck(1, R.NO_MATCHING_SUBSCRIBERS),
    PubAck(1, R.QUOTA_EXCEEDED, Properties(reason_string="slow down")),
    PubRec(2, R.SUCCESS, Properties(user_properties=(("x", "y"),))),
    PubRel(3, R.PACKET_IDENTIFIER_NOT_FOUND),
    PubComp(4, R.PACKET_IDENTIFIER_NOT_FOUND, Properties(reason_string="?")),
    Subscribe(
        12,
        (
            SubscriptionRequest("a", 2, True, True, RetainHandling.DO_NOT_SEND),
            SubscriptionRequest("b", 0, False, True, RetainHandling.SEND_IF_NEW_SUBSCRIPTION),
            SubscriptionRequest("$share/g/+", 1),
        ),
        Properties(subscription_identifiers=(42,), user_properties=(("k", "v"),)),
    ),
    SubAck(12, (R.GRANTED_QOS_2, R.TOPIC_FILTER_INVALID), Properties(reason_string="no")),
    Unsubscribe(13, ("a",), Properties(user_properties=(("k", "v"),))),
    UnsubAck(13, (R.SUCCESS, R.NO_SUBSCRIPTION_EXISTED)),
    Disconnect(R.DISCONNECT_WITH_WILL_MESSAGE),
    Disconnect(
        R.SERVER_MOVED,
        Properties(session_expiry_interval=0, server_reference="b:1883", reason_string="moved"),
    ),
    Auth(),
    Auth(R.CONTINUE_AUTHENTICATION, Properties(authentication_method="m", authentication_data=b"")),
]


def _cases() -> list[tuple[MQTTVersion, Packet]]:
    cases = [(V311, p) for p in COMMON + V311_ONLY]
    cases += [(V5, _as_v5(p)) for p in COMMON]
    cases += [(V5, p) for p in V5_ONLY]
    return cases


def _as_v5(packet: Packet) -> Packet:
    if isinstance(packet, Connect):
        return Connect(
            client_id=packet.client_id,
            protocol_level=V5,
            clean_start=packet.clean_start,
            keepalive=packet.keepalive,
            will=packet.will,
            username=packet.username,
            password=packet.password,
        )
    return packet


def _reader_for(version: MQTTVersion, packet: Packet) -> PacketReader:
    # A CONNECT teaches a server-side reader its version; anything else needs it given.
    return PacketReader() if isinstance(packet, Connect) else PacketReader(version)


@pytest.mark.parametrize(("version", "packet"), _cases(), ids=repr)
def test_round_trip(version: MQTTVersion, packet: Packet) -> None:
    data = encode(packet, version)
    reader = _reader_for(version, packet)
    assert reader.feed(data) == [packet]
    assert reader.buffered == 0
    assert reader.version == version


@pytest.mark.parametrize("version", [V311, V5])
def test_feeding_byte_by_byte_equals_feeding_whole(version: MQTTVersion) -> None:
    packets = [p for v, p in _cases() if v == version]
    connect = Connect(client_id="first", protocol_level=version)
    stream = encode(connect, version) + b"".join(encode(p, version) for p in packets)
    whole = PacketReader().feed(stream)
    assert whole == [connect, *packets]
    reader = PacketReader()
    one_by_one: list[Packet] = []
    for index in range(len(stream)):
        one_by_one += reader.feed(stream[index : index + 1])
    assert one_by_one == whole
    assert reader.buffered == 0


def test_feeding_in_odd_chunks_keeps_the_rest_for_later() -> None:
    stream = b"".join(encode(Publish(f"t/{n}", bytes(n * 37)), V311) for n in range(50))
    reader = PacketReader(V311)
    got: list[Packet] = []
    for start in range(0, len(stream), 97):
        got += reader.feed(memoryview(stream)[start : start + 97])
    assert [p.topic for p in got if isinstance(p, Publish)] == [f"t/{n}" for n in range(50)]


# Examples printed in the specs (MQTT 3.1.1 and 5.0), byte for byte.
@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "8001"),
        (16_383, "ff7f"),
        (16_384, "808001"),
        (2_097_151, "ffff7f"),
        (2_097_152, "80808001"),
        (268_435_455, "ffffff7f"),
    ],
)
def test_remaining_length_examples_from_the_spec(value: int, encoded: str) -> None:
    assert encode_vbi(value) == bytes.fromhex(encoded)
    assert peek_header(b"\x30" + bytes.fromhex(encoded)) == (3, 0, value, 1 + len(encoded) // 2)


def test_v311_connect_variable_header_example() -> None:
    # s3.1.2.10: protocol name, level 4, flags CE, keep alive 10.
    packet = Connect(
        client_id="c",
        keepalive=10,
        will=Will("w", b"", qos=1),
        username="u",
        password=b"p",
    )
    body = encode(packet, V311)[2:]
    assert body[:10] == bytes.fromhex("00044d51545404ce000a")


def test_v5_connect_variable_header_example() -> None:
    # s3.1.2.11: level 5, flags C2, keep alive 10, properties: session expiry interval 10.
    packet = Connect(
        client_id="c",
        protocol_level=V5,
        keepalive=10,
        username="u",
        password=b"p",
        properties=Properties(session_expiry_interval=10),
    )
    body = encode(packet, V5)[2:]
    assert body[:16] == bytes.fromhex("00044d51545405c2000a05110000000a")


def test_publish_variable_header_example() -> None:
    # s3.3.2.3 (3.1.1): topic "a/b", packet identifier 10.
    data = encode(Publish("a/b", b"", qos=1, packet_id=10), V311)
    assert data == bytes.fromhex("32070003612f62000a")


def test_utf8_string_example_with_a_supplementary_character() -> None:
    # s1.5.3 (3.1.1), figure 1.1: "A𪛔" is 00 05 41 F0 AA 9B 94.
    data = encode(Publish("A\U0002a6d4", b""), V311)
    assert data[2:] == bytes.fromhex("000541f0aa9b94")
    assert PacketReader(V311).feed(data) == [Publish("A\U0002a6d4", b"")]


def test_subscribe_and_suback_examples() -> None:
    # s3.8.3.1 (3.1.1): "a/b" QoS 1 and "c/d" QoS 2, packet identifier 10.
    subscribe = Subscribe(10, (SubscriptionRequest("a/b", 1), SubscriptionRequest("c/d", 2)))
    assert encode(subscribe, V311) == bytes.fromhex("820e000a0003612f62010003632f6402")
    # s3.9.3: return codes 0, 2 and failure.
    suback = SubAck(10, (R.GRANTED_QOS_0, R.GRANTED_QOS_2, R.UNSPECIFIED_ERROR))
    assert encode(suback, V311) == bytes.fromhex("9005000a000280")


def test_unsubscribe_example() -> None:
    # s3.10.3.1 (3.1.1): "a/b" and "c/d".
    data = encode(Unsubscribe(10, ("a/b", "c/d")), V311)
    assert data == bytes.fromhex("a20c000a0003612f620003632f64")


@pytest.mark.parametrize(
    ("packet", "version", "encoded"),
    [
        (PingReq(), V311, "c000"),
        (PingResp(), V5, "d000"),
        (Disconnect(), V311, "e000"),
        (Disconnect(), V5, "e000"),
        (Disconnect(R.KEEP_ALIVE_TIMEOUT), V5, "e0018d"),
        (Disconnect(R.KEEP_ALIVE_TIMEOUT), V311, "e000"),
        (PubAck(7), V5, "40020007"),
        (PubAck(7, R.NO_MATCHING_SUBSCRIBERS), V5, "4003000710"),
        (PubAck(7, R.NO_MATCHING_SUBSCRIBERS), V311, "40020007"),
        (PubRel(7), V311, "62020007"),
        (ConnAck(True, ConnectReturnCode.ACCEPTED), V311, "20020100"),
        (ConnAck(False, R.UNSUPPORTED_PROTOCOL_VERSION), V311, "20020001"),
        (ConnAck(False, R.UNSUPPORTED_PROTOCOL_VERSION), V5, "2003008400"),
        (UnsubAck(5, (R.SUCCESS,)), V311, "b0020005"),
        (
            SubAck(5, (R.GRANTED_QOS_1, R.TOPIC_FILTER_INVALID, R.NOT_AUTHORIZED)),
            V311,
            "90050005018080",
        ),
        (SubAck(5, (R.TOPIC_FILTER_INVALID,)), V5, "90040005008f"),
        (Auth(), V5, "f000"),
        (Publish("t", b"x", properties=Properties(topic_alias=1)), V311, "300400017478"),
    ],
)
def test_short_forms_and_what_older_versions_leave_out(
    packet: Packet, version: MQTTVersion, encoded: str
) -> None:
    assert encode(packet, version) == bytes.fromhex(encoded)


@pytest.mark.parametrize(
    ("packet", "version", "problem"),
    [
        (Auth(), V311, "AUTH exists only in MQTT 5.0"),
        (ConnAck(False, R.PACKET_TOO_LARGE), V311, "no CONNACK return code"),
        (ConnAck(False, ConnectReturnCode.NOT_AUTHORIZED), V5, "needs a ReasonCode"),
        (Publish("x" * 65_536, b""), V311, "too large"),
        (Connect(client_id="é" * 40_000), V311, "exceeds MQTT's 65535"),
        (Connect(client_id="d", password=b"pw"), V311, "a password needs a user name"),
        (PingReq(), 6, "6 is not a valid MQTTVersion"),
    ],
)
def test_values_that_cannot_be_written(packet: Packet, version: int, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        encode(packet, version)


def test_properties_show_only_what_is_set() -> None:
    properties = Properties(topic_alias=3, user_properties=(("k", "v"),))
    assert repr(properties) == "Properties(topic_alias=3, user_properties=(('k', 'v'),))"
    assert properties.present() == {"topic_alias": 3, "user_properties": (("k", "v"),)}
    assert Properties().is_empty()
    assert not properties.is_empty()
