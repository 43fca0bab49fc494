"""The broker console feed ($SYS/iotsim/clients) and the $SYS/broker statistics."""

from __future__ import annotations

import json
import time
from typing import Any

from iotsim_tui.broker.server import Broker
from iotsim_tui.broker.stats import CLIENTS_TOPIC
from iotsim_tui.engine.console import parse_clients_feed
from iotsim_tui.protocol.packets import Publish
from tests.broker.conftest import StartBroker, wait_until
from tests.broker.raw import RawClient


async def _next_document(console: RawClient) -> dict[str, Any]:
    message = await console.expect(Publish)
    assert message.topic == CLIENTS_TOPIC
    document: dict[str, Any] = json.loads(message.payload)
    return document


async def _document_where(console: RawClient, condition: Any) -> dict[str, Any]:
    for _ in range(50):
        document = await _next_document(console)
        if condition(document):
            return document
    raise AssertionError("the feed never showed the expected state")


async def test_clients_feed_lists_clients_with_the_documented_schema(port: int) -> None:
    console, _ = await RawClient.connected(port, "console", version=4)
    await console.subscribe(CLIENTS_TOPIC, 0)
    before = time.time()
    device, _ = await RawClient.connected(port, "TS1", version=4)
    await device.subscribe("High_Tempe", 1)

    document = await _document_where(
        console, lambda d: any(c["id"] == "TS1" and c["subscriptions"] for c in d["clients"])
    )
    assert set(document) == {"clients", "totals", "updated"}
    assert [client["id"] for client in document["clients"]] == ["TS1", "console"]
    ts1 = document["clients"][0]
    assert set(ts1) == {
        "id",
        "address",
        "protocol",
        "listener",
        "username",
        "connected_since",
        "subscriptions",
    }
    host, _, client_port = ts1["address"].rpartition(":")
    assert host == "127.0.0.1"
    assert int(client_port) == device.writer.get_extra_info("sockname")[1]
    assert ts1["protocol"] == "3.1.1"
    assert ts1["listener"] == {"port": port, "tls": None}
    assert ts1["username"] is None
    assert before - 1 <= ts1["connected_since"] <= time.time()
    assert ts1["subscriptions"] == [{"filter": "High_Tempe", "qos": 1}]
    totals = document["totals"]
    assert totals["connected"] == 2
    assert totals["subscriptions"] == 2
    assert set(totals) == {"connected", "subscriptions", "messages_received", "messages_sent"}
    assert document["updated"] >= ts1["connected_since"]

    await device.close()
    await _document_where(console, lambda d: [c["id"] for c in d["clients"]] == ["console"])


async def test_clients_feed_is_coalesced_and_capped(start_broker: StartBroker) -> None:
    broker: Broker = await start_broker(clients_feed_limit=5, clients_feed_interval=0.3)
    port = broker.ports["plain"]
    before = broker.feed.clients_publishes
    clients = [(await RawClient.connected(port, f"dev-{n:02d}", version=4))[0] for n in range(30)]
    await wait_until(lambda: broker.feed.clients_publishes > before, "a feed publish")
    assert broker.feed.clients_publishes - before < 30  # far fewer publishes than connects
    console, _ = await RawClient.connected(port, "zz-console", version=4)
    await console.subscribe(CLIENTS_TOPIC, 0)
    document = await _document_where(console, lambda d: d["totals"]["connected"] == 31)
    assert document["truncated"] is True
    assert [c["id"] for c in document["clients"]] == [f"dev-{n:02d}" for n in range(5)]
    for client in clients:
        await client.close()


async def _sys_until(client: RawClient, topic: str, value: str) -> dict[str, str]:
    """The `$SYS` values seen until `topic` reads `value` (bounded: 50 messages)."""
    seen: dict[str, str] = {}
    for _ in range(50):
        message = await client.expect(Publish)
        seen[message.topic] = message.payload.decode()
        if seen.get(topic) == value:
            return seen
    raise AssertionError(f"{topic} never read {value!r}; last {seen.get(topic)!r}")


async def test_sys_statistics(start_broker: StartBroker) -> None:
    # A refresh interval longer than the test: the counts must follow the clients by themselves.
    broker = await start_broker(sys_interval=3600)
    port = broker.ports["plain"]
    client, _ = await RawClient.connected(port, "stats", version=4)
    await client.subscribe("$SYS/broker/#", 0)
    seen = await _sys_until(client, "$SYS/broker/clients/connected", "1")
    assert seen["$SYS/broker/version"].startswith("iotsim-tui ")
    assert seen["$SYS/broker/uptime"].endswith(" seconds")
    assert {"$SYS/broker/messages/received", "$SYS/broker/messages/sent"} <= set(seen)
    await _sys_until(client, "$SYS/broker/subscriptions/count", "1")

    other, _ = await RawClient.connected(port, "other", version=4)
    await _sys_until(client, "$SYS/broker/clients/connected", "2")
    await other.close()
    await _sys_until(client, "$SYS/broker/clients/connected", "1")

    late, _ = await RawClient.connected(port, "late", version=4)  # reads the retained count
    await late.subscribe("$SYS/broker/clients/connected", 0)
    assert (await late.expect(Publish)).payload in (b"1", b"2")
    await _sys_until(late, "$SYS/broker/clients/connected", "2")


async def test_the_broker_console_reads_the_feed(port: int) -> None:
    console, _ = await RawClient.connected(port, "console")
    await console.subscribe(CLIENTS_TOPIC, 0)
    device, _ = await RawClient.connected(port, "TS1", version=4)
    await device.subscribe("High_Tempe", 1)
    while True:
        message = await console.expect(Publish)
        feed = parse_clients_feed(message.payload)
        ts1 = [client for client in feed.clients if client.id == "TS1"]
        if ts1 and ts1[0].subscriptions:
            break
    assert (ts1[0].protocol, ts1[0].port, ts1[0].tls_version) == ("3.1.1", port, None)
    assert [(s.filter, s.qos) for s in ts1[0].subscriptions] == [("High_Tempe", 1)]
    assert feed.connected == 2
