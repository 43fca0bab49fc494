"""Regressions: wills per device, commands on shared subscriptions, payloads of the wrong type."""

from __future__ import annotations

import pytest

from iotsim_tui.engine import LogLine, Simulation
from iotsim_tui.profiles.model import Command, Device, MQTTVersion, Response, Will
from tests.engine.helpers import EventLog, network, observer, unique, wait_until


async def test_each_device_s_will_lands_on_its_own_topic(broker_port: int) -> None:
    base = unique()
    will = Will(f"{base}/{{id}}/status", "{name} offline", qos=1, retain=True)
    devices = [Device(name=f"Pump {n}", id=f"P{n}", will=will) for n in (1, 2)]
    async with (
        observer(broker_port, f"{base}/#") as seen,
        Simulation(network(broker_port, *devices)) as simulation,
    ):
        await simulation.start()
        await wait_until(lambda: simulation.summary().connected == 2, "the connections")
        await simulation.drop(["P1", "P2"])
        await wait_until(lambda: len(seen.messages) >= 2, "both wills")
        got = sorted((m.topic.value, bytes(m.payload)) for m in seen.messages)  # type: ignore[arg-type]
        assert got == [
            (f"{base}/P1/status", b"Pump 1 offline"),
            (f"{base}/P2/status", b"Pump 2 offline"),
        ]
        for n in (1, 2):  # clean up the retained wills
            await seen.client.publish(f"{base}/P{n}/status", b"", qos=1, retain=True)


@pytest.mark.parametrize("protocol", [MQTTVersion.V5, MQTTVersion.V311])
async def test_a_command_on_a_shared_subscription_reacts(
    broker_port: int, protocol: MQTTVersion
) -> None:
    base = unique()
    device = Device(
        name="Worker",
        id="W1",
        commands=(
            Command(
                f"$share/workers/{base}/jobs/#",
                response=Response(f"{base}/done/{{id}}", "did {payload} from {topic}", qos=1),
            ),
        ),
    )
    settings = {"protocol": protocol}
    async with (
        observer(broker_port, f"{base}/done/#") as seen,
        Simulation(network(broker_port, device, **settings)) as simulation,
    ):
        log = EventLog(simulation)
        await simulation.start()
        await wait_until(
            lambda: any(s.since for s in simulation.device("W1").subscriptions), "the subscription"
        )
        await seen.client.publish(f"{base}/jobs/7", b"job 7", qos=1)
        await wait_until(lambda: seen.on(f"{base}/done/W1"), "the response")
        assert seen.on(f"{base}/done/W1")[0].payload == f"did job 7 from {base}/jobs/7".encode()
    await log.finish()
    assert f"command on {base}/jobs/7: responded on {base}/done/W1" in [
        e.text for e in log.of(LogLine)
    ]


async def test_a_payload_of_the_wrong_type_is_refused_with_a_log_line(broker_port: int) -> None:
    base = unique()
    device = Device(
        name="Infusion Pump",
        id="IP1",
        state={"rate": 25.0, "running": True},
        commands=(
            Command(f"{base}/rate", set={"rate": "{payload}"}),
            Command(f"{base}/stop", set={"running": False}),
        ),
    )
    async with Simulation(network(broker_port, device)) as simulation:
        log = EventLog(simulation)
        await simulation.start()
        await wait_until(
            lambda: all(s.since for s in simulation.device("IP1").subscriptions),
            "the subscriptions",
        )
        async with observer(broker_port) as sender:
            await sender.client.publish(f"{base}/rate", b"hi", qos=1)
            await sender.client.publish(f"{base}/stop", b"", qos=1)
            await sender.client.publish(f"{base}/rate", b"40", qos=1)
            await wait_until(lambda: simulation.device("IP1").state["rate"] == 40.0, "rate 40")
        assert simulation.device("IP1").state == {"rate": 40.0, "running": False}
    await log.finish()
    lines = [e.text for e in log.of(LogLine) if e.text.startswith("command")]
    assert lines == [
        f'command on {base}/rate: refused: rate takes a number, not "hi"',
        f"command on {base}/stop: set running=false",
        f"command on {base}/rate: set rate=40.0",
    ]


async def test_a_payload_that_matches_no_reaction_is_logged_as_such(broker_port: int) -> None:
    base = unique()
    device = Device(
        name="Lamp",
        id="L1",
        state={"on": False},
        commands=(
            Command(f"{base}/power", match="ON", set={"on": True}),
            Command(f"{base}/power", match="OFF", set={"on": False}),
        ),
    )
    async with Simulation(network(broker_port, device)) as simulation:
        log = EventLog(simulation)
        await simulation.start()
        await wait_until(
            lambda: all(s.since for s in simulation.device("L1").subscriptions), "subscribed"
        )
        async with observer(broker_port) as sender:
            await sender.client.publish(f"{base}/power", b"dim", qos=1)
            await sender.client.publish(f"{base}/power", b"on", qos=1)
            await wait_until(lambda: simulation.device("L1").state["on"] is True, "on")
    await log.finish()
    lines = [e.text for e in log.of(LogLine) if e.text.startswith("command")]
    assert lines == [
        f'command on {base}/power: the payload "dim" matches no reaction (expected "ON", "OFF")',
        f"command on {base}/power: set on=true",
    ]
