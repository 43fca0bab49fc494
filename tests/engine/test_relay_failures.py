"""A broker that cannot be reached is named as such when devices connect through the relay.

The eavesdrop relay accepts a device's connection before it reaches the broker, and closes it
when the broker cannot be reached: the device's log must still give the real cause.
"""

from __future__ import annotations

from dataclasses import replace

from iotsim_tui.engine import DeviceStatus, Simulation
from iotsim_tui.profiles.model import Device
from iotsim_tui.wiretap.relay import Eavesdrop
from tests.engine.helpers import network, wait_until
from tests.support.ports import free_port


async def _first_error(host: str, port: int) -> tuple[str, str]:
    """Run one device through a relay to `host:port`; its error and status detail."""
    net = network(port, Device(name="D", id="D1"))
    net = replace(net, broker=replace(net.broker, host=host))
    async with Eavesdrop.for_broker(net.broker) as tap:
        simulation = Simulation(net, endpoint=tap.endpoint)
        async with simulation:
            await simulation.start()
            await wait_until(
                lambda: (
                    simulation.device("D1").status
                    in (DeviceStatus.RECONNECTING, DeviceStatus.ERROR)
                ),
                "the device to give up or wait",
            )
            view = simulation.device("D1")
            await simulation.stop()
    assert view.last_error is not None
    return view.last_error, view.status_detail


async def test_a_broker_that_is_down_is_reported_as_refused_through_the_relay() -> None:
    port = free_port()  # nothing listens here
    message, detail = await _first_error("127.0.0.1", port)
    assert message == f"connection refused by 127.0.0.1:{port}: is the broker running?"
    assert detail.startswith(message + "; attempt 2, next try in ")
    assert "eavesdrop relay" not in message


async def test_an_unknown_host_is_reported_as_not_found_through_the_relay() -> None:
    message, detail = await _first_error("no-such-broker.invalid", free_port())
    assert message == "name not found: no-such-broker.invalid"
    assert detail == message  # fatal: the device stops trying
