"""The lab checklist (`k`): the profile's checks, ticked live as the lab is done by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from iotsim_tui.engine.events import DeviceStatus
from iotsim_tui.lab.checks import Mark
from iotsim_tui.profiles.lab_model import Check, CheckKind, Lab
from iotsim_tui.profiles.model import BrokerSettings, Device, Network, Subscription
from iotsim_tui.tui.screens.console import BrokerConsoleScreen
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.widgets.checklist import Checklist, checklist_text
from tests.support.bundled import skip_without_broker
from tests.support.ports import free_port
from tests.tui.pilot import app_on, fill, type_text, wait_for, wait_subscribed

ALERT = "Alert for High Temperature"


def lab_network() -> Network:
    command = (Subscription("High_Tempe", qos=1),)
    checks = (
        # TS2 is not the selected device: its messages reach the checklist all the same.
        Check(CheckKind.RECEIVED, device="TS2", topic="High_Tempe", payload=ALERT),
        Check(CheckKind.CLEAR_ON_WIRE, payload=ALERT, name="the alert readable on the wire"),
        Check(CheckKind.TLS, device="TS1"),
    )
    return Network(
        "LAB",
        broker=BrokerSettings(port=free_port()),
        devices=(
            Device("Temperature_Sensor", "TS1", subscribe=command),
            Device("Humidity_Sensor", "TS2", subscribe=command),
        ),
        lab=Lab(checks=checks),
    )


@pytest.mark.slow
async def test_the_checklist_ticks_each_check_as_it_passes(tmp_path: Path) -> None:
    skip_without_broker()
    app = app_on(tmp_path, lab_network())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        screen = app.screen
        checklist = screen.query_one(Checklist)
        assert not checklist.display
        await pilot.press("g")
        await wait_for(pilot, lambda: checklist.display, "the checklist shown")
        opened = app.session.networks[0]
        assert [v.mark for v in opened.checklist()] == [Mark.OPEN] * 3
        text = str(checklist.render())
        assert text.startswith(f'○ TS2 received "{ALERT}" on High_Tempe  nothing arrived')
        assert checklist.border_subtitle == "0 of 3 passed"

        await pilot.press("S")
        await wait_for(
            pilot,
            lambda: all(r.status is DeviceStatus.CONNECTED for r in opened.records.values()),
            "both devices connected",
        )
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, BrokerConsoleScreen), "the console")
        console = app.screen
        assert isinstance(console, BrokerConsoleScreen)
        await wait_subscribed(pilot, console, "TS2")
        await fill(pilot, "#command-topic", "High_Tempe")
        await pilot.press("enter")
        await type_text(pilot, ALERT)
        await pilot.press("enter")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "back on the main screen")
        await wait_for(
            pilot, lambda: checklist.border_subtitle == "2 of 3 passed", "two checks ticked"
        )
        lines = str(checklist.render()).splitlines()
        assert lines[0] == f'✔ TS2 received "{ALERT}" on High_Tempe  it arrived in TS2\'s log'
        assert lines[1].startswith("✔ the alert readable on the wire  the eavesdrop relay read it")
        assert lines[2] == "○ TS1 connected over TLS  TS1 has not connected over TLS"

        await pilot.press("g")
        await wait_for(pilot, lambda: not checklist.display, "the checklist hidden")


def test_a_network_without_checks_says_where_they_would_come_from() -> None:
    text = checklist_text([])
    assert (
        str(text) == "This network's profile has no lab checks (a [lab] table: see docs/labs.md)."
    )
