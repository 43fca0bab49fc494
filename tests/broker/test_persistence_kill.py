"""A real `kill -9` of the broker process: with persistence "sync", no acknowledged loss."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from iotsim_tui.protocol.packets import PubAck, Publish
from tests.broker.raw import RawClient
from tests.support.bundled import run_bundled_broker

COUNT = 800
"""Below the default queue limit (1,000), so every message fits the offline subscriber's queue."""
KILL_AFTER = 200


async def _publish_until_killed(port: int, kill: asyncio.Event) -> set[bytes]:
    """Send COUNT QoS 1 messages back to back; the payloads acknowledged before the kill."""
    publisher, _ = await RawClient.connected(port, "publisher", version=4)
    acknowledged: set[bytes] = set()

    async def send_all() -> None:
        for number in range(1, COUNT + 1):
            await publisher.publish("k/t", f"m{number}".encode(), 1, packet_id=number)
            if number % 50 == 0:
                await asyncio.sleep(0)  # let acknowledgements in, as a real client would

    sender = asyncio.create_task(send_all())
    try:
        while len(acknowledged) < COUNT:
            try:
                packet = await publisher.next_packet()
            except (AssertionError, ConnectionError):
                break  # the broker is gone
            assert isinstance(packet, PubAck)
            acknowledged.add(f"m{packet.packet_id}".encode())
            if len(acknowledged) == KILL_AFTER:
                kill.set()
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    return acknowledged


async def test_kill_9_loses_no_acknowledged_message_with_sync(tmp_path: Path) -> None:
    data = tmp_path / "data"
    arguments = ("--persistence", "sync", "--data", str(data))
    with run_bundled_broker(tmp_path, extra_args=arguments) as broker:
        assert broker.port is not None
        subscriber, _ = await RawClient.connected(
            broker.port, "subscriber", version=4, clean_start=False
        )
        await subscriber.subscribe("k/#", 1)
        await subscriber.close()
        kill = asyncio.Event()
        publishing = asyncio.create_task(_publish_until_killed(broker.port, kill))
        await asyncio.wait_for(kill.wait(), 30)
        broker.process.send_signal(signal.SIGKILL)
        broker.process.wait()
        acknowledged = await asyncio.wait_for(publishing, 30)
    assert len(acknowledged) >= KILL_AFTER

    with run_bundled_broker(tmp_path, extra_args=arguments) as broker:
        assert broker.port is not None
        log = broker.log.read_text()
        assert "1 session(s)" in log, log
        subscriber, connack = await RawClient.connected(
            broker.port, "subscriber", version=4, clean_start=False
        )
        assert connack.session_present
        received: set[bytes] = set()
        while not acknowledged <= received:
            packet = await subscriber.expect(Publish)
            received.add(packet.payload)
            await subscriber.send_packet(PubAck(packet.packet_id))
        await subscriber.close()
    assert not acknowledged - received
