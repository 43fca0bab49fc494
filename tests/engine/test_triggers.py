"""When telemetry is published: on connect as well as on its interval."""

from __future__ import annotations

from iotsim_tui.engine import Simulation
from iotsim_tui.profiles.model import Device, GeneratorKind, Telemetry, Trigger, ValueSpec
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


async def test_publish_when_a_field_changes_enough_or_crosses_a_value(broker_port: int) -> None:
    base = unique()
    steps = Telemetry(
        f"{base}/{{id}}/count",
        interval=0.02,
        jitter=0.0,
        fields={"n": ValueSpec(GeneratorKind.COUNTER)},
        publish_when=Trigger("n", change=3),
    )
    wave = Telemetry(
        f"{base}/{{id}}/level",
        interval=0.02,
        jitter=0.0,
        fields={"level": ValueSpec(GeneratorKind.CYCLE, values=(1, 3, 5, 3))},
        publish_when=Trigger("level", crosses=4),
    )
    device = Device(name="Tank", id="K1", telemetry=(steps, wave))
    async with (
        observer(broker_port, f"{base}/#") as seen,
        Simulation(network(broker_port, device)) as simulation,
    ):
        await simulation.start()
        await wait_until(lambda: len(seen.on(f"{base}/K1/count")) >= 4, "four counts")
        await wait_until(lambda: len(seen.on(f"{base}/K1/level")) >= 5, "five levels")
    assert [m["n"] for m in seen.json_on(f"{base}/K1/count")][:4] == [0, 3, 6, 9]
    # The first sample, then each crossing of 4: up to 5, down to 3.
    assert [m["level"] for m in seen.json_on(f"{base}/K1/level")][:5] == [1, 5, 3, 5, 3]
    # Samples held back are not in the ledger: only what was published.
    assert simulation.device("K1").ledger.accepted == simulation.device("K1").messages_out
