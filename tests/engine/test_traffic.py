"""The topic tree's reader on real brokers: every topic, retained marks, MQTT 5 properties."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from iotsim_tui.engine.traffic import TrafficWatch
from iotsim_tui.errors import ConnectionFailed
from iotsim_tui.explore.tree import Seen, TopicTree
from iotsim_tui.profiles.model import BrokerSettings
from iotsim_tui.protocol.reasons import MQTTVersion
from tests.support.bundled import run_bundled_broker
from tests.support.mosquitto import RunningMosquitto

WAIT = 30.0


async def _seen_on(port: int, topic: str) -> tuple[list[Seen], TopicTree]:
    """Publish a retained message, start the reader, publish one more with properties."""
    v5 = aiomqtt.ProtocolVersion.V5
    async with aiomqtt.Client("127.0.0.1", port, protocol=v5) as publisher:
        await publisher.publish(topic, b'{"t": 21.5}', qos=1, retain=True)
        settings = BrokerSettings(port=port, bundled=False, protocol=MQTTVersion.V5)
        tree = TopicTree()
        kept: list[Seen] = []
        async with TrafficWatch(settings, payload_bytes=64) as watch:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.ContentType = "application/json"
            properties.UserProperty = [("site", "A")]
            await publisher.publish(topic, b'{"t": 22}', qos=1, properties=properties)
            await publisher.publish(f"{topic}/big", b"x" * 100, qos=1)
            deadline = time.monotonic() + WAIT
            async for batch in watch.batches(0.05):
                tree.add_all(batch)
                kept += [seen for seen in batch if seen.topic.startswith(topic)]
                if len(kept) >= 3 or time.monotonic() > deadline:
                    break
        await publisher.publish(topic, b"", qos=1, retain=True)  # leave no retained message
    return kept, tree


async def _check(port: int, topic: str) -> TopicTree:
    kept, tree = await _seen_on(port, topic)
    first, second, big = kept
    assert (first.payload, first.retain, first.qos) == (b'{"t": 21.5}', True, 0)
    assert (second.payload, second.retain) == (b'{"t": 22}', False)
    assert ("ContentType", "application/json") in second.properties
    assert ("user.site", "A") in second.properties
    assert (len(big.payload), big.size, big.cut) == (64, 100, True)
    node = tree.node(topic)
    assert node is not None
    assert (node.count, node.topics) == (3, 2)  # itself and the level beneath
    return tree


async def test_every_topic_with_retained_marks_and_properties_on_mosquitto(
    mosquitto: RunningMosquitto,
) -> None:
    tree = await _check(mosquitto.port, "plant/line1/temp")
    sys_node = tree.node("$SYS")
    assert sys_node is not None  # mosquitto's own topics, through $SYS/#
    assert sys_node.topics > 0


async def test_every_topic_on_the_bundled_broker(tmp_path: Path) -> None:
    with run_bundled_broker(tmp_path) as broker:
        assert broker.port is not None
        await _check(broker.port, "ward/bed7/pulse")


async def test_a_broker_that_goes_away_ends_the_batches(tmp_path: Path) -> None:
    with run_bundled_broker(tmp_path) as broker:
        assert broker.port is not None
        settings = BrokerSettings(port=broker.port, bundled=False)
        async with TrafficWatch(settings) as watch:
            broker.process.terminate()

            async def read_all() -> None:
                async for _ in watch.batches(0.05):
                    pass

            with pytest.raises(ConnectionFailed, match="lost the broker"):
                await asyncio.wait_for(read_all(), WAIT)


async def test_without_sys_no_broker_topic_comes_through(mosquitto: RunningMosquitto) -> None:
    """The broker console's list reads `#` only: mosquitto's retained `$SYS` counters, which
    the console's feed subscription brings in before `#`, are left out."""
    settings = BrokerSettings(port=mosquitto.port, bundled=False)
    async with (
        TrafficWatch(settings, include_sys=False, reader="the console") as watch,
        aiomqtt.Client("127.0.0.1", mosquitto.port) as publisher,
    ):
        await publisher.publish("plant/state", b"running", qos=1)
        topics: list[str] = []
        deadline = time.monotonic() + WAIT
        async for batch in watch.batches(0.05):
            topics += [seen.topic for seen in batch]
            if "plant/state" in topics or time.monotonic() > deadline:
                break
        assert topics == ["plant/state"]
