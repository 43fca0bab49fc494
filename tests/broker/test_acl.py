"""The ACL on the wire, byte for byte, in MQTT 3.1.1 and 5.0: SUBSCRIBE, PUBLISH, will, delivery."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from iotsim_tui.broker.server import Broker
from iotsim_tui.protocol.codec import encode
from iotsim_tui.protocol.packets import ConnAck, Connect, PubAck, Publish, SubAck, Will
from iotsim_tui.protocol.reasons import MQTTVersion
from tests.broker.conftest import StartBroker, wait_until
from tests.broker.raw import TIMEOUT, Bytes, RawClient

ACL = """\
# anonymous clients
topic read $SYS/#

user admin
topic readwrite #

user alice
topic readwrite home/#
topic deny home/secret/#

user bob
topic read home/#

pattern write devices/%c/status
"""


@pytest.fixture
async def guarded(start_broker: StartBroker, tmp_path: Path) -> Broker:
    path = tmp_path / "acl.txt"
    path.write_text(ACL)
    return await start_broker(acl_file=path)


async def _client(
    broker: Broker, client_id: str, version: int, username: str | None = None
) -> RawClient:
    client, connack = await RawClient.connected(
        broker.ports["plain"], client_id, version=version, username=username
    )
    assert connack.reason_code == 0
    return client


async def _exactly(client: RawClient, expected: bytes) -> None:
    """The next bytes from the broker are exactly `expected`."""
    data = await asyncio.wait_for(client.reader.readexactly(len(expected)), TIMEOUT)
    assert data == expected


async def _codes(client: RawClient, topic_filter: str, qos: int = 0) -> tuple[int, ...]:
    ack = await client.subscribe(topic_filter, qos)
    assert isinstance(ack, SubAck)
    return tuple(ack.reason_codes)


def _subscribe(packet_id: int, *filters: str, version: int) -> bytes:
    body = packet_id.to_bytes(2, "big") + (b"\x00" if version == 5 else b"")
    for topic_filter in filters:
        body += Bytes.string(topic_filter.encode()) + b"\x01"
    return Bytes.packet(0x82, body)


def _publish(topic: str, payload: bytes, qos: int, packet_id: int, version: int) -> bytes:
    body = Bytes.string(topic.encode())
    if qos:
        body += packet_id.to_bytes(2, "big")
    if version == 5:
        body += b"\x00"
    return Bytes.packet(0x30 | qos << 1, body + payload)


@pytest.mark.parametrize(("version", "refused"), [(4, b"\x80"), (5, b"\x87")])
async def test_subscribe_outside_the_read_rules_is_refused(
    guarded: Broker, version: int, refused: bytes
) -> None:
    bob = await _client(guarded, "bob-1", version, "bob")
    await bob.send(_subscribe(3, "home/+/light", "devices/#", "home/secret/#", version=version))
    props = b"\x00" if version == 5 else b""
    # home/+/light within `read home/#`: QoS 1; devices/# refused; home/secret/# allowed to
    # bob (only alice's rules deny it).
    await _exactly(bob, Bytes.packet(0x90, b"\x00\x03" + props + b"\x01" + refused + b"\x01"))
    assert set(guarded.subscriptions_of("bob-1")) == {"home/+/light", "home/secret/#"}


@pytest.mark.parametrize(
    ("version", "puback", "pubrec"),
    [
        (4, b"\x40\x02\x00\x07", b"\x50\x02\x00\x08"),  # acknowledged, then dropped
        (5, b"\x40\x03\x00\x07\x87", b"\x50\x03\x00\x08\x87"),  # 0x87 Not authorized
    ],
)
async def test_publish_outside_the_write_rules_is_refused(
    guarded: Broker, version: int, puback: bytes, pubrec: bytes
) -> None:
    admin = await _client(guarded, "admin-1", 5, "admin")
    await admin.subscribe("home/#", 1)
    bob = await _client(guarded, "bob-1", version, "bob")
    await bob.send(_publish("home/x", b"q0", 0, 0, version))
    await bob.send(_publish("home/x", b"q1", 1, 7, version))
    await _exactly(bob, puback)
    await bob.send(_publish("home/x", b"q2", 2, 8, version))
    await _exactly(bob, pubrec)
    if version == 4:  # the exchange completes as usual: nothing tells a 3.1.1 client
        await bob.send(Bytes.packet(0x62, b"\x00\x08"))
        await _exactly(bob, b"\x70\x02\x00\x08")
    # None of bob's three messages reached the subscriber: the next one is alice's.
    alice = await _client(guarded, "alice-1", version, "alice")
    await alice.send(_publish("home/ok", b"from alice", 0, 0, version))
    message = await admin.expect(Publish)
    assert (message.topic, message.payload) == ("home/ok", b"from alice")
    assert guarded.stats.denied == 3


@pytest.mark.parametrize("version", [4, 5])
async def test_delivery_and_retained_messages_follow_the_read_rules(
    guarded: Broker, version: int
) -> None:
    admin = await _client(guarded, "admin-1", 5, "admin")
    await admin.publish("home/secret/code", b"1234", 1, retain=True, packet_id=1)
    await admin.publish("home/door", b"closed", 1, retain=True, packet_id=2)
    for _ in range(2):
        await admin.next_packet()  # the two PUBACKs
    alice = await _client(guarded, "alice-1", version, "alice")
    # alice may subscribe to home/# (deny covers only part of it) but never reads the secret.
    await alice.send(_subscribe(1, "home/#", version=version))
    assert (await alice.expect(SubAck)).reason_codes == (1,)
    retained = await alice.expect(Publish)
    assert (retained.topic, retained.payload, retained.retain) == ("home/door", b"closed", True)
    await admin.publish("home/secret/code", b"5678", 0)
    await admin.publish("home/door", b"open", 0)
    live = await alice.expect(Publish)
    assert (live.topic, live.payload) == ("home/door", b"open")


@pytest.mark.parametrize("version", [4, 5])
async def test_a_will_on_a_topic_the_client_may_not_write_is_dropped_as_in_mosquitto(
    guarded: Broker, version: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="iotsim_tui.broker")
    admin = await _client(guarded, "admin-1", 5, "admin")
    await _codes(admin, "home/#")
    await _codes(admin, "devices/#")
    for topic in ("home/bob/status", "devices/bob-1/status"):  # not writable, then writable
        bob = await RawClient.open(guarded.ports["plain"], version=version)
        connect = Connect("bob-1", MQTTVersion(version), username="bob", will=Will(topic, b"x"))
        await bob.send(encode(connect, version))
        assert (await bob.expect(ConnAck)).reason_code == 0  # the client is accepted
        bob.writer.transport.abort()  # gone without DISCONNECT: its will is due
        await wait_until(lambda: guarded.stats.connected == 1, "bob to be gone")
    await admin.publish("home/after", b"marker", 0)
    # Only the will it may write came, before the marker.
    assert (await admin.expect(Publish)).topic == "devices/bob-1/status"
    assert (await admin.expect(Publish)).topic == "home/after"
    assert "will of bob-1 to 'home/bob/status' dropped" in caplog.text


@pytest.mark.parametrize("version", [4, 5])
async def test_patterns_give_each_client_its_own_topics(guarded: Broker, version: int) -> None:
    admin = await _client(guarded, "admin-1", 5, "admin")
    await admin.subscribe("devices/#", 0)
    device = await _client(guarded, "TS1", version)
    await device.send(_publish("devices/TS1/status", b"up", 1, 1, version))
    await _exactly(device, b"\x40\x02\x00\x01")
    await device.send(_publish("devices/TS2/status", b"spoof", 1, 2, version))
    await _exactly(device, b"\x40\x02\x00\x02" if version == 4 else b"\x40\x03\x00\x02\x87")
    message = await admin.expect(Publish)
    assert (message.topic, message.payload) == ("devices/TS1/status", b"up")
    assert await admin.nothing_before_pong()


async def test_anonymous_rules_apply_to_clients_without_a_user_name(
    guarded: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="iotsim_tui.broker")
    visitor = await _client(guarded, "visitor", 5)
    assert await _codes(visitor, "home/#") == (0x87,)
    assert await _codes(visitor, "$SYS/broker/uptime") == (0,)
    uptime = await visitor.expect(Publish)
    assert uptime.topic == "$SYS/broker/uptime"
    assert "refused subscription of visitor to 'home/#' (ACL)" in caplog.text


async def test_without_an_acl_everything_is_allowed(broker: Broker) -> None:
    client = await _client(broker, "c", 5, "anyone")
    assert await _codes(client, "#", 1) == (1,)
    await client.send(_publish("x/y", b"p", 1, 1, 5))
    delivered = await client.expect(Publish)
    assert (delivered.topic, delivered.payload) == ("x/y", b"p")
    assert (await client.expect(PubAck)).reason_code == 0


async def test_sighup_reloads_the_acl_for_connected_clients(
    guarded: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bob = await _client(guarded, "bob-1", 5, "bob")
    assert await _codes(bob, "devices/#") == (0x87,)
    assert guarded.config.acl_file is not None
    guarded.config.acl_file.write_text(ACL + "user bob\ntopic read devices/#\n")
    guarded.reload()
    assert await _codes(bob, "devices/#") == (0,)
    guarded.config.acl_file.write_text("user bob\nallow everything\n")
    guarded.reload()  # a broken file: the rules in force stay
    assert "reload failed, the previous rules stay" in caplog.text
    assert ":2: unknown keyword 'allow'" in caplog.text
    assert await _codes(bob, "devices/+/status") == (0,)


async def test_a_session_resumed_under_another_user_gets_only_what_that_user_may_read(
    guarded: Broker,
) -> None:
    port = guarded.ports["plain"]
    first, _ = await RawClient.connected(
        port, "shared", version=4, username="admin", clean_start=False
    )
    await first.subscribe("home/#", 1)
    await first.close()
    await wait_until(lambda: guarded.sessions["shared"].connection is None, "admin to leave")
    admin = await _client(guarded, "admin-2", 4, "admin")
    await admin.publish("home/secret/code", b"1234", 1, packet_id=1)
    await admin.publish("home/door", b"open", 1, packet_id=2)
    for _ in range(2):
        await admin.expect(PubAck)
    assert len(guarded.sessions["shared"].queue) == 2
    alice, connack = await RawClient.connected(
        port, "shared", version=4, username="alice", clean_start=False
    )
    assert connack.session_present
    message = await alice.expect(Publish)
    assert (message.topic, message.payload) == ("home/door", b"open")
    assert await alice.nothing_before_pong()
