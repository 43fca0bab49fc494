"""Two devices with one client id on one broker: the device log says why they keep dropping."""

from __future__ import annotations

import pytest

from iotsim_tui.engine import DeviceError, Simulation
from iotsim_tui.engine.failures import QUICK_LOSS_SECONDS, TAKEN_OVER, QuickLosses
from iotsim_tui.profiles.model import Device
from tests.engine.helpers import EventLog, network, wait_until


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
