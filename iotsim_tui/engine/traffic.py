"""Everything that flows through the network's broker, read by the broker console's client.

`TrafficWatch` is a `BrokerConsole` subscribed to `#` and `$SYS/#`. Messages come straight
from paho's callback into a list, so a flood costs no task per message; the reader takes
them in batches (`batches`), at most once per tick, and the topic tree counts them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Self

from iotsim_tui.engine.console import CLIENTS_TOPIC, COUNTERS_TOPIC, BrokerConsole
from iotsim_tui.engine.mqtt_client import MqttError, follow_messages, properties_text
from iotsim_tui.errors import ConnectionFailed
from iotsim_tui.explore.tree import PAYLOAD_BYTES, Seen
from iotsim_tui.profiles.model import BrokerSettings

EVERYTHING = "#"
SYS = "$SYS/#"
"""`#` does not match topics that start with `$`: the broker's own need a filter of their own."""
PENDING_LIMIT = 200_000
"""Messages held between two batches; more are counted in `overflow`, not kept."""


class TrafficWatch(BrokerConsole):
    """The console's MQTT client, reading every topic. `async with TrafficWatch(settings)`."""

    def __init__(
        self,
        broker: BrokerSettings,
        *,
        client_id: str | None = None,
        base: Path | None = None,
        include_sys: bool = True,
        payload_bytes: int = PAYLOAD_BYTES,
        reader: str = "the topic tree",
    ) -> None:
        super().__init__(broker, client_id=client_id or _client_id(), base=base)
        self.include_sys = include_sys
        self.payload_bytes = payload_bytes
        self.reader = reader
        """Who reads, as errors name it ("the topic tree", "the broker console")."""
        self.overflow = 0
        """Messages not kept because the reader fell behind by PENDING_LIMIT."""
        self._pending: list[Seen] = []
        self._ended: asyncio.Future[None] | None = None

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        try:
            self._ended = follow_messages(self._client, self._received)
            await self._client.unsubscribe([CLIENTS_TOPIC, COUNTERS_TOPIC])
            await self._client.subscribe(EVERYTHING, qos=0)
            if self.include_sys:
                await self._client.subscribe(SYS, qos=0)
        except MqttError as error:
            raise ConnectionFailed(
                f"{self.reader} could not subscribe to {EVERYTHING} on {self.where}: {error}"
            ) from None
        return self

    def _received(
        self, topic: str, payload: bytes, qos: int, retain: bool, properties: object
    ) -> None:
        if not self.include_sys and topic.startswith("$"):
            return  # retained $SYS counters the console's feed subscription brought in
        if len(self._pending) >= PENDING_LIMIT:
            self.overflow += 1
            return
        kept = payload if len(payload) <= self.payload_bytes else payload[: self.payload_bytes]
        self._pending.append(
            Seen(
                time.time(),
                topic,
                kept,
                len(payload),
                qos,
                retain,
                properties_text(properties) if properties is not None else (),
            )
        )

    def take(self) -> list[Seen]:
        """The messages that arrived since the last call, oldest first."""
        taken, self._pending = self._pending, []
        return taken

    async def batches(self, every: float) -> AsyncIterator[list[Seen]]:
        """What arrived, every `every` seconds (nothing when nothing came).

        Ends with ConnectionFailed when the broker goes away.
        """
        ended = self._ended
        if ended is None:
            raise RuntimeError("use TrafficWatch as `async with`")
        while True:
            try:
                await asyncio.wait_for(asyncio.shield(ended), every)
            except TimeoutError:
                if self._pending:
                    yield self.take()
                continue
            if self._pending:
                yield self.take()
            raise ConnectionFailed(
                f"{self.reader} lost the broker at {self.where}; is it still running?"
            )


def _client_id() -> str:
    return f"iotsim-topics-{time.monotonic_ns() % 1_000_000_000}"
