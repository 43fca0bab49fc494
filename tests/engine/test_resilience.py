"""Reconnects after the broker dies, and a thousand devices started and stopped together."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from iotsim_tui.engine import DeviceError, DeviceStatus, Simulation, StatusChanged
from iotsim_tui.profiles.model import (
    Device,
    DeviceTemplate,
    GeneratorKind,
    Network,
    Ramp,
    Subscription,
    Telemetry,
    ValueSpec,
)
from tests.engine.helpers import EventLog, mosquitto_on, network, unique, wait_until
from tests.support.mosquitto import mosquitto_path, run_mosquitto
from tests.support.ports import free_port

pytestmark = pytest.mark.skipif(mosquitto_path() is None, reason="mosquitto is not installed")


@pytest.mark.slow
async def test_reconnect_after_the_broker_restarts_loses_no_qos1_message(tmp_path: Path) -> None:
    port = free_port()
    base = unique()
    device = Device(
        name="Sensor",
        id="S1",
        subscribe=(Subscription(f"{base}/cmd", qos=1),),
        telemetry=(
            Telemetry(
                f"{base}/t", interval=0.05, qos=1, fields={"n": ValueSpec(GeneratorKind.COUNTER)}
            ),
        ),
    )
    simulation = Simulation(network(port, device))
    log = EventLog(simulation)
    async with simulation:
        with mosquitto_on(port, tmp_path) as broker:
            await simulation.start()
            await wait_until(lambda: simulation.device("S1").messages_out >= 5, "telemetry")
            broker.kill()
        await wait_until(
            lambda: simulation.device("S1").status is DeviceStatus.RECONNECTING, "reconnecting"
        )
        # Telemetry pauses while offline; a message published by hand waits in the outbox.
        for n in range(5):
            await simulation.publish("S1", f"{base}/manual", f"offline {n}", qos=1)
        assert simulation.device("S1").ledger.queued >= 5
        with mosquitto_on(port, tmp_path):
            await wait_until(
                lambda: simulation.device("S1").status is DeviceStatus.CONNECTED, "reconnected"
            )
            await wait_until(lambda: simulation.device("S1").ledger.queued == 0, "the outbox")
            view = simulation.device("S1")
            assert view.subscriptions[0].since is not None  # subscribed again: a new session
            summary = simulation.summary()
            assert summary.ledger == view.ledger  # the running totals agree with the device
            assert (summary.messages_out, summary.failed) == (view.messages_out, 1)
    await log.finish()
    ledger = view.ledger
    assert ledger.balanced
    assert ledger.dropped == 0
    assert ledger.acknowledged == ledger.accepted
    errors = [event.message for event in log.of(DeviceError)]
    assert errors[0] == "the connection was lost"
    assert len(errors) <= 3, errors  # one per distinct failure, not one per attempt
    reconnecting = [e for e in log.of(StatusChanged) if e.status is DeviceStatus.RECONNECTING]
    assert any("next try in" in event.detail for event in reconnecting)
    assert len(reconnecting) < 20


@pytest.mark.slow
async def test_a_thousand_devices_connect_publish_and_stop_promptly(tmp_path: Path) -> None:
    base = unique()
    fleet = DeviceTemplate(
        name="Sensor {n}",
        id="S{n}",
        count=1000,
        subscribe=(Subscription(f"{base}/{{id}}/cmd", qos=1),),
        telemetry=(
            Telemetry(
                f"{base}/{{id}}/t",
                interval=1.0,
                fields={"t": ValueSpec(GeneratorKind.FLOAT, min=10, max=30)},
            ),
        ),
    )
    with run_mosquitto(tmp_path) as broker:
        settings = network(broker.port).broker
        simulation = Simulation(
            Network(name="FLEET", broker=settings, templates=(fleet,), ramp=Ramp(2000.0, 200)),
            record_events=False,
        )
        async with simulation:
            await simulation.start()
            await wait_until(lambda: simulation.summary().connected == 1000, "1,000 devices", 90)
            await wait_until(lambda: simulation.summary().messages_out >= 2000, "telemetry", 30)
            began = time.monotonic()
            await simulation.stop()
            took = time.monotonic() - began
            summary = simulation.summary()
    assert summary.stopped == 1000
    assert summary.failed == 0
    assert summary.ledger.balanced
    assert took < 5.0, f"stopping 1,000 devices took {took:.2f} s"
