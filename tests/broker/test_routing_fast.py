"""The short way of a QoS 0 PUBLISH (forwarded as it came) gives what the general way gives."""

from __future__ import annotations

import asyncio

import pytest

from iotsim_tui.broker.server import Broker
from iotsim_tui.broker.stats import CLIENTS_TOPIC
from iotsim_tui.broker.subscriptions import _CACHE_LIMIT, Subscription, SubscriptionTree
from iotsim_tui.protocol.codec import encode
from iotsim_tui.protocol.packets import (
    Publish,
    SubAck,
    Subscribe,
    SubscriptionRequest,
    UnsubAck,
    Unsubscribe,
)
from iotsim_tui.protocol.properties import Properties
from tests.broker.conftest import wait_until
from tests.broker.raw import RawClient


async def _raw_publish(client: RawClient) -> bytes:
    """The bytes of the next packet, read from the socket as the broker wrote them."""
    async with asyncio.timeout(5):
        head = await client.reader.readexactly(2)
        assert head[1] < 0x80, "a small PUBLISH is expected"
        return head + await client.reader.readexactly(head[1])


@pytest.mark.parametrize("version", [4, 5])
async def test_a_subscriber_of_the_same_version_gets_the_bytes_as_sent(
    port: int, version: int
) -> None:
    subscriber, _ = await RawClient.connected(port, "sub", version=version)
    await subscriber.subscribe("devices/+/telemetry", 1)
    device, _ = await RawClient.connected(port, "dev", version=version)
    packet = encode(Publish("devices/d1/telemetry", b'{"t":21.5}'), version)
    await device.send(packet)  # one PUBLISH, whole, in one write: the shortest way
    assert await _raw_publish(subscriber) == packet


@pytest.mark.parametrize(("sent", "read"), [(4, 5), (5, 4)])
async def test_a_subscriber_of_the_other_version_gets_its_own_encoding(
    port: int, sent: int, read: int
) -> None:
    subscriber, _ = await RawClient.connected(port, "sub", version=read)
    await subscriber.subscribe("a/#", 0)
    device, _ = await RawClient.connected(port, "dev", version=sent)
    await device.send(encode(Publish("a/b", b"x"), sent))
    assert await _raw_publish(subscriber) == encode(Publish("a/b", b"x"), read)


async def test_no_local_and_subscription_identifiers_hold_on_the_short_way(port: int) -> None:
    client, _ = await RawClient.connected(port, "both", version=5)
    await client.send_packet(Subscribe(1, (SubscriptionRequest("loop/#", 0, no_local=True),)))
    await client.expect(SubAck)
    await client.send_packet(
        Subscribe(2, (SubscriptionRequest("ids/#", 0),), Properties(subscription_identifiers=(7,)))
    )
    await client.expect(SubAck)
    await client.publish("loop/a", b"mine")  # not sent back: No Local
    await client.publish("ids/a", b"with id")
    message = await client.expect(Publish)
    assert (message.topic, message.payload) == ("ids/a", b"with id")
    assert message.properties.subscription_identifiers == (7,)


async def test_two_subscribers_and_a_retained_message_still_take_the_general_way(
    port: int,
) -> None:
    first, _ = await RawClient.connected(port, "one", version=4)
    second, _ = await RawClient.connected(port, "two", version=5)
    for client in (first, second):
        await client.subscribe("t/#", 0)
    device, _ = await RawClient.connected(port, "dev", version=4)
    await device.publish("t/1", b"both")
    for client in (first, second):
        assert (await client.expect(Publish)).payload == b"both"
    await device.publish("t/2", b"kept", retain=True)
    for client in (first, second):
        assert (await client.expect(Publish)).payload == b"kept"
    late, _ = await RawClient.connected(port, "late", version=4)
    await late.subscribe("t/2", 0)
    message = await late.expect(Publish)
    assert (message.payload, message.retain) == (b"kept", True)


def test_matches_of_more_topics_than_the_cache_keeps_stay_right() -> None:
    tree = SubscriptionTree()
    tree.add(Subscription("all", "#", 0))
    tree.add(Subscription("one", "devices/00007/+", 0))
    topics = [f"devices/{n:05d}/telemetry" for n in range(_CACHE_LIMIT + 100)]
    for _ in range(2):
        for topic in topics:
            ids = [s.client_id for s in tree.match(topic)]
            assert ids == (["all", "one"] if topic == "devices/00007/telemetry" else ["all"])
    assert len(tree._cache) == _CACHE_LIMIT  # full, and not emptied by every new topic
    tree.add(Subscription("new", "devices/#", 0))  # a change: every kept match is stale
    assert [s.client_id for s in tree.match(topics[-1])] == ["all", "new"]


def test_asking_whether_a_topic_is_wanted_does_not_turn_a_share_group() -> None:
    tree = SubscriptionTree()
    for member in ("a", "b"):
        tree.add(Subscription(member, "$share/g/x/y", 0))
    assert not tree.wanted("x/z")
    assert tree.wanted("x/y")
    assert tree.wanted("x/y")
    picked = [tree.match("x/y")[0].client_id for _ in range(4)]
    assert picked in (["b", "a", "b", "a"], ["a", "b", "a", "b"])


async def test_the_console_feed_is_kept_only_while_someone_subscribes(broker: Broker) -> None:
    port = broker.ports["plain"]
    device, _ = await RawClient.connected(port, "TS1", version=4)
    await wait_until(lambda: broker.feed.clients_publishes >= 2, "the feed after a connect")
    assert not broker.retained.matching(CLIENTS_TOPIC)  # nobody reads it: not built

    console, _ = await RawClient.connected(port, "console", version=4)
    await console.subscribe("$SYS/iotsim/#", 0)
    feed = await console.expect(Publish)  # with the next publish of the feed
    assert b'"id":"TS1"' in feed.payload
    late, _ = await RawClient.connected(port, "late", version=4)
    await late.subscribe(CLIENTS_TOPIC, 0)
    assert (await late.expect(Publish)).retain  # kept while someone reads it
    await late.close()

    await console.send_packet(Unsubscribe(2, ("$SYS/iotsim/#",)))
    await console.expect(UnsubAck)
    await device.close()  # a change the feed would show: with no reader it is dropped
    await wait_until(lambda: not broker.retained.matching(CLIENTS_TOPIC), "the feed dropped")
