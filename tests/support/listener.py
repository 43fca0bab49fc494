"""An MQTT client of a test's own that collects what the broker delivers."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import aiomqtt


@contextlib.asynccontextmanager
async def listening(port: int, *filters: str) -> AsyncIterator[list[aiomqtt.Message]]:
    """Subscribe to `filters` (QoS 1) on the broker at 127.0.0.1:`port`; the list grows with
    every message that arrives, in order, until the block ends."""
    arrived: list[aiomqtt.Message] = []
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"listener-{os.getpid()}") as client:
        for topic_filter in filters:
            await client.subscribe(topic_filter, qos=1)

        async def collect() -> None:
            async for message in client.messages:
                arrived.append(message)

        task = asyncio.create_task(collect())
        try:
            yield arrived
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
