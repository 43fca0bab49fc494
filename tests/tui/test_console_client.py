"""The broker console's MQTT client: reading the clients feed and sending commands."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import aiomqtt
import pytest

from iotsim_tui.engine.console import (
    BrokerConsole,
    ClientsFeed,
    CredentialsRefused,
    FeedUnavailable,
    parse_clients_feed,
)
from iotsim_tui.errors import ConnectionFailed, UsageError
from iotsim_tui.profiles.model import BrokerSettings
from tests.support.bundled import run_bundled_broker
from tests.support.mosquitto import RunningMosquitto, run_mosquitto
from tests.support.ports import free_port
from tests.tui.password_broker import PASSWORD, USER, password_mosquitto

FEED = {
    "clients": [
        {
            "id": "TS1",
            "address": "127.0.0.1:54321",
            "protocol": "3.1.1",
            "listener": {"port": 8883, "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_128"}},
            "username": None,
            "connected_since": 1764000000.0,
            "subscriptions": [{"filter": "High_Tempe", "qos": 1}],
        },
        {
            "id": "TS2",
            "address": "127.0.0.1:54322",
            "protocol": "5",
            "listener": {"port": 1883, "tls": None},
            "username": "alice",
            "connected_since": 1764000001.0,
            "subscriptions": [],
        },
    ],
    "totals": {"connected": 2, "subscriptions": 1, "messages_received": 10, "messages_sent": 12},
    "updated": 1764000001.5,
}


def test_the_feed_reads_clients_links_and_subscriptions() -> None:
    feed = parse_clients_feed(json.dumps(FEED).encode())
    first, second = feed.clients
    assert (first.id, first.address, first.link, first.port) == (
        "TS1",
        "127.0.0.1:54321",
        "TLSv1.3",
        8883,
    )
    assert [(s.filter, s.qos) for s in first.subscriptions] == [("High_Tempe", 1)]
    assert (second.link, second.protocol, second.username) == ("plain", "5", "alice")
    assert (feed.connected, feed.messages_sent, feed.truncated) == (2, 12, False)


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"clients": {}}', "'clients' in the clients feed is not a list"),
        (b'{"clients": [1]}', "not a JSON object"),
        (b'{"clients": [], "totals": []}', "'totals'"),
    ],
)
def test_a_broken_feed_is_said_in_words(payload: bytes, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_clients_feed(payload)


def _settings(port: int) -> BrokerSettings:
    return BrokerSettings(host="127.0.0.1", port=port, bundled=False)


async def test_an_external_broker_has_no_feed_but_commands_still_go(
    mosquitto: RunningMosquitto,
) -> None:
    async with (
        aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="listener") as listener,
        BrokerConsole(_settings(mosquitto.port), feed_timeout=0.5) as console,
    ):
        await listener.subscribe("High_Tempe", qos=1)
        updates = console.updates()
        first = await asyncio.wait_for(anext(updates), 10)
        assert isinstance(first, FeedUnavailable)
        assert "publishes no $SYS/iotsim/clients feed" in first.reason
        await console.send("High_Tempe", "Alert for High Temperature", qos=1)
        message = await asyncio.wait_for(anext(listener.messages), 10)
        assert (message.payload, message.qos) == (b"Alert for High Temperature", 1)


async def test_counters_arriving_often_do_not_hide_a_missing_feed(tmp_path: Path) -> None:
    """Mosquitto with a short sys_interval sends its counters more often than the feed's
    timeout: the missing feed is still said, on time."""
    with run_mosquitto(tmp_path, extra_config="sys_interval 1\n") as broker:
        async with (
            aiomqtt.Client("127.0.0.1", broker.port, identifier="traffic") as traffic,
            BrokerConsole(_settings(broker.port), feed_timeout=2.5) as console,
        ):

            async def keep_the_counters_moving() -> None:
                for _ in range(100):  # 20 s at most
                    await traffic.publish("lab/traffic", b"x")
                    await asyncio.sleep(0.2)

            moving = asyncio.create_task(keep_the_counters_moving())
            try:
                first = await asyncio.wait_for(anext(console.updates()), 15)
            finally:
                moving.cancel()
            assert isinstance(first, FeedUnavailable)


async def test_the_bundled_broker_lists_a_subscribed_client(tmp_path: Path) -> None:
    with run_bundled_broker(tmp_path) as broker:
        assert broker.port is not None
        async with (
            aiomqtt.Client(broker.host, broker.port, identifier="TS1") as device,
            BrokerConsole(_settings(broker.port), feed_timeout=5) as console,
        ):
            await device.subscribe("High_Tempe", qos=1)
            async with asyncio.timeout(20):
                async for update in console.updates():
                    assert isinstance(update, ClientsFeed), update
                    listed = {c.id: c for c in update.clients}
                    if "TS1" in listed and listed["TS1"].subscriptions:
                        break
    ts1 = listed["TS1"]
    assert ts1.address.startswith("127.0.0.1:")
    assert ts1.link == "plain"
    assert [(s.filter, s.qos) for s in ts1.subscriptions] == [("High_Tempe", 1)]
    assert console.client_id in listed


async def test_a_quiet_feed_is_not_a_lost_feed(tmp_path: Path) -> None:
    """After the first feed, seconds without a change must not read as "no feed"."""
    with run_bundled_broker(tmp_path) as broker:
        assert broker.port is not None
        async with BrokerConsole(_settings(broker.port), feed_timeout=0.5) as console:
            updates = console.updates()
            async with asyncio.timeout(20):  # until the feed shows the console's own subscription
                async for update in updates:
                    assert isinstance(update, ClientsFeed), update
                    listed = {c.id: c for c in update.clients}
                    if console.client_id in listed and listed[console.client_id].subscriptions:
                        break
            # Four feed timeouts with nobody coming or going: only new counts may arrive.
            quiet_until = asyncio.get_running_loop().time() + 2.0
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(quiet_until):
                    async for update in updates:
                        assert isinstance(update, ClientsFeed), update
            async with aiomqtt.Client(broker.host, broker.port, identifier="TS9"):
                async with asyncio.timeout(20):
                    async for update in updates:
                        assert isinstance(update, ClientsFeed), update
                        if "TS9" in {c.id for c in update.clients}:
                            break


async def test_message_counts_come_between_feeds(tmp_path: Path) -> None:
    """Published messages show in the counts within seconds, with no client coming or going."""
    with run_bundled_broker(tmp_path) as broker:
        assert broker.port is not None
        async with (
            aiomqtt.Client(broker.host, broker.port, identifier="TS1") as device,
            BrokerConsole(_settings(broker.port), feed_timeout=5) as console,
        ):
            updates = console.updates()
            async with asyncio.timeout(20):
                async for first in updates:
                    assert isinstance(first, ClientsFeed), first
                    if console.client_id in {c.id for c in first.clients}:
                        break
            assert isinstance(first, ClientsFeed)
            for n in range(20):
                await device.publish("finance/TS1/temperature", str(n).encode(), qos=1)
            async with asyncio.timeout(20):
                async for update in updates:
                    assert isinstance(update, ClientsFeed), update
                    if update.messages_received >= first.messages_received + 20:
                        break
            assert isinstance(update, ClientsFeed)
            assert update.clients == first.clients
            assert update.updated > first.updated


async def test_bad_commands_are_refused_before_sending(mosquitto: RunningMosquitto) -> None:
    async with BrokerConsole(_settings(mosquitto.port)) as console:
        with pytest.raises(UsageError, match=r"cannot send to 'High_Tempe/\#'"):
            await console.send("High_Tempe/#", "x")
        with pytest.raises(UsageError, match="QoS must be 0, 1 or 2"):
            await console.send("High_Tempe", "x", qos=3)


async def test_no_broker_is_a_plain_connection_failure() -> None:
    port = free_port()
    with pytest.raises(ConnectionFailed, match=f"127.0.0.1:{port}.*is the broker running"):
        async with BrokerConsole(_settings(port)):
            pass


async def test_a_wrong_password_is_said_as_such(tmp_path: Path) -> None:
    with password_mosquitto(tmp_path) as broker:
        settings = BrokerSettings(port=broker.port, username=USER, password="wrong-pass")
        with pytest.raises(CredentialsRefused) as refused:
            async with BrokerConsole(settings):
                pass
        assert refused.value.message == (
            "the broker refused the console's user name or password: "
            "check them in the network settings (c)"
        )
        right = BrokerSettings(port=broker.port, username=USER, password=PASSWORD)
        async with BrokerConsole(right, feed_timeout=0.1) as console:
            await console.send("High_Tempe", "x")
