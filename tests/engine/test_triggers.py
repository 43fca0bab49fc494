"""When telemetry is published: on connect as well as on its interval."""

from __future__ import annotations

from iotsim_tui.engine import Simulation
from iotsim_tui.profiles.model import Device, GeneratorKind, Telemetry, ValueSpec
from tests.engine.helpers import network, observer, unique, wait_until


async def test_on_connect_publishes_at_once_and_again_after_a_reconnection(
    broker_port: int,
) -> None:
    base = unique()
    birth = Telemetry(
        f"{base}/{{id}}/birth",
        interval=3600.0,  # the interval alone would not publish within the test
        on_connect=True,
        fields={"n": ValueSpec(GeneratorKind.COUNTER)},
    )
    device = Device(name="Gateway", id="G1", telemetry=(birth,))
    async with (
        observer(broker_port, f"{base}/#") as seen,
        Simulation(network(broker_port, device)) as simulation,
    ):
        await simulation.start()
        await wait_until(lambda: seen.on(f"{base}/G1/birth"), "the birth message")
        await simulation.stop()
        await simulation.start()
        await wait_until(lambda: len(seen.on(f"{base}/G1/birth")) == 2, "a second birth")
    assert seen.json_on(f"{base}/G1/birth") == [{"n": 0}, {"n": 1}]
