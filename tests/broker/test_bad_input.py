"""Bad input harms only its sender: each case gets the spec's exact reaction, byte for byte.

MQTT 3.1.1 has no DISCONNECT from the server: a broken rule closes the connection (with a
CONNACK return code where s3.2.2.3 has one). MQTT 5.0 answers a bad CONNECT with a CONNACK
reason code and anything later with DISCONNECT and a reason code (s4.13). After every case a
bystander, connected all along, still gets its messages.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from iotsim_tui.broker.server import Broker
from iotsim_tui.protocol.packets import Disconnect, PingResp, PubAck, Publish, SubAck
from iotsim_tui.protocol.properties import Properties
from iotsim_tui.protocol.reasons import ReasonCode
from tests.broker.conftest import StartBroker, wait_until
from tests.broker.raw import Bytes, RawClient

CLOSE = b""
"""Expected: the connection closes and the broker sends nothing."""


def disconnect(reason: int) -> bytes:
    """The DISCONNECT a 5.0 broker sends with `reason` (no properties)."""
    return bytes((0xE0, 0x01, reason))


def connack_v5(reason: int) -> bytes:
    """A refusing 5.0 CONNACK: no session, `reason`, no properties."""
    return bytes((0x20, 0x03, 0x00, reason, 0x00))


def connack_v3(code: int) -> bytes:
    """A 3.1.1 CONNACK with return code `code`."""
    return bytes((0x20, 0x02, 0x00, code))


def publish_bytes(flags: int, topic: bytes, rest: bytes = b"", *, v5: bool = False) -> bytes:
    """A PUBLISH with raw flags; `rest` is packet id and (5.0) properties, then payload."""
    body = Bytes.string(topic) + rest + (b"" if rest or not v5 else b"\x00")
    return Bytes.packet(0x30 | flags, body)


# Cases sent as the very first bytes of a connection: (id, bytes, expected answer).
BEFORE_CONNECT = [
    ("first packet not CONNECT", b"\xc0\x00", CLOSE),
    ("type 0 first", b"\x00\x00", CLOSE),
    ("5-byte remaining length", b"\x10\xff\xff\xff\xff\x01", CLOSE),
    ("wrong protocol name", Bytes.connect(name=b"MQTX"), CLOSE),
    ("3.1.1: protocol level 6", Bytes.connect(level=6), connack_v3(1)),
    ("3.1.1: protocol level 3 under 'MQTT'", Bytes.connect(level=3), connack_v3(1)),
    ("3.1.1: reserved connect flag", Bytes.connect(flags=0x03), CLOSE),
    ("5.0: reserved connect flag", Bytes.connect(level=5, flags=0x03), connack_v5(0x81)),
    ("3.1.1: will QoS without will flag", Bytes.connect(flags=0x0A), CLOSE),
    ("5.0: will retain without will flag", Bytes.connect(level=5, flags=0x22), connack_v5(0x81)),
    (
        "3.1.1: will QoS 3",
        Bytes.connect(flags=0x1E, payload_extra=Bytes.string(b"w") + Bytes.string(b"x")),
        CLOSE,
    ),
    (
        "5.0: will QoS 3",
        Bytes.connect(
            level=5, flags=0x1E, payload_extra=b"\x00" + Bytes.string(b"w") + Bytes.string(b"x")
        ),
        connack_v5(0x81),
    ),
    (
        "3.1.1: password without user name",
        Bytes.connect(flags=0x42, payload_extra=Bytes.string(b"secret")),
        CLOSE,
    ),
    (
        "3.1.1: empty client id with a persistent session",
        Bytes.connect(flags=0x00, client_id=b""),
        connack_v3(2),
    ),
    ("3.1.1: U+0000 in the client id", Bytes.connect(client_id=b"a\x00b"), CLOSE),
    ("5.0: U+0000 in the client id", Bytes.connect(level=5, client_id=b"a\x00b"), connack_v5(0x81)),
    ("3.1.1: UTF-16 surrogate in the client id", Bytes.connect(client_id=b"a\xed\xa0\x80"), CLOSE),
    (
        "5.0: wildcard in the will topic",
        Bytes.connect(
            level=5, flags=0x06, payload_extra=b"\x00" + Bytes.string(b"a/+") + Bytes.string(b"")
        ),
        connack_v5(0x90),
    ),
    ("CONNECT longer than its fields", Bytes.packet(0x10, Bytes.connect()[2:] + b"\x00"), CLOSE),
]


def _after(v5: bool) -> list[tuple[str, bytes, bytes]]:
    """Cases sent after a successful CONNECT."""
    bad = disconnect if v5 else (lambda _reason: CLOSE)
    props = b"\x00" if v5 else b""

    def sub(topic_filter: bytes, options: bytes, first: int = 0x82) -> bytes:
        return Bytes.packet(first, b"\x00\x01" + props + Bytes.string(topic_filter) + options)

    return [
        ("second CONNECT", Bytes.connect(level=5 if v5 else 4), bad(0x82)),
        ("PUBLISH QoS 3", publish_bytes(0x06, b"t", b"\x00\x01" + props), bad(0x81)),
        ("PUBLISH QoS 0 with DUP", publish_bytes(0x08, b"t", props), bad(0x81)),
        ("PUBLISH QoS 1, packet id 0", publish_bytes(0x02, b"t", b"\x00\x00" + props), bad(0x82)),
        ("wildcard in a PUBLISH topic", publish_bytes(0x00, b"a/#", props), bad(0x90)),
        ("'+' in a PUBLISH topic", publish_bytes(0x00, b"a/+/c", props), bad(0x90)),
        ("U+0000 in a PUBLISH topic", publish_bytes(0x00, b"a\x00b", props), bad(0x81)),
        ("surrogate in a PUBLISH topic", publish_bytes(0x00, b"a\xed\xb0\x80", props), bad(0x81)),
        ("zero-length topic, no alias", publish_bytes(0x00, b"", props), bad(0x82)),
        ("SUBSCRIBE with flags 0000", sub(b"a", b"\x00", first=0x80), bad(0x81)),
        ("SUBSCRIBE with no filter", Bytes.packet(0x82, b"\x00\x01" + props), bad(0x82)),
        ("SUBSCRIBE QoS 3", sub(b"a", b"\x03"), bad(0x81)),
        ("SUBSCRIBE reserved option bits", sub(b"a", b"\xc0"), bad(0x81)),
        ("filter a/#/b", sub(b"a/#/b", b"\x00"), bad(0x8F)),
        ("filter a#", sub(b"a#", b"\x00"), bad(0x8F)),
        ("filter a+/b", sub(b"a+/b", b"\x00"), bad(0x8F)),
        ("truncated SUBSCRIBE", b"\x82\x04\x00\x01\x00\x05", bad(0x81)),
        ("PINGREQ with a payload", b"\xc0\x01\x00", bad(0x81)),
        ("PUBACK of 1 byte", b"\x40\x01\x00", bad(0x81)),
        ("CONNACK from a client", b"\x20\x02\x00\x00", bad(0x82)),
        ("SUBACK from a client", b"\x90\x03\x00\x01\x00", bad(0x82)),
        ("PINGRESP from a client", b"\xd0\x00", bad(0x82)),
        ("packet type 0", b"\x00\x00", bad(0x81)),
        ("5-byte remaining length", b"\x30\xff\xff\xff\xff\x01", bad(0x81)),
        ("remaining length not in its shortest form", b"\xc0\x80\x00", bad(0x81)),
    ]  # fmt: skip


async def _assert_bystander_unharmed(port: int, bystander: RawClient) -> None:
    publisher, _ = await RawClient.connected(port, "bystander-publisher")
    await publisher.publish("bystander/news", b"still here", 1)
    message = await bystander.expect(Publish)
    assert message.payload == b"still here"
    await publisher.close()


@pytest.fixture
async def bystander(port: int) -> RawClient:
    client, connack = await RawClient.connected(port, "bystander")
    assert connack.reason_code == ReasonCode.SUCCESS
    await client.subscribe("bystander/#", 1)
    return client


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in BEFORE_CONNECT], ids=[c[0] for c in BEFORE_CONNECT]
)
async def test_bad_connect(port: int, bystander: RawClient, data: bytes, expected: bytes) -> None:
    client = await RawClient.open(port)
    await client.send(data)
    assert await client.expect_closed() == expected
    await _assert_bystander_unharmed(port, bystander)


@pytest.mark.parametrize(
    ("version", "data", "expected"),
    [(5, *c[1:]) for c in _after(True)] + [(4, *c[1:]) for c in _after(False)],
    ids=[f"5.0: {c[0]}" for c in _after(True)] + [f"3.1.1: {c[0]}" for c in _after(False)],
)
async def test_bad_packet_after_connect(
    port: int, bystander: RawClient, version: int, data: bytes, expected: bytes
) -> None:
    client, connack = await RawClient.connected(port, "offender", version=version)
    assert connack.reason_code == 0
    await client.send(data)
    assert await client.expect_closed() == expected
    await _assert_bystander_unharmed(port, bystander)


def _v5_publish(properties: bytes, payload: bytes = b"x", flags: int = 0x00) -> bytes:
    packet_id = b"\x00\x01" if flags & 0x06 else b""
    body = Bytes.string(b"t") + packet_id + bytes((len(properties),)) + properties + payload
    return Bytes.packet(0x30 | flags, body)


V5_PROPERTY_CASES = [
    ("property twice", _v5_publish(b"\x01\x00\x01\x00"), disconnect(0x82)),
    ("property that PUBLISH cannot carry", _v5_publish(b"\x11\x00\x00\x00\x01"), disconnect(0x81)),
    ("subscription identifier from a client", _v5_publish(b"\x0b\x01"), disconnect(0x82)),
    ("topic alias 0", _v5_publish(b"\x23\x00\x00"), disconnect(0x94)),
    ("payload format 2", _v5_publish(b"\x01\x02"), disconnect(0x82)),
    ("response topic with a wildcard", _v5_publish(b"\x08\x00\x01#"), disconnect(0x82)),
    ("properties longer than the packet", _v5_publish(b"\x26\x00\x09k"), disconnect(0x81)),
    ("QoS 0 payload not UTF-8 as announced", _v5_publish(b"\x01\x01", b"\xff"), disconnect(0x99)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in V5_PROPERTY_CASES], ids=[c[0] for c in V5_PROPERTY_CASES]
)
async def test_bad_publish_properties(
    port: int, bystander: RawClient, data: bytes, expected: bytes
) -> None:
    client, _ = await RawClient.connected(port, "props")
    await client.send(data)
    assert await client.expect_closed() == expected
    await _assert_bystander_unharmed(port, bystander)


async def test_qos1_payload_not_utf8_as_announced_is_refused_in_puback(port: int) -> None:
    client, _ = await RawClient.connected(port, "pfi")
    await client.send(_v5_publish(b"\x01\x01", b"\xff", flags=0x02))
    assert (await client.expect(PubAck)).reason_code == ReasonCode.PAYLOAD_FORMAT_INVALID
    await client.send(b"\xc0\x00")
    assert isinstance(await client.next_packet(), PingResp)


async def test_puback_of_three_bytes_is_malformed_in_3_1_1(port: int) -> None:
    client, _ = await RawClient.connected(port, "three", version=4)
    await client.send(b"\x40\x03\x00\x01\x00")
    assert await client.expect_closed() == CLOSE


async def test_huge_remaining_length_before_connect_closes_at_once(broker: Broker) -> None:
    client = await RawClient.open(broker.ports["plain"])
    await client.send(b"\x10\xff\xff\xff\x7f")  # 268,435,455 bytes announced
    started = time.monotonic()
    assert await client.expect_closed() == CLOSE
    assert time.monotonic() - started < 5
    assert all(not c.buffer for c in broker.connections)


async def test_oversized_packet_is_refused_from_its_header(start_broker: StartBroker) -> None:
    broker = await start_broker(max_packet_size=1024)
    client, _ = await RawClient.connected(broker.ports["plain"], "big")
    # Announce 2,000 bytes but send only the header and a little: the answer comes anyway.
    await client.send(b"\x30\xd0\x0f" + Bytes.string(b"t") + b"\x00" + b"x" * 100)
    assert await client.expect_closed() == disconnect(ReasonCode.PACKET_TOO_LARGE)
    assert all(len(c.buffer or b"") < 1024 for c in broker.connections)


async def test_supplementary_plane_topic_is_accepted(port: int) -> None:
    topic = "sensors/\U0001f321/temp"
    subscriber, _ = await RawClient.connected(port, "sub")
    assert isinstance(await subscriber.subscribe(topic, 1), SubAck)
    publisher, _ = await RawClient.connected(port, "pub")
    await publisher.publish(topic, b"21.5")
    message = await subscriber.expect(Publish)
    assert (message.topic, message.payload) == (topic, b"21.5")


async def test_65535_level_topic_is_accepted(port: int) -> None:
    topic = "/" * 65_534  # 65,535 empty levels: the longest topic there is
    subscriber, _ = await RawClient.connected(port, "deep-sub")
    await subscriber.subscribe("#", 0)
    publisher, _ = await RawClient.connected(port, "deep-pub")
    await publisher.publish(topic, b"deep")
    message = await subscriber.expect(Publish)
    assert message.topic == topic


async def test_unsolicited_puback_is_ignored(port: int) -> None:
    client, _ = await RawClient.connected(port, "acker")
    await client.send(b"\x40\x02\x00\x07")
    await client.send(b"\xc0\x00")
    assert isinstance(await client.next_packet(), PingResp)


@pytest.mark.slow
@pytest.mark.parametrize("version", [4, 5])
async def test_silence_past_one_and_a_half_keepalives_closes(port: int, version: int) -> None:
    # Timed from before the CONNECT: the broker's 1.5 s count starts when it reads it, and a
    # stall before the CONNACK reaches us must not make the broker look early.
    started = time.monotonic()
    client, _ = await RawClient.connected(port, "quiet", version=version, keepalive=1)
    data = await client.expect_closed()
    assert time.monotonic() - started >= 1.4
    assert data == (disconnect(ReasonCode.KEEP_ALIVE_TIMEOUT) if version == 5 else CLOSE)


@pytest.mark.slow
async def test_pings_keep_a_connection_open(port: int) -> None:
    client, _ = await RawClient.connected(port, "pinger", keepalive=1)
    for _ in range(4):  # 2 s in all, past the 1.5 s limit; each ping 1 s before it
        await asyncio.sleep(0.5)
        await client.send(b"\xc0\x00")
        assert isinstance(await client.next_packet(), PingResp)


async def test_receive_maximum_exceeded(start_broker: StartBroker) -> None:
    broker = await start_broker(receive_maximum=2)
    client, connack = await RawClient.connected(broker.ports["plain"], "flood")
    assert connack.properties.receive_maximum == 2
    for packet_id in (1, 2, 3):  # QoS 2, never released: each stays unacknowledged
        await client.publish("t", b"x", 2, packet_id=packet_id)
    data = await client.expect_closed()
    assert data.endswith(disconnect(ReasonCode.RECEIVE_MAXIMUM_EXCEEDED))
    assert data.count(b"\x50") >= 2  # two PUBRECs came first


async def test_topic_alias_over_our_maximum(start_broker: StartBroker) -> None:
    broker = await start_broker(topic_alias_maximum=2)
    client, connack = await RawClient.connected(broker.ports["plain"], "aliaser")
    assert connack.properties.topic_alias_maximum == 2
    await client.send_packet(Publish("t", b"x", properties=Properties(topic_alias=3)))
    assert await client.expect_closed() == disconnect(ReasonCode.TOPIC_ALIAS_INVALID)


async def test_second_connect_is_refused_even_with_the_same_fields(port: int) -> None:
    client, _ = await RawClient.connected(port, "twice")
    await client.send(Bytes.connect(level=5, client_id=b"twice"))
    packet = await client.expect(Disconnect)
    assert packet.reason_code == ReasonCode.PROTOCOL_ERROR


async def test_bad_input_before_connect_is_logged_in_one_line(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="iotsim_tui.broker")
    client = await RawClient.open(port)
    await client.send(b"GET / HTTP/1.1\r\n\r\n")
    assert await client.expect_closed() == CLOSE
    address = client.writer.get_extra_info("sockname")
    expected = f"closed {address[0]}:{address[1]} before CONNECT: the first packet was not CONNECT"
    await wait_until(lambda: expected in caplog.messages, "the log line")
