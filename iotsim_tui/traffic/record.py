"""Record every message a broker delivers for some topic filters into a recording (JSON lines).

The recorder subscribes at QoS 2, so each message keeps the QoS it was published with (a
broker delivers the lower of the two), and on MQTT 5 with "retain as published", so the retain
flag is the publisher's. Messages retained before the recording started arrive first, marked
retained.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from iotsim_tui.engine.mqtt_client import Client, MqttError, SubscribeOptions
from iotsim_tui.errors import UsageError
from iotsim_tui.profiles.model import BrokerSettings
from iotsim_tui.protocol.properties import NO_PROPERTIES, Properties
from iotsim_tui.protocol.reasons import MQTTVersion
from iotsim_tui.protocol.topics import TopicError, validate_topic_filter
from iotsim_tui.traffic.connect import connection_failed, make_client
from iotsim_tui.traffic.recording import RecordedMessage, RecordingError, to_line

ALL_TOPICS = ("#",)
"""What is recorded without --topic: every topic but the broker's own `$SYS/...`."""


@dataclass(slots=True)
class RecordCount:
    """How much a recording holds so far."""

    messages: int = 0
    topics: int = 0
    bytes: int = 0


def check_filters(filters: Sequence[str]) -> None:
    """Raise UsageError for a topic filter MQTT does not allow."""
    for topic_filter in filters:
        try:
            validate_topic_filter(topic_filter)
        except TopicError as error:
            raise UsageError(
                f"--topic {topic_filter!r}: {error}", title="Bad topic filter"
            ) from None


def from_paho(properties: object) -> Properties:
    """The codec's properties for the MQTT 5 properties paho read from a PUBLISH."""
    if properties is None:
        return NO_PROPERTIES
    correlation = getattr(properties, "CorrelationData", None)
    user = getattr(properties, "UserProperty", None) or []
    found = Properties(
        payload_format_indicator=getattr(properties, "PayloadFormatIndicator", None),
        message_expiry_interval=getattr(properties, "MessageExpiryInterval", None),
        content_type=getattr(properties, "ContentType", None),
        response_topic=getattr(properties, "ResponseTopic", None),
        correlation_data=bytes(correlation) if correlation is not None else None,
        user_properties=tuple((str(name), str(value)) for name, value in user),
    )
    return NO_PROPERTIES if found.is_empty() else found


async def record(
    broker: BrokerSettings,
    out: IO[str],
    *,
    filters: Sequence[str] = ALL_TOPICS,
    stop: asyncio.Event | None = None,
    duration: float | None = None,
    count: int | None = None,
    ready: Callable[[], None] | None = None,
    seen: Callable[[RecordCount], None] | None = None,
    base: Path | None = None,
) -> RecordCount:
    """Write every message delivered for `filters` to `out` until `stop` is set, `duration`
    seconds have passed or `count` messages are written; returns what was written.

    `ready` is called once the subscriptions are in place, `seen` after each message.
    Raises ConnectionFailed when the broker cannot be reached or goes away.
    """
    check_filters(filters)
    client = make_client(broker, "record", base=base)
    total = RecordCount()
    topics: set[str] = set()
    v5 = broker.protocol is MQTTVersion.V5
    try:
        async with client:
            for topic_filter in filters:
                if v5:
                    options = SubscribeOptions(qos=2, retainAsPublished=True)
                    await client.subscribe(topic_filter, options=options)
                else:
                    await client.subscribe(topic_filter, qos=2)
            if ready is not None:
                ready()
            reading = asyncio.ensure_future(_read(client, out, total, topics, count, seen))
            waits: set[asyncio.Future[object]] = {reading}  # type: ignore[arg-type]
            if stop is not None:
                waits.add(asyncio.ensure_future(stop.wait()))
            await asyncio.wait(waits, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            if reading.done() and not reading.cancelled():
                reading.result()  # a lost broker or a failed write, raised here
    except MqttError as error:
        raise connection_failed(error, broker) from None
    out.flush()
    return total


async def _read(
    client: Client,
    out: IO[str],
    total: RecordCount,
    topics: set[str],
    count: int | None,
    seen: Callable[[RecordCount], None] | None,
) -> None:
    async for message in client.messages:
        payload = message.payload if isinstance(message.payload, bytes) else b""
        line = to_line(
            RecordedMessage(
                time=time.time(),
                topic=message.topic.value,
                payload=payload,
                qos=message.qos,
                retain=bool(message.retain),
                properties=from_paho(message.properties),
            )
        )
        try:
            out.write(line)
        except OSError as error:
            raise RecordingError(f"cannot write the recording: {error.strerror}") from None
        topics.add(message.topic.value)
        total.messages += 1
        total.topics = len(topics)
        total.bytes += len(payload)
        if seen is not None:
            seen(total)
        if count is not None and total.messages >= count:
            return
