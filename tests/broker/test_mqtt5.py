"""MQTT 5.0 features: properties, reason codes, expiry, aliases, flow control, shared subs."""

from __future__ import annotations

import asyncio

import pytest

from iotsim_tui.broker.server import Broker
from iotsim_tui.protocol.packets import (
    Connect,
    Disconnect,
    PubAck,
    Publish,
    RetainHandling,
    SubAck,
    Subscribe,
    SubscriptionRequest,
    Will,
)
from iotsim_tui.protocol.properties import Properties
from iotsim_tui.protocol.reasons import ReasonCode
from tests.broker.conftest import StartBroker, wait_until
from tests.broker.raw import RawClient


async def _subscribe(
    client: RawClient,
    request: SubscriptionRequest,
    *,
    packet_id: int = 1,
    identifier: int | None = None,
) -> SubAck:
    properties = Properties(subscription_identifiers=(identifier,) if identifier else ())
    await client.send_packet(Subscribe(packet_id, (request,), properties))
    return await client.expect(SubAck)


async def test_connack_properties_and_assigned_client_id(broker: Broker, port: int) -> None:
    _, connack = await RawClient.connected(port, "")
    assigned = connack.properties.assigned_client_identifier
    assert assigned
    assert assigned in broker.sessions
    assert connack.properties.receive_maximum == 100
    assert connack.properties.maximum_packet_size == 1_048_576


async def test_server_keep_alive_caps_the_client(start_broker: StartBroker) -> None:
    broker = await start_broker(max_keepalive=30)
    _, connack = await RawClient.connected(broker.ports["plain"], "k", keepalive=600)
    assert connack.properties.server_keep_alive == 30


async def test_extended_authentication_is_refused(port: int) -> None:
    client = await RawClient.open(port)
    await client.send_packet(Connect("x", 5, properties=Properties(authentication_method="SCRAM")))
    assert await client.expect_closed() == b"\x20\x03\x00\x8c\x00"


async def test_puback_says_no_matching_subscribers(port: int) -> None:
    client, _ = await RawClient.connected(port, "lonely")
    await client.publish("nobody/listens", b"x", 1)
    assert (await client.expect(PubAck)).reason_code == ReasonCode.NO_MATCHING_SUBSCRIBERS


async def test_properties_pass_through(port: int) -> None:
    subscriber, _ = await RawClient.connected(port, "props-sub")
    await subscriber.subscribe("p/1", 1)
    publisher, _ = await RawClient.connected(port, "props-pub")
    properties = Properties(
        payload_format_indicator=1,
        content_type="text/plain",
        response_topic="p/reply",
        correlation_data=b"\x01\x02",
        user_properties=(("site", "lab"), ("site", "floor 2")),
    )
    await publisher.send_packet(Publish("p/1", b"hello", 1, packet_id=5, properties=properties))
    message = await subscriber.expect(Publish)
    assert message.properties == properties


@pytest.mark.slow
async def test_session_expiry(port: int) -> None:
    expiring = Properties(session_expiry_interval=1)
    client, connack = await RawClient.connected(port, "exp", clean_start=False, properties=expiring)
    assert not connack.session_present
    await client.send_packet(Disconnect())
    await client.expect_closed()
    client, connack = await RawClient.connected(port, "exp", clean_start=False, properties=expiring)
    assert connack.session_present
    await client.send_packet(Disconnect())
    await client.expect_closed()
    await asyncio.sleep(1.5)
    _, connack = await RawClient.connected(port, "exp", clean_start=False, properties=expiring)
    assert not connack.session_present


async def test_session_expiry_set_at_disconnect_after_zero_is_a_protocol_error(port: int) -> None:
    client, _ = await RawClient.connected(port, "zero")
    await client.send_packet(Disconnect(properties=Properties(session_expiry_interval=60)))
    assert (await client.expect_disconnect()).reason_code == ReasonCode.PROTOCOL_ERROR


