"""A running network: its devices, one telemetry scheduler, one connection ramp, one event stream.

```python
async with Simulation(network) as simulation:
    await simulation.start()
    async for batch in simulation.events():
        ...
```
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from types import TracebackType
from typing import Any, Self

from iotsim_tui.engine.bus import EventBus
from iotsim_tui.engine.connection import resolve
from iotsim_tui.engine.context import NetworkContext
from iotsim_tui.engine.device import DeviceRunner
from iotsim_tui.engine.events import DeviceStatus, Event, MessageKind
from iotsim_tui.engine.outbox import Totals
from iotsim_tui.engine.probe import LatencyProbe, watch_sample
from iotsim_tui.engine.ramp import ConnectionRamp
from iotsim_tui.engine.scheduler import TelemetryScheduler
from iotsim_tui.engine.tls import tls_context
from iotsim_tui.engine.views import DeviceView, Summary
from iotsim_tui.errors import IotsimError
from iotsim_tui.profiles.expand import devices_of
from iotsim_tui.profiles.model import Device, Network
from iotsim_tui.protocol.topics import TopicError, validate_topic_filter, validate_topic_name

STOP_GRACE = 1.0
"""Seconds devices get to disconnect cleanly before their sockets are shut down."""
STOP_TIMEOUT = 5.0
"""Seconds to wait for devices to end in all."""
RATE_WINDOW = 5.0
"""Seconds over which `Summary.rate_in` and `rate_out` are measured."""


class Simulation:
    """The simulated devices of one network, each a real MQTT client of its broker.

    Args:
        network: The network profile.
        endpoint: Where devices connect instead of the profile's host and port (the eavesdrop
            relay). TLS still checks the certificate against the profile's host.
        device_ids: Only these devices of the network (None: all of them).
        shard: `(index, count)`: only devices whose position in the network modulo `count` is
            `index` (0-based), so several processes or hosts can share a network.
        record_events: False when nobody will read `events()` (saves the work per message).
        latency_probe: Time a sample of the telemetry from publish to delivery with one more
            MQTT client (engine/probe.py), for `Summary.latency`.

    Raises:
        ProfileError: a telemetry of the network cannot be built (unusable generator).
        KeyError: `device_ids` names a device the network does not have.
    """

    def __init__(
        self,
        network: Network,
        *,
        endpoint: tuple[str, int] | None = None,
        device_ids: Collection[str] | None = None,
        shard: tuple[int, int] | None = None,
        record_events: bool = True,
        latency_probe: bool = False,
    ) -> None:
        self._network = network
        broker = network.broker
        self._bus = EventBus(enabled=record_events)
        self._totals = Totals()
        self._scheduler = TelemetryScheduler()
        self._context = NetworkContext(
            broker,
            endpoint or (broker.host, broker.effective_port),
            None,
            ConnectionRamp(network.ramp.rate, network.ramp.in_flight),
            self._bus.emit,
            self._scheduler.add,
            self._totals,
            recording=record_events,
        )
        self._runners: dict[str, DeviceRunner] = {
            device.id: DeviceRunner(device, self._context)
            for device in _select(network, device_ids, shard)
        }
        self._samples: deque[tuple[float, int, int]] = deque()
        self._probe: LatencyProbe | None = None
        self._probe_started = False
        if latency_probe:
            self._probe = LatencyProbe(
                broker, self._context.endpoint, self._totals.measures.latency
            )
            runners = list(self._runners.values())
            topics = [
                [(b.topic, t.qos) for b, t in zip(r.builders, r.device.telemetry, strict=True)]
                for r in runners
            ]
            for position in watch_sample(self._probe, topics):
                runners[position].outgoing.probe = self._probe.sent

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop every device and end the event stream."""
        await self.stop()
        if self._probe is not None:
            await self._probe.stop()
        self._scheduler.clear()
        self._context.driver.close()
        self._bus.close()

    @property
    def network(self) -> Network:
        """The network profile this simulation runs."""
        return self._network

    def devices(self) -> Sequence[DeviceView]:
        """A snapshot of every device, in the network's order."""
        return [runner.view() for runner in self._runners.values()]

    def device(self, device_id: str) -> DeviceView:
        """A snapshot of one device; `KeyError` when the simulation has no such device."""
        return self._runner(device_id).view()

    def add(self, devices: Iterable[Device]) -> None:
        """Take devices added to the network since the simulation was built, to start them.

        They connect to the simulation's broker with its settings; ids it already has are left.
        """
        for device in devices:
            if device.id not in self._runners:
                self._runners[device.id] = DeviceRunner(device, self._context)

    async def start(self, device_ids: Iterable[str] | None = None) -> None:
        """Start devices (None: all), connecting them through the network's ramp.

        Returns once every device is on its way; watch `events()` or `summary()` to see them
        connect.

        Raises:
            TLSFailure: the network's CA, client certificate or key cannot be loaded.
        """
        context = self._context
        if self._network.broker.tls.enabled and context.tls is None:
            context.tls = await asyncio.get_running_loop().run_in_executor(
                None, tls_context, self._network.broker.tls, self._network.broker.host
            )
        try:
            context.addresses, context.resolve_error = await resolve(*context.endpoint), None
        except OSError as error:  # every device reports it, as it would have found it
            context.addresses, context.resolve_error = [], error
        if self._probe is not None and not self._probe_started:
            self._probe_started = True  # once: it watches every start and stop after this
            await self._probe.start(context.tls)
        self._totals.measures.started()
        for runner in self._chosen(device_ids):
            runner.start()

    async def stop(self, device_ids: Iterable[str] | None = None) -> None:
        """Stop devices (None: all): disconnect cleanly and stop their telemetry."""
        runners = self._chosen(device_ids)
        tasks = {task: r for r in runners if (task := r.cancel()) is not None}
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=STOP_GRACE)
        for task in late:
            tasks[task].cut()
        if late:
            await asyncio.wait(late, timeout=STOP_TIMEOUT - STOP_GRACE)

    async def drop(self, device_ids: Iterable[str]) -> None:
        """Cut devices off abruptly, without DISCONNECT (the broker publishes their wills)."""
        tasks = [task for r in self._chosen(device_ids) if (task := r.drop()) is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT)

    async def publish(
        self,
        device_id: str,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 0,
        retain: bool = False,
    ) -> None:
        """Publish a message by hand as `device_id` (QoS 1/2 wait in its outbox when offline).

        Raises:
            IotsimError: the topic or the QoS cannot be published to.
        """
        _check(validate_topic_name, topic, qos)
        data = payload.encode() if isinstance(payload, str) else payload
        self._runner(device_id).publish(topic, data, qos, retain, MessageKind.MANUAL)

    async def subscribe(self, device_id: str, topic_filter: str, *, qos: int = 1) -> None:
        """Subscribe a device to a topic filter now (and again after each new session)."""
        _check(validate_topic_filter, topic_filter, qos)
        await self._runner(device_id).subscribe(topic_filter, qos)

    async def unsubscribe(self, device_id: str, topic_filter: str) -> None:
        """Unsubscribe a device from a topic filter."""
        await self._runner(device_id).unsubscribe(topic_filter)

    def events(self) -> AsyncIterator[list[Event]]:
        """The event stream, in batches (about every 50 ms, or sooner when many are waiting).

        One consumer only. It is bounded: when the consumer falls behind, message events are
        left out (counted in `Summary.events_dropped`); status changes and errors are kept.
        The stream ends when the simulation is left (`async with`).
        """
        return self._bus.batches()

    def summary(self) -> Summary:
        """Counts for the whole simulation now."""
        totals = self._totals
        rate_in, rate_out = self._rates(totals.messages_in, totals.messages_out)
        statuses = totals.statuses
        return Summary(
            devices=len(self._runners),
            connected=statuses[DeviceStatus.CONNECTED],
            connecting=statuses[DeviceStatus.CONNECTING],
            reconnecting=statuses[DeviceStatus.RECONNECTING],
            stopped=statuses[DeviceStatus.STOPPED],
            errors=statuses[DeviceStatus.ERROR],
            failed=totals.failed,
            messages_in=totals.messages_in,
            messages_out=totals.messages_out,
            rate_in=rate_in,
            rate_out=rate_out,
            ledger=totals.ledger(),
            events_dropped=self._bus.dropped,
            error_samples=tuple(totals.error_samples),
            **self._measured(),
        )

    def _measured(self) -> dict[str, Any]:
        measures = self._totals.measures
        offline_devices, offline_seconds, outages = measures.outages()
        return {
            "recovered": measures.recovered,
            "started_at": measures.started_at,
            "connections": measures.connections,
            "first_connections": measures.first_connections,
            "last_first_connect_at": measures.last_first_connect_at,
            "connect_time": measures.connect_time.copy(),
            "latency": measures.latency.copy(),
            "probe": "" if self._probe is None else self._probe.describe(),
            "errors_by_kind": dict(measures.errors_by_kind),
            "offline_devices": offline_devices,
            "offline_seconds": offline_seconds,
            "outages": outages,
        }

    def take_errors(self) -> list[tuple[str, str]]:
        """(device id, message) of each error reported since the last call, oldest first."""
        return self._totals.measures.take_errors()

    def _rates(self, messages_in: int, messages_out: int) -> tuple[float, float]:
        now = time.monotonic()
        samples = self._samples
        samples.append((now, messages_in, messages_out))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW:
            samples.popleft()
        then, old_in, old_out = samples[0]
        elapsed = now - then
        if elapsed <= 0:
            return 0.0, 0.0
        return (messages_in - old_in) / elapsed, (messages_out - old_out) / elapsed

    def _runner(self, device_id: str) -> DeviceRunner:
        try:
            return self._runners[device_id]
        except KeyError:
            raise KeyError(f"no device {device_id!r} in network {self._network.name}") from None

    def _chosen(self, device_ids: Iterable[str] | None) -> list[DeviceRunner]:
        if device_ids is None:
            return list(self._runners.values())
        return [self._runner(device_id) for device_id in device_ids]


def _select(
    network: Network,
    device_ids: Collection[str] | None,
    shard: tuple[int, int] | None,
) -> list[Device]:
    # Shards are taken by position in the whole network, so that every process or host
    # agrees on who runs which device whatever else it was asked.
    if shard is not None:
        index, count = shard
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"shard {index} of {count} does not exist")
        if device_ids is None:
            return list(devices_of(network, shard))  # the shard's devices only are made
    devices: Sequence[Device] = devices_of(network)
    if device_ids is not None:
        known = {device.id for device in devices}
        missing = [device_id for device_id in device_ids if device_id not in known]
        if missing:
            raise KeyError(f"no device {', '.join(missing)} in this network")
    if shard is not None:
        index, count = shard
        devices = devices[index::count]
    if device_ids is None:
        return list(devices)
    wanted = set(device_ids)
    return [device for device in devices if device.id in wanted]


def _check(validate: object, topic: str, qos: int) -> None:
    try:
        assert callable(validate)
        validate(topic)
    except TopicError as error:
        raise IotsimError(f"{topic!r}: {error}", title="Invalid topic") from None
    if qos not in (0, 1, 2):
        raise IotsimError(f"QoS must be 0, 1 or 2, not {qos}", title="Invalid QoS")
