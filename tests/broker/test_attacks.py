"""What an attacker found, each fixed: heavy SUBSCRIBEs, clients that stop reading, password
floods, and retained messages past the limit."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from iotsim_tui.broker.auth import add_user
from iotsim_tui.protocol.codec import encode
from iotsim_tui.protocol.packets import (
    ConnAck,
    Connect,
    Publish,
    Subscribe,
    SubscriptionRequest,
    Will,
)
from iotsim_tui.protocol.reasons import MQTTVersion, ReasonCode
from tests.broker.conftest import StartBroker, wait_until
from tests.broker.raw import TIMEOUT, Bytes, RawClient

PASSWORD = b"correct horse battery staple"


async def _round_trip(client: RawClient) -> None:
    """A PINGREQ and its PINGRESP."""
    await client.send(b"\xc0\x00")
    assert await asyncio.wait_for(client.reader.readexactly(2), TIMEOUT) == b"\xd0\x00"


async def _drain(client: RawClient) -> None:
    while await client.reader.read(65_536):
        pass


RETAINED = 20_000


@pytest.mark.parametrize(
    ("filters", "returned"),
    [
        # The repro: 300 wildcard filters that match nothing, then one that matches
        # every retained message.
        ([f"zz/+/{i}" for i in range(300)] + ["r/#"], RETAINED),
        # Filters that match nothing but make the search visit every topic, then one message.
        ([f"+/+/+/zz{i}" for i in range(100)] + ["r/0/0"], 1),
    ],
    ids=["300-filters-then-everything", "100-searches-through-everything"],
)
async def test_a_subscribe_with_many_filters_over_many_retained_messages_blocks_no_one(
    start_broker: StartBroker, filters: list[str], returned: int
) -> None:
    broker = await start_broker()
    port = broker.ports["plain"]
    filler, _ = await RawClient.connected(port, "filler", version=4)
    await filler.send(
        b"".join(
            Bytes.packet(0x31, Bytes.string(f"r/{i // 100}/{i}".encode()) + b"v")
            for i in range(RETAINED)
        )
    )
    await wait_until(lambda: broker.retained.counted == RETAINED, "the retained messages")
    pinger, _ = await RawClient.connected(port, "pinger", version=4)
    greedy, _ = await RawClient.connected(port, "greedy", version=4)
    sent_before = broker.stats.messages_sent
    requests = tuple(SubscriptionRequest(f, 0) for f in filters)
    await greedy.send(encode(Subscribe(1, requests), 4))
    reader = asyncio.create_task(_drain(greedy))
    round_trips = 0
    # The filters are answered in order, so the last one's messages mean all are done. Each
    # round trip starts while the SUBSCRIBE is still being answered.
    while broker.stats.messages_sent - sent_before < returned:
        await _round_trip(pinger)
        round_trips += 1
    reader.cancel()
    # Before the topic tree, the retained store was scanned once per filter on the event loop
    # (300 x 20,000 topic comparisons: seconds with every client waiting), and a search that
    # matched nothing ran to its end in one go: the pinger's first PINGREQ was answered only
    # after the whole SUBSCRIBE, one round trip in all. Answered a slice per turn of the loop,
    # the pinger gets through again and again meanwhile. The count, not the time, is checked:
    # the suite may be stopped or starved for a while, which lengthens a round trip but cannot
    # reorder the broker's work.
    assert round_trips >= 3, f"only {round_trips} round trip(s) while the SUBSCRIBE was answered"


async def test_a_client_that_stops_reading_is_cut_off_and_its_will_published(
    start_broker: StartBroker,
) -> None:
    broker = await start_broker(close_timeout=0.5, write_buffer_disconnect=256 * 1024 * 1024)
    port = broker.ports["plain"]
    watcher, _ = await RawClient.connected(port, "watcher", version=4)
    await watcher.subscribe("wills/#", 0)
    stuck = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", port))
    connect = Connect("stuck", MQTTVersion.V311, keepalive=2, will=Will("wills/stuck", b"gone"))
    subscribe = Subscribe(1, (SubscriptionRequest("flood", 0),))
    stuck.sendall(encode(connect, 4) + encode(subscribe, 4))  # then it never reads or writes
    try:
        await wait_until(lambda: "flood" in broker.subscriptions_of("stuck"), "the subscription")
        connection = next(c for c in broker.connections if c.client_id == "stuck")
        publisher, _ = await RawClient.connected(port, "publisher", version=4)
        chunk = Bytes.packet(0x30, Bytes.string(b"flood") + b"x" * 16_000) * 64
        for _ in range(200):  # 200 MB at most; a few MB fill the kernel's buffers
            transport = connection.transport
            if transport is None or connection.lost or transport.get_write_buffer_size():
                break
            await publisher.send(chunk)
        assert not connection.lost, "the keepalive ran out before the buffers were full"
        assert connection.transport is not None
        assert connection.transport.get_write_buffer_size(), "the broker's buffer never filled"
        # Keepalive 2 s: after 3 s of silence the broker closes; the close cannot flush.
        will = await watcher.expect(Publish)
        assert (will.topic, will.payload) == ("wills/stuck", b"gone")
        await wait_until(lambda: connection.lost, "the connection to be gone")
        assert "cut after 0.5 s unread" in connection.close_reason
        assert broker.subscriptions_of("stuck") == []  # its clean session ended with it
    finally:
        stuck.close()


async def _open_from(port: int, source: str) -> RawClient:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    return RawClient(reader, writer, 5)


async def _login(port: int, source: str, password: bytes) -> tuple[ConnAck, float]:
    client = await _open_from(port, source)
    started = time.perf_counter()
    connect = Connect(
        f"dev-{time.monotonic_ns()}", MQTTVersion.V5, username="alice", password=password
    )
    await client.send_packet(connect)
    connack = await client.expect(ConnAck)
    elapsed = time.perf_counter() - started
    await client.close()
    return connack, elapsed


async def test_a_wrong_password_flood_does_not_hold_up_a_correct_login(
    start_broker: StartBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password_file = tmp_path / "passwd"
    add_user(password_file, "alice", PASSWORD)
    broker = await start_broker(password_file=password_file)
    port = broker.ports["plain"]
    connack, _ = await _login(port, "127.0.0.2", PASSWORD)
    assert connack.reason_code == ReasonCode.SUCCESS
    # Each password check as the broker's login guard sees it: arriving, then done.
    seen: list[tuple[str, str]] = []
    checked = broker.logins.check

    async def check(host: str, verify: Callable[[], bool]) -> bool:
        seen.append(("arrived", host))
        try:
            return await checked(host, verify)
        finally:
            seen.append(("done", host))

    monkeypatch.setattr(broker.logins, "check", check)
    attackers = await asyncio.gather(*(_open_from(port, "127.0.0.1") for _ in range(300)))
    for n, attacker in enumerate(attackers):
        guess = Connect(f"guess-{n}", MQTTVersion.V5, username="alice", password=b"guess")
        attacker.writer.write(encode(guess, 5))
    await wait_until(lambda: broker.logins.refused_busy >= 250, "logins refused as busy")
    connack, _ = await _login(port, "127.0.0.2", PASSWORD)
    assert connack.reason_code == ReasonCode.SUCCESS
    # The flood costs the correct login at most one password check ahead of it.
    # Its check started at once: no queue behind the flood (before: 300 checks ahead of it).
    assert broker.logins.last_wait["127.0.0.2"] < 0.05
    # While it was checked, the flood's checks went on one at a time with a growing back-off:
    # counted, not timed (a stalled or starved broker makes every check slower, not more).
    during = seen[seen.index(("arrived", "127.0.0.2")) : seen.index(("done", "127.0.0.2"))]
    others = [event for event in during if event == ("done", "127.0.0.1")]
    assert len(others) <= 3, f"{len(others)} of the flood's checks ended while it waited: {seen}"
    answers = await asyncio.gather(*(a.expect(ConnAck) for a in attackers))
    codes = {answer.reason_code for answer in answers}
    assert codes <= {ReasonCode.SERVER_BUSY, ReasonCode.BAD_USER_NAME_OR_PASSWORD}
    assert broker.logins.checks <= 20  # scrypt ran a handful of times, not 300
    for attacker in attackers:
        await attacker.close()


@pytest.mark.parametrize(
    ("version", "refused"), [(4, b"\x40\x02\x00\x03"), (5, b"\x40\x03\x00\x03\x97")]
)
async def test_retained_messages_past_the_limit_are_refused_logged_and_counted(
    start_broker: StartBroker, caplog: pytest.LogCaptureFixture, version: int, refused: bytes
) -> None:
    caplog.set_level(logging.INFO, logger="iotsim_tui.broker")
    broker = await start_broker(max_retained=2, sys_interval=0.05)
    port = broker.ports["plain"]
    assert len(broker.retained) > 10  # the broker's own $SYS topics, which do not count
    client, _ = await RawClient.connected(port, "keeper", version=version)
    props = b"\x00" if version == 5 else b""
    for packet_id, topic in enumerate(("a", "b", "c"), start=1):
        body = Bytes.string(topic.encode()) + packet_id.to_bytes(2, "big") + props + b"kept"
        await client.send(Bytes.packet(0x33, body))
        # 5.0 says 0x10 (no matching subscribers) for the two it kept, and 0x97 (quota
        # exceeded) for the third; 3.1.1 acknowledges all three alike.
        kept = b"\x40\x03\x00%c\x10" if version == 5 else b"\x40\x02\x00%c"
        expected = refused if topic == "c" else kept % packet_id
        answer = await asyncio.wait_for(client.reader.readexactly(len(expected)), TIMEOUT)
        assert answer == expected
    assert sorted(m.topic for m in broker.retained.match("+")) == ["a", "b"]
    assert "retained message to 'c' not kept: the broker holds max_retained = 2" in caplog.text
    watcher, _ = await RawClient.connected(port, "watcher", version=4)
    await watcher.subscribe("$SYS/broker/retained messages/dropped", 0)
    while (await watcher.expect(Publish)).payload != b"1":
        pass


async def test_many_retained_messages_reach_a_subscriber_whole_at_its_own_pace(
    start_broker: StartBroker,
) -> None:
    broker = await start_broker(write_buffer_limit=64 * 1024)
    port = broker.ports["plain"]
    count = 3000
    payload = b"x" * 1000  # 3 MB in all, far past what may wait for one client
    filler, _ = await RawClient.connected(port, "filler", version=4)
    await filler.send(
        b"".join(Bytes.packet(0x31, Bytes.string(b"big/%d" % i) + payload) for i in range(count))
    )
    await wait_until(lambda: broker.retained.counted == count, "the retained messages")
    # A small receive buffer: the kernel holds little, so the broker must wait for the reader.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader = RawClient(*await asyncio.open_connection(sock=sock), 4)
    await reader.send_packet(Connect("reader", MQTTVersion.V311))
    await reader.expect(ConnAck)
    await reader.subscribe("big/#", 0)
    topics = {(await reader.expect(Publish)).topic for _ in range(count)}
    assert len(topics) == count
    assert broker.stats.dropped == 0
