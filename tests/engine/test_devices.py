"""Devices against real brokers: commands, telemetry, QoS, retained messages, wills."""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import replace
from pathlib import Path

import pytest

from iotsim_tui.engine import DeviceStatus, LogLine, MessageIn, Simulation
from iotsim_tui.profiles.model import (
    Command,
    Device,
    GeneratorKind,
    MQTTVersion,
    Ramp,
    Response,
    Subscription,
    Telemetry,
    TelemetryAction,
    TelemetryFormat,
    ValueSpec,
    Will,
)
from tests.engine.helpers import EventLog, network, observer, unique, wait_until
from tests.support.mosquitto import mosquitto_path, run_mosquitto


async def test_command_response_and_state_change_reported_in_telemetry(broker_port: int) -> None:
    base = unique()
    device = Device(
        name="Thermostat",
        id="TS1",
        state={"setpoint": 20},
        telemetry=(
            Telemetry(
                f"{base}/{{id}}/t",
                interval=0.1,
                fields={"setpoint": ValueSpec(GeneratorKind.STATE, name="setpoint")},
            ),
        ),
        commands=(
            Command(
                f"{base}/{{id}}/setpoint",
                set={"setpoint": "{payload}"},
                response=Response(f"{base}/{{id}}/ack", "setpoint {payload} from {topic}", qos=1),
            ),
            Command(f"{base}/{{id}}/power", match="OFF", telemetry=TelemetryAction.STOP),
        ),
    )
    async with (
        observer(broker_port, f"{base}/#") as seen,
        Simulation(network(broker_port, device)) as simulation,
    ):
        log = EventLog(simulation)
        await simulation.start()
        await wait_until(lambda: len(seen.on(f"{base}/TS1/t")) >= 2, "telemetry")
        assert seen.json_on(f"{base}/TS1/t")[0] == {"setpoint": 20}

        await seen.client.publish(f"{base}/TS1/setpoint", b"25.5", qos=1)
        await wait_until(lambda: seen.on(f"{base}/TS1/ack"), "the command's response")
        ack = seen.on(f"{base}/TS1/ack")[0]
        assert ack.payload == f"setpoint 25.5 from {base}/TS1/setpoint".encode()
        assert ack.qos == 1
        await wait_until(
            lambda: {"setpoint": 25.5} in seen.json_on(f"{base}/TS1/t"), "the new setpoint"
        )
        assert simulation.device("TS1").state == {"setpoint": 25.5}

        await seen.client.publish(f"{base}/TS1/power", b" off ", qos=1)
        await wait_until(lambda: not simulation.device("TS1").telemetry_running, "power off")
        count = len(seen.on(f"{base}/TS1/t"))
        await seen.client.publish(f"{base}/TS1/setpoint", b"30", qos=1)
        await wait_until(lambda: len(seen.on(f"{base}/TS1/ack")) == 2, "a second response")
        assert len(seen.on(f"{base}/TS1/t")) <= count + 1  # at most one already on its way
    await log.finish()
    logs = [e.text for e in log.of(LogLine)]
    assert f"command on {base}/TS1/power: telemetry stopped" in logs


async def test_telemetry_values_follow_their_generators(broker_port: int) -> None:
    base = unique()
    fields = {
        "temperature": ValueSpec(GeneratorKind.WALK, min=15, max=35, step=0.5, round=1),
        "seq": ValueSpec(GeneratorKind.COUNTER, start=10, step=2),
        "mode": ValueSpec(GeneratorKind.CYCLE, values=("a", "b")),
        "device": {"id": ValueSpec(GeneratorKind.FIELD, name="id")},
        "at": ValueSpec(GeneratorKind.TIMESTAMP, format="epoch"),
    }
    device = Device(
        name="Sensor",
        id="S1",
        telemetry=(
            Telemetry(f"{base}/json", interval=0.05, qos=1, fields=fields),
            Telemetry(
                f"{base}/text",
                interval=0.05,
                format=TelemetryFormat.TEXT,
                template="{name} {seq}",
                fields={"seq": ValueSpec(GeneratorKind.COUNTER)},
            ),
        ),
    )
    async with (
        observer(broker_port, f"{base}/#") as seen,
        Simulation(network(broker_port, device)) as simulation,
    ):
        await simulation.start()
        await wait_until(lambda: len(seen.on(f"{base}/json")) >= 5, "five JSON payloads")
        await wait_until(lambda: len(seen.on(f"{base}/text")) >= 3, "three text payloads")
    payloads = seen.json_on(f"{base}/json")
    assert [p["seq"] for p in payloads[:5]] == [10, 12, 14, 16, 18]
    assert [p["mode"] for p in payloads[:4]] == ["a", "b", "a", "b"]
    assert all(p["device"] == {"id": "S1"} for p in payloads)
    temperatures = [p["temperature"] for p in payloads]
    assert all(15 <= t <= 35 for t in temperatures)
    assert all(abs(a - b) <= 0.5 + 1e-9 for a, b in itertools.pairwise(temperatures))
    assert all(isinstance(p["at"], int) for p in payloads)
    texts = [m.payload for m in seen.on(f"{base}/text")[:3]]
    assert texts == [b"Sensor 0", b"Sensor 1", b"Sensor 2"]


