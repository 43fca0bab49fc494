"""Message delivery by the spec: QoS, overlapping subscriptions, retained, wills, sessions."""

from __future__ import annotations

import logging

import pytest

from iotsim_tui.broker.server import Broker
from iotsim_tui.protocol.packets import (
    Disconnect,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    SubscriptionRequest,
    UnsubAck,
    Unsubscribe,
    Will,
)
from iotsim_tui.protocol.reasons import ReasonCode
from tests.broker.conftest import StartBroker, wait_until
from tests.broker.raw import RawClient

VERSIONS = pytest.mark.parametrize("version", [4, 5], ids=["3.1.1", "5.0"])


@VERSIONS
@pytest.mark.parametrize(("published", "granted"), [(0, 2), (1, 0), (2, 1), (2, 2), (1, 2)])
async def test_delivered_qos_is_the_minimum(
    port: int, version: int, published: int, granted: int
) -> None:
    subscriber, _ = await RawClient.connected(port, "sub", version=version)
    suback = await subscriber.subscribe("q/t", granted)
    assert isinstance(suback, SubAck)
    assert suback.reason_codes == (granted,)
    publisher, _ = await RawClient.connected(port, "pub", version=version)
    await publisher.publish("q/t", b"m", published)
    message = await subscriber.expect(Publish)
    assert message.qos == min(published, granted)
    assert not message.retain


@VERSIONS
async def test_qos2_flow_both_ways(port: int, version: int) -> None:
    subscriber, _ = await RawClient.connected(port, "sub2", version=version)
    await subscriber.subscribe("q2", 2)
    publisher, _ = await RawClient.connected(port, "pub2", version=version)
    await publisher.publish("q2", b"exactly once", 2, packet_id=42)
    assert (await publisher.expect(PubRec)).packet_id == 42
    await publisher.publish("q2", b"exactly once", 2, packet_id=42)  # resent before PUBREL
    assert (await publisher.expect(PubRec)).packet_id == 42
    await publisher.send_packet(PubRel(42))
    assert (await publisher.expect(PubComp)).packet_id == 42
    message = await subscriber.expect(Publish)
    assert (message.qos, message.payload) == (2, b"exactly once")
    await subscriber.send_packet(PubRec(message.packet_id))
    assert (await subscriber.expect(PubRel)).packet_id == message.packet_id
    await subscriber.send_packet(PubComp(message.packet_id))
    assert await subscriber.nothing_before_pong()  # routed once, although it arrived twice


async def test_overlapping_subscriptions_one_copy_at_the_highest_qos(port: int) -> None:
    subscriber, _ = await RawClient.connected(port, "overlap", version=4)
    await subscriber.subscribe("home/+/temp", 0, packet_id=1)
    await subscriber.subscribe("home/#", 1, packet_id=2)
    publisher, _ = await RawClient.connected(port, "p", version=4)
    await publisher.publish("home/kitchen/temp", b"21", 2)
    message = await subscriber.expect(Publish)
    assert message.qos == 1
    assert await subscriber.nothing_before_pong()


async def test_retained_set_replace_clear_and_only_for_the_subscribed_filter(port: int) -> None:
    publisher, _ = await RawClient.connected(port, "retainer", version=4)
    await publisher.publish("r/a", b"first", 1, retain=True)
    await publisher.expect(PubAck)
    await publisher.publish("r/a", b"second", 1, retain=True)
    await publisher.expect(PubAck)
    await publisher.publish("r/b", b"other", 1, retain=True)
    await publisher.expect(PubAck)
    others, _ = await RawClient.connected(port, "others-filter", version=4)
    await others.subscribe("r/b", 0)
    assert (await others.expect(Publish)).payload == b"other"

    late, _ = await RawClient.connected(port, "late", version=4)
    await late.subscribe("r/a", 1)
    message = await late.expect(Publish)
    assert (message.payload, message.retain, message.qos) == (b"second", True, 1)
    await late.send_packet(PubAck(message.packet_id))
    assert await late.nothing_before_pong()  # r/b matches another client's filter, not this one

    await publisher.publish("r/a", b"", 0, retain=True)  # clear
    # A live subscriber gets the clearing message itself, retain flag 0 (3.1.1 s3.3.1.3).
    cleared = await late.expect(Publish)
    assert (cleared.payload, cleared.retain) == (b"", False)
    again, _ = await RawClient.connected(port, "again", version=4)
    await again.subscribe("r/#", 0)
    assert (await again.expect(Publish)).topic == "r/b"
    assert await again.nothing_before_pong()


