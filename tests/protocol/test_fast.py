"""The fast paths of `protocol.fast` write the same bytes as the general codec."""

from __future__ import annotations

from dataclasses import replace

import pytest

from iotsim_tui.protocol.codec import PacketReader, encode
from iotsim_tui.protocol.encoding import encode_publish
from iotsim_tui.protocol.errors import MalformedPacket, ProtocolError
from iotsim_tui.protocol.fast import (
    Qos0Frame,
    publish_packet,
    publish_parts,
    publish_properties,
    read_publish,
)
from iotsim_tui.protocol.packets import Publish
from iotsim_tui.protocol.properties import NO_PROPERTIES, Properties, encode_properties
from iotsim_tui.protocol.reasons import MQTTVersion, ReasonCode
from iotsim_tui.protocol.wire import read_vbi


@pytest.mark.parametrize("version", [MQTTVersion.V311, MQTTVersion.V5])
@pytest.mark.parametrize("retain", [False, True])
@pytest.mark.parametrize("size", [0, 20, 130, 20_000])  # the length takes 1, 2 and 3 bytes
def test_a_frame_is_the_publish_the_codec_encodes(
    version: MQTTVersion, retain: bool, size: int
) -> None:
    topic = "plant/ünit-7/temperature"
    frame = Qos0Frame.for_topic(topic, 0, retain, int(version))
    assert frame is not None
    assert frame.retain is retain
    for payload in (bytes(range(256)) * (size // 256) + b"x" * (size % 256), b'{"t":21.5}'):
        expected = encode_publish(Publish(topic, payload, retain=retain), version)
        assert frame.packet(payload) == expected


def test_only_qos_0_telemetry_to_a_topic_mqtt_can_carry_has_a_frame() -> None:
    assert Qos0Frame.for_topic("a/b", 1, False, 4) is None
    assert Qos0Frame.for_topic("a" * 65_536, 0, False, 4) is None
    assert Qos0Frame.for_topic("a" * 65_535, 0, False, 4) is not None


FORWARDED = Properties(content_type="json", user_properties=(("k", "v"),))
"""What a broker forwards as it came; the message expiry it rewrites for each subscriber."""
PUBLISHES = [
    (version, Publish(topic, payload, qos, retain, dup, packet_id, properties))
    for version in (MQTTVersion.V311, MQTTVersion.V5)
    for topic, payload in (("plant/ünit-7/t", b'{"t":21.5}'), ("a", b"x" * 300))
    for qos, packet_id, dup in ((0, 0, False), (1, 7, False), (2, 65535, True))
    for retain in (False, True)
    for properties in (
        (NO_PROPERTIES, replace(FORWARDED, message_expiry_interval=60))
        if version == MQTTVersion.V5
        else (NO_PROPERTIES,)
    )
]


def _body(packet: bytes) -> tuple[int, int, int]:
    """The fixed header's flags, and where the body starts and ends."""
    header = read_vbi(packet, 1)
    assert header is not None
    return packet[0] & 0x0F, 1 + header[1], 1 + header[1] + header[0]


def _property_bytes(properties: Properties) -> bytes:
    return encode_properties(properties)[1:]  # short enough for a one-byte length


@pytest.mark.parametrize(("version", "publish"), PUBLISHES)
def test_the_fast_reader_reads_what_the_codec_writes(
    version: MQTTVersion, publish: Publish
) -> None:
    packet = encode(publish, version)
    flags, start, end = _body(packet)
    read = read_publish(flags, packet, start, end, version)
    assert (read.topic, read.payload, read.qos, read.retain, read.dup, read.packet_id) == (
        publish.topic, publish.payload, publish.qos, publish.retain, publish.dup, publish.packet_id
    )  # fmt: skip
    assert read.message_expiry == publish.properties.message_expiry_interval
    forwarded = FORWARDED if publish.properties is not NO_PROPERTIES else NO_PROPERTIES
    assert read.properties == (_property_bytes(forwarded) if forwarded is FORWARDED else b"")


@pytest.mark.parametrize(("version", "publish"), PUBLISHES)
def test_the_fast_writer_writes_what_the_codec_writes(
    version: MQTTVersion, publish: Publish
) -> None:
    properties = None
    if version == MQTTVersion.V5:
        expiry = publish.properties.message_expiry_interval
        forwarded = _property_bytes(FORWARDED) if expiry is not None else b""
        properties = publish_properties(forwarded, expiry, 0, ())
    head, tail = publish_parts(publish.topic.encode(), properties, publish.payload)
    packet = publish_packet(head, tail, publish.qos, publish.retain, publish.packet_id, publish.dup)
    if publish.properties is NO_PROPERTIES:
        assert packet == encode(publish, version)
    # With properties the broker's own (expiry) come after those it forwards, unlike the
    # codec's identifier order (MQTT sets none): the same PUBLISH, read back.
    assert PacketReader(version).feed(packet) == [publish]


@pytest.mark.parametrize(
    ("body", "version", "reason"),
    [
        (b"\x00\x03a/#", MQTTVersion.V311, ReasonCode.TOPIC_NAME_INVALID),
        (b"\x00\x02a\xff", MQTTVersion.V311, ReasonCode.MALFORMED_PACKET),
        (b"\x00\x00\x03\x23\x00\x00", MQTTVersion.V5, ReasonCode.TOPIC_ALIAS_INVALID),
        (b"\x00\x00\x00", MQTTVersion.V5, ReasonCode.PROTOCOL_ERROR),
    ],
    ids=["wildcard in topic", "topic not UTF-8", "topic alias 0", "no topic and no alias"],
)
def test_the_fast_reader_refuses_with_the_reason_code_named(
    body: bytes, version: MQTTVersion, reason: ReasonCode
) -> None:
    with pytest.raises(ProtocolError) as refused:
        read_publish(0, body, 0, len(body), version)
    assert refused.value.reason_code == reason


def test_a_remaining_length_longer_than_it_needs_is_malformed() -> None:
    assert read_vbi(b"\x30\x80", 1) is None  # cut short: wait for more
    with pytest.raises(MalformedPacket, match="shortest form"):
        read_vbi(b"\x30\x80\x00", 1)
    with pytest.raises(MalformedPacket, match="longer than 4 bytes"):
        read_vbi(b"\x30\xff\xff\xff\xff\x01", 1)
