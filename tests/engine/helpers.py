"""Small tools for engine tests: networks in code, an observer client, waits with deadlines."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiomqtt

from iotsim_tui.engine import Event, Simulation
from iotsim_tui.profiles.model import BrokerSettings, Device, Network, Ramp
from tests.support.mosquitto import mosquitto_path, wait_running

WAIT = 15.0
"""Generous: the machine is shared with other test runs."""


def unique(prefix: str = "t") -> str:
    """A topic prefix no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def network(port: int, *devices: Device, **broker: Any) -> Network:
    """A network of `devices` on 127.0.0.1:`port`, with a fast ramp."""
    settings = replace(BrokerSettings(port=port, bundled=False), **broker)
    return Network(name="TEST", broker=settings, devices=devices, ramp=Ramp(5000.0, 500))


async def wait_until(condition: Callable[[], bool], what: str, within: float = WAIT) -> None:
    """Return once `condition()` holds; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.02)


class EventLog:
    """Collects a simulation's events in a background task."""

    def __init__(self, simulation: Simulation) -> None:
        self.events: list[Event] = []
        self._task = asyncio.get_running_loop().create_task(self._collect(simulation))

    async def _collect(self, simulation: Simulation) -> None:
        async for batch in simulation.events():
            self.events.extend(batch)

    def of(self, kind: type[Event]) -> list[Any]:
        """The events of one class, in order."""
        return [event for event in self.events if isinstance(event, kind)]

    async def finish(self) -> None:
        """Wait for the rest of the stream (it ends when the simulation is left)."""
        await asyncio.wait_for(self._task, WAIT)


@asynccontextmanager
async def observer(port: int, *filters: str) -> AsyncIterator[Observer]:
    """A plain MQTT client that subscribes to `filters` and keeps what arrives."""
    async with aiomqtt.Client("127.0.0.1", port, identifier=unique("observer")) as client:
        for topic_filter in filters:
            await client.subscribe(topic_filter, qos=2)
        seen = Observer(client)
        task = asyncio.get_running_loop().create_task(seen.collect())
        try:
            yield seen
        finally:
            task.cancel()


class Observer:
    """Messages an observer client received."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.messages: list[aiomqtt.Message] = []

    async def collect(self) -> None:
        """Keep every message (runs as a task)."""
        async for message in self.client.messages:
            self.messages.append(message)

    def on(self, topic: str) -> list[aiomqtt.Message]:
        """Messages received on `topic`."""
        return [m for m in self.messages if m.topic.value == topic]

    def json_on(self, topic: str) -> list[Any]:
        """Payloads received on `topic`, decoded as JSON."""
        return [json.loads(bytes(m.payload)) for m in self.on(topic)]  # type: ignore[arg-type]


@contextmanager
def mosquitto_on(port: int, workdir: Path, extra: str = "") -> Iterator[subprocess.Popen[bytes]]:
    """Mosquitto on a given port (a test that restarts "the same broker" needs the port)."""
    binary = mosquitto_path()
    assert binary is not None
    config = workdir / f"mosquitto-fixed-{port}-{time.monotonic_ns()}.conf"
    config.write_text(
        f"per_listener_settings false\nallow_anonymous true\nlistener {port} 127.0.0.1\n{extra}"
    )
    log_path = config.with_suffix(".log")
    with log_path.open("wb") as log:
        process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=log)
    try:
        wait_running(process, log_path)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