@pytest.mark.slow
async def test_message_expiry_drops_stale_retained_and_counts_down(port: int) -> None:
    publisher, _ = await RawClient.connected(port, "exp-pub")
    await publisher.send_packet(
        Publish("e/1", b"soon stale", 0, True, properties=Properties(message_expiry_interval=1))
    )
    fresh, _ = await RawClient.connected(port, "fresh")
    await fresh.subscribe("e/1", 0)
    message = await fresh.expect(Publish)
    assert message.properties.message_expiry_interval in (0, 1)
    await asyncio.sleep(1.3)
    late, _ = await RawClient.connected(port, "late")
    await late.subscribe("e/1", 0)
    assert await late.nothing_before_pong()


async def test_topic_alias_from_the_client(port: int) -> None:
    subscriber, _ = await RawClient.connected(port, "alias-sub")
    await subscriber.subscribe("alias/long/topic", 0)
    publisher, _ = await RawClient.connected(port, "alias-pub")
    await publisher.send_packet(
        Publish("alias/long/topic", b"1", properties=Properties(topic_alias=1))
    )
    await publisher.send_packet(Publish("", b"2", properties=Properties(topic_alias=1)))
    first = await subscriber.expect(Publish)
    second = await subscriber.expect(Publish)
    assert [(first.topic, first.payload), (second.topic, second.payload)] == [
        ("alias/long/topic", b"1"),
        ("alias/long/topic", b"2"),
    ]


async def test_unknown_topic_alias_is_a_protocol_error(port: int) -> None:
    client, _ = await RawClient.connected(port, "alias-bad")
    await client.send_packet(Publish("", b"x", properties=Properties(topic_alias=4)))
    assert (await client.expect_disconnect()).reason_code == ReasonCode.PROTOCOL_ERROR


async def test_topic_alias_to_the_client(port: int) -> None:
    subscriber, _ = await RawClient.connected(
        port, "alias-in", properties=Properties(topic_alias_maximum=1)
    )
    await subscriber.subscribe("to/+", 0)
    publisher, _ = await RawClient.connected(port, "alias-out")
    for topic in ("to/a", "to/a", "to/b"):
        await publisher.publish(topic, b"x")
    first, second, third = [await subscriber.expect(Publish) for _ in range(3)]
    assert (first.topic, first.properties.topic_alias) == ("to/a", 1)
    assert (second.topic, second.properties.topic_alias) == ("", 1)
    assert (third.topic, third.properties.topic_alias) == ("to/b", None)  # maximum reached


async def test_receive_maximum_of_the_client_limits_messages_in_flight(port: int) -> None:
    subscriber, _ = await RawClient.connected(port, "rm", properties=Properties(receive_maximum=2))
    await subscriber.subscribe("rm/t", 1)
    publisher, _ = await RawClient.connected(port, "rm-pub")
    for number in range(1, 6):
        await publisher.publish("rm/t", str(number).encode(), 1, packet_id=number)
    for _ in range(1, 6):  # all five routed: any third in flight would be sent by now
        await publisher.expect(PubAck)
    first = await subscriber.expect(Publish)
    second = await subscriber.expect(Publish)
    assert await subscriber.nothing_before_pong()
    await subscriber.send_packet(PubAck(first.packet_id))
    third = await subscriber.expect(Publish)
    assert [m.payload for m in (first, second, third)] == [b"1", b"2", b"3"]


async def test_maximum_packet_size_of_the_client(port: int) -> None:
    subscriber, _ = await RawClient.connected(
        port, "small", properties=Properties(maximum_packet_size=64)
    )
    await subscriber.subscribe("size/t", 1)
    publisher, _ = await RawClient.connected(port, "big-pub")
    await publisher.publish("size/t", b"x" * 100, 1, packet_id=1)
    await publisher.publish("size/t", b"fits", 1, packet_id=2)
    message = await subscriber.expect(Publish)
    assert message.payload == b"fits"


