"""A running network: its devices, one telemetry scheduler, one connection ramp, one event stream.

```python
async with Simulation(network) as simulation:
    await simulation.start()
    async for batch in simulation.events():
        ...
```
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from types import TracebackType
from typing import Self

from iotsim_tui.engine.events import Event
from iotsim_tui.engine.views import DeviceView, Summary
from iotsim_tui.profiles.model import Network


class Simulation:
    """The simulated devices of one network, each a real MQTT client of its broker.

    Args:
        network: The network profile.
        endpoint: Where devices connect instead of the profile's host and port (the eavesdrop
            relay). TLS still checks the certificate against the profile's host.
        device_ids: Only these devices of the network (None: all of them).
        shard: `(index, count)`: only devices whose position in the network modulo `count` is
            `index` (0-based), so several processes or hosts can share a network.
    """

    def __init__(
        self,
        network: Network,
        *,
        endpoint: tuple[str, int] | None = None,
        device_ids: Collection[str] | None = None,
        shard: tuple[int, int] | None = None,
    ) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        raise NotImplementedError

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop every device."""
        raise NotImplementedError

    @property
    def network(self) -> Network:
        """The network profile this simulation runs."""
        raise NotImplementedError

    def devices(self) -> Sequence[DeviceView]:
        """A snapshot of every device, in the network's order."""
        raise NotImplementedError

    def device(self, device_id: str) -> DeviceView:
        """A snapshot of one device; `KeyError` when the simulation has no such device."""
        raise NotImplementedError

    async def start(self, device_ids: Iterable[str] | None = None) -> None:
        """Start devices (None: all), connecting them through the network's ramp.

        Returns once every device is on its way; watch `events()` or `summary()` to see them
        connect.
        """
        raise NotImplementedError

    async def stop(self, device_ids: Iterable[str] | None = None) -> None:
        """Stop devices (None: all): disconnect cleanly and stop their telemetry."""
        raise NotImplementedError

    async def drop(self, device_ids: Iterable[str]) -> None:
        """Cut devices off abruptly, without DISCONNECT (the broker publishes their wills)."""
        raise NotImplementedError

    async def publish(
        self,
        device_id: str,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 0,
        retain: bool = False,
    ) -> None:
        """Publish a message by hand as `device_id` (QoS 1/2 wait in its outbox when offline)."""
        raise NotImplementedError

    async def subscribe(self, device_id: str, topic_filter: str, *, qos: int = 1) -> None:
        """Subscribe a device to a topic filter now (and again after each new session)."""
        raise NotImplementedError

    async def unsubscribe(self, device_id: str, topic_filter: str) -> None:
        """Unsubscribe a device from a topic filter."""
        raise NotImplementedError

    def events(self) -> AsyncIterator[list[Event]]:
        """The event stream, in batches (about every 50 ms, or sooner when many are waiting).

        One consumer only. It is bounded: when the consumer falls behind, message events are
        left out (counted in `Summary.events_dropped`); status changes and errors are kept.
        """
        raise NotImplementedError

    def summary(self) -> Summary:
        """Counts for the whole simulation now."""
        raise NotImplementedError
