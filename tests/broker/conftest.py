"""Fixtures for broker tests: the bundled broker started in this process on a free port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from iotsim_tui.broker.config import BrokerConfig
from iotsim_tui.broker.server import Broker

StartBroker = Callable[..., Awaitable[Broker]]


@pytest.fixture
async def start_broker() -> AsyncIterator[StartBroker]:
    """Start brokers with the given settings (port 0 by default); all stop after the test."""
    running: list[Broker] = []

    async def start(**settings: Any) -> Broker:
        settings.setdefault("port", 0)
        broker = Broker(BrokerConfig(**settings))
        await broker.start()
        running.append(broker)
        return broker

    yield start
    for broker in running:
        await broker.stop()


@pytest.fixture
async def broker(start_broker: StartBroker) -> Broker:
    """A plain broker with default settings on a free port."""
    return await start_broker()


@pytest.fixture
def port(broker: Broker) -> int:
    """The plain port of `broker`."""
    return broker.ports["plain"]


async def wait_until(condition: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Wait for the broker to reach a state (not an assertion on timing: bounded polling)."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)