@pytest.mark.slow
async def test_will_delay_and_cancel_on_return(broker: Broker, port: int) -> None:
    watcher, _ = await RawClient.connected(port, "will-watch")
    await watcher.subscribe("wd/#", 0)
    will = Will("wd/x", b"gone", properties=Properties(will_delay_interval=1))
    session = Properties(session_expiry_interval=60)
    client, _ = await RawClient.connected(
        port, "wd", clean_start=False, properties=session, will=will
    )
    client.writer.transport.abort()
    await wait_until(lambda: broker.sessions["wd"].connection is None, "the broker to notice")
    back, connack = await RawClient.connected(
        port, "wd", clean_start=False, properties=session, will=will
    )
    assert connack.session_present
    assert await watcher.silent(1.5)  # back before the delay: no will

    back.writer.transport.abort()  # and gone again, for longer than the delay: the will
    assert (await watcher.expect(Publish)).payload == b"gone"


async def test_shared_subscription_splits_the_load(port: int) -> None:
    members = [(await RawClient.connected(port, f"worker-{n}"))[0] for n in range(2)]
    for member in members:
        await member.subscribe("$share/g/jobs/#", 0)
    everyone, _ = await RawClient.connected(port, "everyone")
    await everyone.subscribe("jobs/#", 0)
    publisher, _ = await RawClient.connected(port, "jobs-pub")
    for number in range(4):
        await publisher.publish(f"jobs/{number}", b"job")
    for _ in range(4):
        await everyone.expect(Publish)
    counts = []
    for member in members:
        received = 0
        while not await member.silent(0.3):
            await member.expect(Publish)
            received += 1
        counts.append(received)
    assert counts == [2, 2]


async def test_no_local(port: int) -> None:
    client, _ = await RawClient.connected(port, "echo")
    await _subscribe(client, SubscriptionRequest("chat", 0, no_local=True))
    await client.publish("chat", b"mine")
    other, _ = await RawClient.connected(port, "other")
    await other.publish("chat", b"theirs")
    assert (await client.expect(Publish)).payload == b"theirs"


async def test_no_local_on_a_shared_subscription_is_a_protocol_error(port: int) -> None:
    client, _ = await RawClient.connected(port, "sharer")
    request = SubscriptionRequest("$share/g/t", 0, no_local=True)
    await client.send_packet(Subscribe(1, (request,)))
    assert (await client.expect_disconnect()).reason_code == ReasonCode.PROTOCOL_ERROR


@pytest.mark.parametrize("rap", [False, True])
async def test_retain_as_published(port: int, rap: bool) -> None:
    client, _ = await RawClient.connected(port, "rap")
    await _subscribe(client, SubscriptionRequest("rap/t", 0, retain_as_published=rap))
    publisher, _ = await RawClient.connected(port, "rap-pub")
    await publisher.publish("rap/t", b"kept", retain=True)
    assert (await client.expect(Publish)).retain is rap


async def test_retain_handling(port: int) -> None:
    publisher, _ = await RawClient.connected(port, "rh-pub")
    await publisher.publish("rh/t", b"r", 1, retain=True)
    await publisher.expect(PubAck)
    client, _ = await RawClient.connected(port, "rh")
    if_new = SubscriptionRequest("rh/t", 0, retain_handling=RetainHandling.SEND_IF_NEW_SUBSCRIPTION)
    await _subscribe(client, if_new)
    assert (await client.expect(Publish)).retain
    await _subscribe(client, if_new, packet_id=2)
    assert await client.nothing_before_pong()  # not new: nothing
    never = SubscriptionRequest("rh/#", 0, retain_handling=RetainHandling.DO_NOT_SEND)
    await _subscribe(client, never, packet_id=3)
    assert await client.nothing_before_pong()
    always = SubscriptionRequest("rh/t", 0, retain_handling=RetainHandling.SEND_ON_SUBSCRIBE)
    await _subscribe(client, always, packet_id=4)
    assert (await client.expect(Publish)).retain


async def test_subscription_identifiers_one_copy_with_all_ids(port: int) -> None:
    client, _ = await RawClient.connected(port, "ids")
    await _subscribe(client, SubscriptionRequest("ids/+", 0), identifier=7)
    await _subscribe(client, SubscriptionRequest("ids/#", 1), packet_id=2, identifier=9)
    publisher, _ = await RawClient.connected(port, "ids-pub")
    await publisher.publish("ids/a", b"x", 1)
    message = await client.expect(Publish)
    assert sorted(message.properties.subscription_identifiers) == [7, 9]
    assert message.qos == 1
    assert await client.nothing_before_pong()
