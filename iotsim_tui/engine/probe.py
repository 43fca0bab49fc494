"""The latency probe: one more MQTT client that times a sample of the devices' telemetry.

The probe subscribes to the telemetry topics of a few devices spread over the network. When
one of those devices hands a telemetry message to its socket, the probe notes the time, keyed
by the topic and the payload; when the broker delivers that message to the probe, the
difference is one publish-to-delivery latency. The time is kept here, in the process that
publishes, rather than written into the payload: what a profile publishes is exactly what
the broker and every other subscriber see, on MQTT 3.1.1 and 5 alike, and no clock has to
agree with another. (So each process of a `--workers` or `--shard` run probes its own devices,
and their histograms merge.)
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import uuid
from collections import deque
from collections.abc import Sequence

from iotsim_tui.engine.histogram import Histogram
from iotsim_tui.engine.mqtt_client import Client, MqttError, ProtocolVersion
from iotsim_tui.profiles.model import BrokerSettings, MQTTVersion
from iotsim_tui.words import counted

PROBE_DEVICES = 20
"""Devices whose telemetry the probe times, spread evenly over the network."""
EXPIRY = 30.0
"""Seconds after which a message the probe did not receive counts as not delivered to it."""
MAX_PENDING = 10_000
"""Messages the probe waits for at most; older ones are forgotten first."""
READY_TIMEOUT = 10.0
"""Seconds the probe may take to connect and subscribe before the devices start anyway."""

Key = tuple[str, int]


def sample(count: int, wanted: int = PROBE_DEVICES) -> range:
    """Which of `count` devices (by position) the probe watches: every n-th, `wanted` at most."""
    step = max(1, -(-count // wanted))
    return range(0, count, step)


class LatencyProbe:
    """Times the telemetry of a sample of devices from publish to delivery."""

    def __init__(
        self,
        broker: BrokerSettings,
        endpoint: tuple[str, int],
        latency: Histogram,
    ) -> None:
        self._broker = broker
        self._endpoint = endpoint
        self._latency = latency
        self._topics: dict[str, int] = {}
        self._waiting: dict[Key, deque[float]] = {}
        self._order: deque[tuple[float, Key]] = deque()
        self.matched = 0
        self.missed = 0
        """Sampled messages the probe did not receive within EXPIRY seconds."""
        self.devices = 0
        self.note = ""
        """What the probe watches, or why it measures nothing."""
        self._task: asyncio.Task[None] | None = None
        self._receiving = False

    def watch(self, topic: str, qos: int) -> None:
        """Subscribe to this telemetry topic (before `start`)."""
        self._topics[topic] = max(qos, self._topics.get(topic, 0))

    def sent(self, topic: str, payload: bytes) -> None:
        """A sampled device handed this telemetry message to its socket just now."""
        if not self._receiving:
            return
        now = time.monotonic()
        key = (topic, hash(payload))
        self._waiting.setdefault(key, deque()).append(now)
        self._order.append((now, key))
        self._expire(now)

    async def start(self, tls: ssl.SSLContext | None) -> None:
        """Connect and subscribe; returns when the probe receives, or why it cannot."""
        if not self._topics:
            self.note = "no telemetry to time"
            return
        ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(tls, ready), name="latency probe")
        try:
            await asyncio.wait_for(asyncio.shield(ready), READY_TIMEOUT)
        except TimeoutError:
            self.note = f"the probe did not subscribe within {READY_TIMEOUT:g} s"
        except (MqttError, OSError) as error:
            self.note = f"the probe could not connect: {error}"

    async def stop(self) -> None:
        """Disconnect the probe."""
        self._receiving = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, MqttError, OSError):
                await self._task
            self._task = None
        self._expire(time.monotonic())

    def describe(self) -> str:
        """What the probe watched and how much of it arrived, in a few words."""
        if self.note:
            return self.note
        return f"{counted(self.matched, 'message')} of {counted(self.devices, 'device')} timed" + (
            f", {self.missed:,} not received" if self.missed else ""
        )

    async def _run(self, tls: ssl.SSLContext | None, ready: asyncio.Future[None]) -> None:
        broker = self._broker
        v5 = broker.protocol is MQTTVersion.V5
        client = Client(
            self._endpoint[0],
            self._endpoint[1],
            identifier=f"{broker.client_id_prefix}iotsim-probe-{uuid.uuid4().hex[:8]}",
            username=broker.username,
            password=broker.password,
            protocol=ProtocolVersion.V5 if v5 else ProtocolVersion.V311,
            tls_context=tls,
            tls_insecure=True if tls is not None and not tls.check_hostname else None,
            timeout=READY_TIMEOUT,
        )
        try:
            async with client:
                await client.subscribe(list(self._topics.items()))
                self._receiving = True
                if not ready.done():
                    ready.set_result(None)
                async for message in client.messages:
                    self._received(message.topic.value, message.payload)
        except (MqttError, OSError) as error:
            if not ready.done():
                ready.set_exception(error)
            elif not self.note:
                self.note = f"the probe lost its connection: {error}"

    def _received(self, topic: str, payload: object) -> None:
        if not isinstance(payload, bytes | bytearray):
            return
        now = time.monotonic()
        times = self._waiting.get((topic, hash(bytes(payload))))
        if not times:
            return  # someone else's message on a sampled topic, or a retained one
        sent = times.popleft()
        self.matched += 1
        self._latency.add(now - sent)

    def _expire(self, now: float) -> None:
        order, waiting = self._order, self._waiting
        while order and (now - order[0][0] > EXPIRY or len(order) > MAX_PENDING):
            at, key = order.popleft()
            times = waiting.get(key)
            if times and times[0] == at:
                times.popleft()
                self.missed += 1
            if times is not None and not times:
                del waiting[key]


def watch_sample(probe: LatencyProbe, topics: Sequence[Sequence[tuple[str, int]]]) -> list[int]:
    """Watch the telemetry of a sample of devices; the positions chosen.

    `topics` holds each device's telemetry topics and QoS, in the network's order.
    """
    with_telemetry = [i for i, device_topics in enumerate(topics) if device_topics]
    chosen = [with_telemetry[i] for i in sample(len(with_telemetry))]
    for position in chosen:
        for topic, qos in topics[position]:
            probe.watch(topic, qos)
    probe.devices = len(chosen)
    return chosen
