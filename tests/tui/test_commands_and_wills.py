"""Commands and wills made from the app, saved as a profile that `validate` accepts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Select

from iotsim_tui.engine.events import DeviceStatus, LogLine
from iotsim_tui.profiles.load import load_network
from iotsim_tui.profiles.model import (
    BrokerSettings,
    Command,
    Device,
    Network,
    Response,
    Subscription,
    TelemetryAction,
    Will,
)
from iotsim_tui.tui.app import IotsimApp
from iotsim_tui.tui.screens.command_form import CommandScreen
from iotsim_tui.tui.screens.command_list import CommandListScreen
from iotsim_tui.tui.screens.confirm import ConfirmScreen
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.screens.will_form import WillScreen
from iotsim_tui.tui.session import OpenNetwork
from iotsim_tui.tui.widgets.subscriptions import SubscriptionsTable
from tests.support.bundled import skip_without_broker
from tests.support.ports import free_port
from tests.tui.dialog_harness import error_under, paste, type_into
from tests.tui.pilot import app_on, settle, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _main(app: IotsimApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen), screen
    return screen


async def test_a_command_with_a_reaction_and_a_will_are_made_and_saved(tmp_path: Path) -> None:
    pump = Device("Infusion Pump", "IP1", state={"rate": 25.0, "running": True})
    network = Network("WARD", broker=BrokerSettings(port=1883), devices=(pump,))
    app = app_on(tmp_path, network, start_broker=False)
    async with app.run_test(size=(120, 44)) as pilot:
        opened = app.session.networks[0]
        await wait_for(pilot, lambda: _main(app).device_id == "IP1", "IP1 selected")

        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandScreen), "the dialog")
        await paste(pilot, "hospital/{id}/cmd/rate")
        await type_into(pilot, "#set", "rate={payload} speed=3")
        await pilot.press("enter")
        await settle(pilot)
        assert error_under(app, "set") is not None  # speed is not a state value
        assert "speed" in (error_under(app, "set") or "")
        await type_into(pilot, "#set", "rate={payload} running=true")
        await type_into(pilot, "#response-topic", "hospital/{id}/ack")
        await type_into(pilot, "#response-payload", "rate set to {payload}")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the dialog closed")

        # With a command there, k lists them first; a (or the last line) adds one.
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandListScreen), "the list")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandScreen), "the dialog")
        await paste(pilot, "hospital/{id}/cmd/power")
        await type_into(pilot, "#match", "OFF")
        app.screen.query_one("#telemetry", Select).value = TelemetryAction.STOP.value
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the dialog closed")

        await pilot.press("L")
        await wait_for(pilot, lambda: isinstance(app.screen, WillScreen), "the will dialog")
        await type_into(pilot, "#topic", "hospital/{id}/status")
        await type_into(pilot, "#payload", "{name} offline")
        await type_into(pilot, "#delay", "30")  # WARD speaks MQTT 3.1.1: no will delay
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, WillScreen)
        assert error_under(app, "delay") == 'needs protocol = "5" (MQTT 3.1.1 has no will delay)'
        await type_into(pilot, "#delay", "0")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the dialog closed")

        device = opened.network.devices[0]
        assert device.commands == (
            Command(
                "hospital/{id}/cmd/rate",
                set={"rate": "{payload}", "running": True},
                response=Response("hospital/{id}/ack", "rate set to {payload}"),
            ),
            Command("hospital/{id}/cmd/power", match="OFF", telemetry=TelemetryAction.STOP),
        )
        assert device.will == Will("hospital/{id}/status", "{name} offline")
        await _change_and_delete_a_command(app, pilot, opened)
        device = opened.network.devices[0]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not opened.dirty, "saved")

        # An empty topic removes the will.
        await pilot.press("L")
        await wait_for(pilot, lambda: isinstance(app.screen, WillScreen), "the will dialog")
        await type_into(pilot, "#topic", "")
        await pilot.press("enter")
        await wait_for(pilot, lambda: opened.network.devices[0].will is None, "no will")
    saved = tmp_path / "profiles" / "ward.toml"
    assert load_network(saved).devices[0].commands == device.commands
    done = await asyncio.to_thread(_validate, saved)
    assert done.returncode == 0, done.stdout + done.stderr


async def _change_and_delete_a_command(
    app: IotsimApp, pilot: Pilot[int], opened: OpenNetwork
) -> None:
    """Change the first command's response from the list (k, Enter), then delete the second
    (k, down, d, y)."""
    await pilot.press("k")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandListScreen), "the list")
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandScreen), "the dialog")
    form = app.screen
    assert form.query_one("#topic", Input).value == "hospital/{id}/cmd/rate"
    assert form.query_one("#set", Input).value == "rate={payload} running=true"
    assert form.query_one("#response-payload", Input).value == "rate set to {payload}"
    # MQTT 5 properties on a 3.1.1 network are refused at once, as `validate` refuses them.
    await type_into(pilot, "#response-properties", "content_type=text/plain")
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(app.screen, CommandScreen)
    assert 'needs protocol = "5"' in error_under(app, "response-properties")
    await type_into(pilot, "#response-properties", "")
    form.query_one("#response-qos", Select).value = 1
    await type_into(pilot, "#response-payload", "rate is {payload}")
    await wait_for(pilot, lambda: form.query_one("#response-qos", Select).value == 1, "QoS 1")
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the dialog closed")
    first = opened.network.devices[0].commands[0]
    assert first.response == Response("hospital/{id}/ack", "rate is {payload}", qos=1)
    assert first.set == {"rate": "{payload}", "running": True}

    await pilot.press("k")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandListScreen), "the list")
    await pilot.press("down", "d")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
    await pilot.press("y")
    await wait_for(pilot, lambda: len(opened.network.devices[0].commands) == 1, "deleted")
    assert opened.network.devices[0].commands == (first,)


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    """`iotsim-tui validate PATH`, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "iotsim_tui", "validate", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_x_in_the_subscriptions_pane_unsubscribes_now_and_in_the_profile(
    tmp_path: Path,
) -> None:
    skip_without_broker()
    sensor = Device(
        "Sensor",
        "TS1",
        subscribe=(Subscription("alerts/{id}"), Subscription("ops/#")),
        commands=(Command("cmd/{id}", telemetry=TelemetryAction.STOP),),
    )
    network = Network("SUBS", broker=BrokerSettings(port=free_port()), devices=(sensor,))
    app = app_on(tmp_path, network)
    async with app.run_test(size=(150, 44)) as pilot:
        opened = app.session.networks[0]
        await wait_for(pilot, lambda: _main(app).device_id == "TS1", "TS1 selected")
        await pilot.press("s")
        await wait_for(
            pilot,
            lambda: "subscribed to alerts/TS1 (QoS 1)" in _log_lines(opened, "TS1"),
            "the subscriptions",
        )
        table = app.screen.query_one(SubscriptionsTable)
        table.focus()
        await wait_for(pilot, lambda: table.row_count == 3, "three rows")
        filters = [table.get_row_at(n)[0] for n in range(3)]
        table.move_cursor(row=filters.index("alerts/TS1"))
        await pilot.press("x")
        await wait_for(
            pilot,
            lambda: "unsubscribed from alerts/TS1" in _log_lines(opened, "TS1"),
            "the device unsubscribed",
        )
        assert opened.network.devices[0].subscribe == (Subscription("ops/#"),)
        assert "TS1 no longer subscribes to alerts/{id} (unsubscribed now)." in _messages(app)
        # The row went: find the others again where they are now.
        await wait_for(pilot, lambda: table.row_count == 2, "two rows")
        filters = [table.get_row_at(n)[0] for n in range(2)]
        table.move_cursor(row=filters.index("cmd/TS1"))
        await pilot.press("x")
        await wait_for(pilot, lambda: any("stays" in m for m in _messages(app)), "the refusal")
        assert opened.network.devices[0].commands == sensor.commands
        await pilot.press("s")
        await wait_for(
            pilot, lambda: opened.records["TS1"].status is DeviceStatus.STOPPED, "stopped"
        )


def _messages(app: IotsimApp) -> list[str]:
    return [n.message for n in app._notifications]


def _log_lines(opened: OpenNetwork, device_id: str) -> list[str]:
    return [e.text for e in opened.records[device_id].log if isinstance(e, LogLine)]