async def test_dollar_topics_not_matched_by_leading_wildcards(broker: Broker, port: int) -> None:
    hash_all, _ = await RawClient.connected(port, "hash", version=4)
    await hash_all.subscribe("#", 0)
    plus, _ = await RawClient.connected(port, "plus", version=4)
    await plus.subscribe("+/broker/version", 0)
    sys, _ = await RawClient.connected(port, "sys", version=4)
    await sys.subscribe("$SYS/broker/version", 0)
    message = await sys.expect(Publish)
    assert message.payload.startswith(b"iotsim-tui")
    assert await hash_all.nothing_before_pong()
    assert await plus.nothing_before_pong()


async def test_clients_cannot_write_sys_topics(port: int) -> None:
    client, _ = await RawClient.connected(port, "forger")
    await client.publish("$SYS/iotsim/clients", b"{}", 1)
    assert (await client.expect(PubAck)).reason_code == ReasonCode.NOT_AUTHORIZED


@VERSIONS
async def test_will_on_abrupt_close_not_after_disconnect(port: int, version: int) -> None:
    watcher, _ = await RawClient.connected(port, "watcher", version=version)
    await watcher.subscribe("wills/#", 1)
    will = Will("wills/a", b"a is gone", 1)
    doomed, _ = await RawClient.connected(port, "a", version=version, will=will)
    doomed.writer.transport.abort()
    message = await watcher.expect(Publish)
    assert (message.topic, message.payload, message.qos) == ("wills/a", b"a is gone", 1)
    await watcher.send_packet(PubAck(message.packet_id))

    polite, _ = await RawClient.connected(port, "b", version=version, will=Will("wills/b", b"x"))
    await polite.send_packet(Disconnect())
    await polite.expect_closed()
    assert await watcher.nothing_before_pong()


@pytest.mark.parametrize(
    "reason", [ReasonCode.DISCONNECT_WITH_WILL_MESSAGE, ReasonCode.UNSPECIFIED_ERROR]
)
async def test_disconnect_with_a_reason_other_than_normal_sends_the_will(
    port: int, reason: ReasonCode
) -> None:
    watcher, _ = await RawClient.connected(port, "w")
    await watcher.subscribe("wills/c", 0)
    leaving, _ = await RawClient.connected(port, "c", will=Will("wills/c", b"c asked"))
    await leaving.send_packet(Disconnect(reason))
    assert (await watcher.expect(Publish)).payload == b"c asked"


@pytest.mark.slow
async def test_will_on_keepalive_expiry(port: int) -> None:
    watcher, _ = await RawClient.connected(port, "kw", version=4)
    await watcher.subscribe("wills/silent", 0)
    await RawClient.connected(port, "s", version=4, keepalive=1, will=Will("wills/silent", b"x"))
    assert (await watcher.expect(Publish)).payload == b"x"


async def test_persistent_session_queues_and_redelivers_with_dup(broker: Broker, port: int) -> None:
    device, connack = await RawClient.connected(port, "TS1", version=4, clean_start=False)
    assert not connack.session_present
    await device.subscribe("cmd/TS1", 1)
    publisher, _ = await RawClient.connected(port, "console", version=4)
    await publisher.publish("cmd/TS1", b"one", 1, packet_id=1)
    first = await device.expect(Publish)  # in flight, never acknowledged
    device.writer.transport.abort()
    await wait_until(lambda: broker.sessions["TS1"].connection is None, "the broker to notice")
    await publisher.publish("cmd/TS1", b"two", 1, packet_id=2)  # queued while offline
    await publisher.publish("cmd/TS1", b"skip", 0)  # QoS 0 is not queued

    device, connack = await RawClient.connected(port, "TS1", version=4, clean_start=False)
    assert connack.session_present
    again = await device.expect(Publish)
    assert (again.payload, again.dup, again.packet_id) == (b"one", True, first.packet_id)
    queued = await device.expect(Publish)
    assert (queued.payload, queued.dup) == (b"two", False)
    await device.send_packet(PubAck(again.packet_id))
    await device.send_packet(PubAck(queued.packet_id))
    assert await device.nothing_before_pong()

    _fresh, connack = await RawClient.connected(port, "TS1", version=4, clean_start=True)
    assert not connack.session_present


