"""Two clients with one client id on one broker: the device log says why, and nothing else does."""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

import aiomqtt
import pytest
from paho.mqtt.client import Client as PahoClient
from paho.mqtt.client import MQTTv5, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion

from iotsim_tui.engine import DeviceError, Simulation
from iotsim_tui.engine.failures import QUICK_LOSS_SECONDS, TAKEN_OVER, QuickLosses
from iotsim_tui.profiles.model import Device, MQTTVersion, Subscription
from tests.engine.helpers import WAIT, EventLog, network, wait_until


def test_quick_losses_in_a_row_point_at_a_second_client() -> None:
    losses = QuickLosses()
    quick = QUICK_LOSS_SECONDS / 5
    assert losses.why("the connection was lost", quick) == "the connection was lost"
    assert losses.why("the connection was lost", quick) == "the connection was lost"
    assert losses.why("the connection was lost", quick) == TAKEN_OVER
    assert losses.why("the connection was lost", QUICK_LOSS_SECONDS * 4) == (
        "the connection was lost"
    )
    assert losses.why("the connection was lost", quick) == "the connection was lost"


@pytest.mark.slow
async def test_a_client_id_used_twice_is_named_in_the_device_log(broker_port: int) -> None:
    profile = network(broker_port, Device("Temperature_Sensor", "TS1"))
    async with Simulation(profile) as first, Simulation(profile) as second:
        logs = EventLog(first), EventLog(second)
        await first.start()
        await second.start()

        def said() -> bool:
            return any(e.message == TAKEN_OVER for log in logs for e in log.of(DeviceError))

        # Each connection lasts one reconnect delay (under 1.5 s) of the other client.
        await wait_until(said, "the device log to name a second client with the same id", 45)
        assert "another client with the same client id is connecting to this broker" in TAKEN_OVER


@pytest.mark.parametrize("protocol", [MQTTVersion.V5, MQTTVersion.V311])
async def test_a_session_taken_over_as_it_is_accepted_leaves_no_unretrieved_error(
    broker_port: int,
    protocol: MQTTVersion,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another client takes the device's client id over at the moment the broker accepts the
    # device: its CONNACK and the broker's DISCONNECT (or, in 3.1.1, the closed socket) both
    # wait in the device's socket, as when two runs of one profile share a broker.
    device = Device("Sensor", "TS1", subscribe=(Subscription("cmd/TS1", qos=1),))
    profile = network(broker_port, device, protocol=protocol)
    intruder = PahoClient(
        CallbackAPIVersion.VERSION2,
        client_id="TS1",
        protocol=MQTTv5 if protocol is MQTTVersion.V5 else MQTTv311,
    )
    accepted = aiomqtt.Client._on_connect
    taken_over = False

    def take_over_on_connack(client: aiomqtt.Client, *args: Any) -> None:
        nonlocal taken_over
        accepted(client, *args)
        if taken_over or client.identifier != "TS1":
            return
        taken_over = True
        # Blocking, on the device's loop: the device reads nothing until the broker has
        # accepted the intruder and told the device.
        intruder.connect("127.0.0.1", broker_port)
        deadline = time.monotonic() + WAIT
        while not intruder.is_connected() and time.monotonic() < deadline:
            intruder.loop(0.05)
        assert intruder.is_connected(), "the intruder was not accepted"
        time.sleep(0.2)  # the broker's word to the device reaches its socket

    monkeypatch.setattr(aiomqtt.Client, "_on_connect", take_over_on_connack)
    caplog.set_level(logging.ERROR, logger="asyncio")
    try:
        async with Simulation(profile) as simulation:
            log = EventLog(simulation)
            await simulation.start()
            await wait_until(lambda: taken_over, "the intruder to take the client id over")

            await wait_until(lambda: bool(log.of(DeviceError)), "the device to report the loss")
        await log.finish()
    finally:
        intruder.disconnect()  # sent and closed in the next loop, if the device has not already
        intruder.loop(0.05)
    gc.collect()
    never_retrieved = [r for r in caplog.records if "never retrieved" in r.getMessage()]
    assert never_retrieved == []
    # Told as the lost connection it was (the broker's reason, if it sent one, may be lost
    # with the socket), not as a failed subscription.
    assert [e.message for e in log.of(DeviceError) if "subscrib" in e.message] == []