async def test_qos_1_and_2_are_delivered_and_acknowledged(broker_port: int) -> None:
    base = unique()
    device = Device(name="Pub", id="P1")
    async with (
        observer(broker_port, f"{base}/#") as seen,
        Simulation(network(broker_port, device)) as simulation,
    ):
        await simulation.start()
        await wait_until(lambda: simulation.summary().connected == 1, "the connection")
        for n in range(20):
            await simulation.publish("P1", f"{base}/q{1 + n % 2}", f"m{n}", qos=1 + n % 2)
        await wait_until(lambda: len(seen.messages) == 20, "twenty messages")
        await wait_until(lambda: simulation.device("P1").ledger.queued == 0, "acknowledgements")
        ledger = simulation.device("P1").ledger
    assert ledger.accepted == ledger.acknowledged == 20
    assert ledger.balanced
    assert {m.qos for m in seen.on(f"{base}/q1")} == {1}
    assert {m.qos for m in seen.on(f"{base}/q2")} == {2}
    assert [m.payload for m in seen.on(f"{base}/q2")] == [f"m{n}".encode() for n in range(1, 20, 2)]


async def test_retained_message_reaches_a_device_that_subscribes_later(broker_port: int) -> None:
    base = unique()
    publisher = Device(name="Pub", id="R1")
    listener = Device(name="Sub", id="R2", subscribe=(Subscription(f"{base}/#", qos=1),))
    async with Simulation(network(broker_port, publisher, listener)) as simulation:
        log = EventLog(simulation)
        await simulation.start(["R1"])
        await wait_until(lambda: simulation.device("R1").status is DeviceStatus.CONNECTED, "R1")
        await simulation.publish("R1", f"{base}/state", "on", qos=1, retain=True)
        await wait_until(lambda: simulation.device("R1").ledger.acknowledged == 1, "the PUBACK")
        await simulation.start(["R2"])
        await wait_until(lambda: log.of(MessageIn), "the retained message")
        message = log.of(MessageIn)[0]
        assert (message.device_id, message.topic, message.payload) == ("R2", f"{base}/state", b"on")
        assert message.retain
        assert not message.unsolicited
        subscription = simulation.device("R2").subscriptions[0]
        assert (subscription.count, subscription.last_payload) == (1, b"on")
        await simulation.publish("R1", f"{base}/state", "", qos=1, retain=True)  # clean up


async def test_the_will_is_published_when_a_device_drops_abruptly(broker_port: int) -> None:
    base = unique()
    device = Device(name="Doomed", id="W1", will=Will(f"{base}/will", "W1 gone", qos=1))
    async with (
        observer(broker_port, f"{base}/#") as seen,
        Simulation(network(broker_port, device)) as simulation,
    ):
        await simulation.start()
        await wait_until(lambda: simulation.summary().connected == 1, "the connection")
        await simulation.drop(["W1"])
        await wait_until(lambda: seen.on(f"{base}/will"), "the will")
        assert seen.on(f"{base}/will")[0].payload == b"W1 gone"
        view = simulation.device("W1")
        assert view.status is DeviceStatus.STOPPED
        assert view.status_detail == "dropped without DISCONNECT"

        # A clean stop sends DISCONNECT: no will.
        await simulation.start()
        await wait_until(lambda: simulation.summary().connected == 1, "the reconnection")
        await simulation.stop()
        await simulation.start()
        await wait_until(lambda: simulation.summary().connected == 1, "a third connection")
    assert len(seen.on(f"{base}/will")) == 1
    assert json.dumps  # keep the import honest for future payload checks