async def test_offline_queue_is_bounded_and_overflow_counted(start_broker: StartBroker) -> None:
    broker = await start_broker(max_queued_messages=3)
    port = broker.ports["plain"]
    device, _ = await RawClient.connected(port, "slow", version=4, clean_start=False)
    await device.subscribe("q", 1)
    await device.send_packet(Disconnect())
    await device.expect_closed()
    publisher, _ = await RawClient.connected(port, "pub", version=4)
    for number in range(1, 6):
        await publisher.publish("q", str(number).encode(), 1, packet_id=number)
        await publisher.expect(PubAck)
    assert broker.sessions["slow"].dropped == 2
    device, _ = await RawClient.connected(port, "slow", version=4, clean_start=False)
    payloads = [(await device.expect(Publish)).payload for _ in range(3)]
    assert payloads == [b"1", b"2", b"3"]


@VERSIONS
async def test_client_id_takeover_closes_the_older_connection(port: int, version: int) -> None:
    older, _ = await RawClient.connected(port, "same", version=version)
    newer, connack = await RawClient.connected(port, "same", version=version)
    assert connack.reason_code == 0
    data = await older.expect_closed()
    assert data == (b"\xe0\x01\x8e" if version == 5 else b"")
    await newer.send(b"\xc0\x00")
    assert await newer.next_packet()


async def test_unsubscribe_stops_delivery(port: int) -> None:
    client, _ = await RawClient.connected(port, "unsub")
    await client.send_packet(Subscribe(1, (SubscriptionRequest("u/1", 0),)))
    await client.expect(SubAck)
    await client.send_packet(Unsubscribe(2, ("u/1", "u/never")))
    unsuback = await client.expect(UnsubAck)
    assert unsuback.reason_codes == (ReasonCode.SUCCESS, ReasonCode.NO_SUBSCRIPTION_EXISTED)
    await client.publish("u/1", b"x")
    assert await client.nothing_before_pong()


async def test_broker_stop_publishes_wills_then_says_shutting_down(
    start_broker: StartBroker,
) -> None:
    broker = await start_broker()
    port = broker.ports["plain"]
    watcher, _ = await RawClient.connected(port, "watch-stop")
    await watcher.subscribe("wills/#", 0)
    await RawClient.connected(port, "d", will=Will("wills/d", b"broker went away"))
    await broker.stop()
    assert (await watcher.expect(Publish)).payload == b"broker went away"
    assert (await watcher.expect_disconnect()).reason_code == ReasonCode.SERVER_SHUTTING_DOWN


@pytest.mark.slow
async def test_a_subscriber_that_never_reads_costs_bounded_memory(
    start_broker: StartBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="iotsim_tui.broker")
    limit = 64 * 1024
    broker = await start_broker(write_buffer_limit=limit, write_buffer_disconnect=16 * limit)
    port = broker.ports["plain"]
    stuck, _ = await RawClient.connected(port, "stuck", version=4)
    await stuck.subscribe("flood", 0)
    stuck.writer.transport.pause_reading()  # takes nothing off the socket from now on
    healthy, _ = await RawClient.connected(port, "healthy", version=4)
    await healthy.subscribe("flood/other", 0)
    publisher, _ = await RawClient.connected(port, "flooder", version=4)
    payload = b"x" * 1000
    for _ in range(20):  # 20 MB offered in bounded batches, far more than the socket buffers
        await publisher.send(b"".join(_publish_qos0("flood", payload) for _ in range(1000)))
    await wait_until(lambda: broker.stats.messages_received >= 20_000, "the flood to arrive")
    assert broker.stats.dropped > 0
    assert any(
        m.startswith("dropping messages to stuck (it reads too slowly)") for m in caplog.messages
    )
    connection = next(c for c in broker.connections if c.client_id == "stuck")
    assert connection.transport is not None
    assert connection.transport.get_write_buffer_size() < 2 * limit
    await publisher.publish("flood/other", b"fine")
    assert (await healthy.expect(Publish)).payload == b"fine"


def _publish_qos0(topic: str, payload: bytes) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic.encode() + payload
    length = len(body)
    return bytes((0x30, length & 0x7F | 0x80, length >> 7)) + body
