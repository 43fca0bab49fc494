"""The topic tree's reader in a child process, on real brokers: batches of every topic, a
refused password said as such, a broker that goes away, and no child left behind."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiomqtt
import psutil
import pytest

from iotsim_tui.engine.console import CredentialsRefused
from iotsim_tui.errors import ConnectionFailed
from iotsim_tui.explore.tree import Seen
from iotsim_tui.profiles.model import BrokerSettings
from iotsim_tui.runner.traffic import TrafficReader
from tests.support.bundled import run_bundled_broker
from tests.support.mosquitto import RunningMosquitto
from tests.support.ports import free_port
from tests.tui.password_broker import PASSWORD, USER, password_mosquitto

WAIT = 30.0


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_batches_of_every_topic_come_from_the_child(mosquitto: RunningMosquitto) -> None:
    settings = BrokerSettings(port=mosquitto.port, bundled=False)
    kept: list[Seen] = []
    async with (
        aiomqtt.Client("127.0.0.1", mosquitto.port) as publisher,
        TrafficReader(settings, every=0.05) as reader,
    ):
        assert reader.client_id.startswith("iotsim-topics-")
        process = reader._process
        assert process is not None
        assert process.pid is not None
        pid = process.pid
        assert pid != psutil.Process().pid
        for n in range(200):
            await publisher.publish(f"plant/dev{n:03}/temp", f"{n}".encode(), qos=1)
        deadline = time.monotonic() + WAIT
        async for batch in reader.batches():
            kept += [Seen._make(seen) for seen in batch if seen[1].startswith("plant/")]
            if len(kept) >= 200 or time.monotonic() > deadline:
                break
    assert [seen.payload for seen in kept] == [f"{n}".encode() for n in range(200)]
    assert kept[7].topic == "plant/dev007/temp"
    assert reader.overflow == 0
    assert _gone(pid)


async def test_a_wrong_password_is_said_as_such(tmp_path: Path) -> None:
    with password_mosquitto(tmp_path) as broker:
        wrong = BrokerSettings(port=broker.port, username=USER, password="wrong-pass")
        with pytest.raises(CredentialsRefused, match="refused the console's user name"):
            async with TrafficReader(wrong, every=0.05):
                pass
        right = BrokerSettings(port=broker.port, username=USER, password=PASSWORD)
        async with TrafficReader(right, every=0.05) as reader:
            assert reader.client_id


async def test_no_broker_and_a_broker_that_goes_away_end_it(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(ConnectionFailed, match=f"127.0.0.1:{port}"):
        async with TrafficReader(BrokerSettings(port=port, bundled=False), every=0.05):
            pass
    with run_bundled_broker(tmp_path) as broker:
        assert broker.port is not None
        settings = BrokerSettings(port=broker.port, bundled=False)
        async with TrafficReader(settings, every=0.05) as reader:
            broker.process.terminate()

            async def read_all() -> None:
                async for _ in reader.batches():
                    pass

            with pytest.raises(ConnectionFailed, match="lost the broker"):
                await asyncio.wait_for(read_all(), WAIT)