async def test_a_resumed_session_is_not_subscribed_again_and_strays_are_flagged(
    broker_port: int,
) -> None:
    base = unique()
    device = Device(name="Keeper", id=unique("K"), subscribe=(Subscription(f"{base}/x", qos=1),))
    persistent = network(
        broker_port, device, protocol=MQTTVersion.V5, clean_start=False, session_expiry=300
    )
    async with Simulation(persistent) as simulation:
        log = EventLog(simulation)
        await simulation.start()
        await wait_until(
            lambda: simulation.device(device.id).subscriptions[0].since is not None,
            "the first session's subscription",
        )
        await simulation.stop()
        async with observer(broker_port) as seen:
            await seen.client.publish(f"{base}/x", b"while away", qos=1)
        # Forgotten while offline: the broker's session still holds the subscription.
        await simulation.unsubscribe(device.id, f"{base}/x")
        await simulation.subscribe(device.id, f"{base}/y", qos=1)  # new: sent on resuming
        await simulation.start()
        await wait_until(lambda: log.of(MessageIn), "the message kept by the session")
        await wait_until(
            lambda: simulation.device(device.id).subscriptions[0].since is not None,
            "the new subscription",
        )
        assert simulation.device(device.id).status_detail.endswith("session resumed")
    await log.finish()
    message = log.of(MessageIn)[0]
    assert (message.payload, message.unsolicited) == (b"while away", True)
    subscribed = [e.text for e in log.of(LogLine) if e.text.startswith("subscribed to")]
    assert subscribed == [f"subscribed to {base}/x (QoS 1)", f"subscribed to {base}/y (QoS 1)"]


@pytest.mark.slow
async def test_a_run_as_long_as_the_interval_sees_every_device_publish(tmp_path: Path) -> None:
    # The ramp makes the last devices connect about a second after the start: their first
    # telemetry must still fall within the first interval counted from the start.
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    base = unique()
    telemetry = Telemetry(
        f"{base}/{{id}}", interval=2.0, fields={"n": ValueSpec(GeneratorKind.COUNTER)}
    )
    devices = [Device(name=f"D{i}", id=f"d{i}", telemetry=(telemetry,)) for i in range(20)]
    with run_mosquitto(tmp_path) as broker:
        paced = replace(network(broker.port, *devices), ramp=Ramp(rate=20.0, in_flight=5))
        async with Simulation(paced) as simulation:
            await simulation.start()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + telemetry.interval
            await wait_until(
                lambda: simulation.summary().connected == 20, "every device to connect"
            )
            assert loop.time() < deadline, "the machine is too slow for this test's timing"
            await asyncio.sleep(deadline - loop.time())  # the run's duration, as `--duration 2`
            silent = [d.id for d in simulation.devices() if d.messages_out == 0]
            assert not silent, f"no telemetry within the first interval from {silent}"


@pytest.mark.slow
async def test_qos0_messages_larger_than_the_socket_takes_arrive_whole_and_in_order(
    tmp_path: Path,
) -> None:
    # 8 MB does not fit in a loopback socket's buffer at once: the rest waits behind paho's
    # writer, and the small message after it must not overtake it.
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    base = unique()
    big = bytes(range(256)) * (8 * 4096)
    with run_mosquitto(tmp_path) as broker:
        async with (
            observer(broker.port, f"{base}/#") as seen,
            Simulation(network(broker.port, Device(name="D", id="d1"))) as simulation,
        ):
            await simulation.start()
            await wait_until(lambda: simulation.summary().connected == 1, "the device")
            await simulation.publish("d1", f"{base}/big", big)
            await simulation.publish("d1", f"{base}/big", big[::-1])
            await simulation.publish("d1", f"{base}/small", b"after")
            await wait_until(lambda: len(seen.messages) == 3, "three messages", within=60)
            assert [m.payload for m in seen.messages] == [big, big[::-1], b"after"]
            assert simulation.device("d1").status is DeviceStatus.CONNECTED
            assert simulation.device("d1").ledger.acknowledged == 3
