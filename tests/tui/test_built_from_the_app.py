"""A network built in the app from nothing (a template, a command with a reaction, a will),
saved, and accepted by `iotsim-tui validate` run as a user runs it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

from iotsim_tui.engine.generators import device_topic
from iotsim_tui.profiles.expand import devices_of
from iotsim_tui.profiles.load import load_network
from iotsim_tui.profiles.model import (
    BrokerSettings,
    Command,
    MessageProperties,
    MQTTVersion,
    Network,
    Response,
    TelemetryAction,
    Will,
)
from iotsim_tui.tui.app import IotsimApp
from iotsim_tui.tui.screens.command_form import CommandScreen
from iotsim_tui.tui.screens.confirm import ChoiceScreen
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.screens.template_form import TemplateScreen
from iotsim_tui.tui.screens.will_form import WillScreen
from tests.tui.dialog_harness import error_under, type_into
from tests.tui.pilot import app_on, settle, wait_for
from tests.tui.test_commands_and_wills import _validate


def _main(app: IotsimApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen), screen
    return screen


async def _the_template(app: IotsimApp, pilot: Pilot[int]) -> None:
    """Answer "the template" to the question a device made by a template asks first."""
    await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen), "the question")
    assert "made from the template TS{n}" in str(app.screen.query_one("#question", Static).content)
    await pilot.click("#choice-template")
    await wait_for(pilot, lambda: not isinstance(app.screen, ChoiceScreen), "the answer")


async def test_a_template_a_command_and_a_will_from_an_empty_network_validate(
    tmp_path: Path,
) -> None:
    network = Network("FLEET", broker=BrokerSettings(port=1883, protocol=MQTTVersion.V5))
    app = app_on(tmp_path, network, start_broker=False)
    async with app.run_test(size=(120, 50)) as pilot:
        opened = app.session.networks[0]
        await wait_for(pilot, lambda: _main(app).network is opened, "FLEET selected")

        # A: a template of five temperature sensors, numbered from 10.
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, TemplateScreen), "the dialog")
        form = app.screen
        form.query_one("#kind", Select).value = "Temperature sensor"
        await wait_for(pilot, lambda: form.query_one("#id", Input).value == "TS{n}", "the kind")
        await type_into(pilot, "#state", "power=on level=")
        await type_into(pilot, "#count", "5")
        await type_into(pilot, "#first", "10")
        await type_into(pilot, "#id", "TS")  # five devices need {n} in the id
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TemplateScreen)
        assert "{n}" in error_under(app, "id")
        assert error_under(app, "state").startswith("write name=value pairs")
        await type_into(pilot, "#state", "power=on level=3")
        await type_into(pilot, "#id", "TS{n}")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the dialog closed")
        (template,) = opened.network.templates
        assert (template.id, template.count, template.first) == ("TS{n}", 5, 10)
        assert template.telemetry  # the kind's telemetry
        assert template.state == {"power": "on", "level": 3}
        await wait_for(pilot, lambda: _main(app).device_id == "TS10", "TS10 selected")

        # k on a device of the template: a command for all five, answered with properties.
        await pilot.press("k")
        await _the_template(app, pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, CommandScreen), "the dialog")
        await type_into(pilot, "#topic", "fleet/{id}/cmd/power")
        await type_into(pilot, "#match", "OFF")
        await type_into(pilot, "#set", "power=off")
        app.screen.query_one("#telemetry", Select).value = TelemetryAction.STOP.value
        await type_into(pilot, "#response-topic", "fleet/{id}/ack")
        await type_into(pilot, "#response-payload", "{id} stopped")
        await type_into(pilot, "#response-properties", "message_expiry=-5")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, CommandScreen)
        assert "message_expiry" in error_under(app, "response-properties")
        await type_into(
            pilot,
            "#response-properties",
            "content_type=text/plain user.unit={id} message_expiry=60",
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the dialog closed")

        # L: a will per device ({id} is each device's).
        await pilot.press("L")
        await _the_template(app, pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, WillScreen), "the will dialog")
        await type_into(pilot, "#topic", "fleet/{id}/status")
        await type_into(pilot, "#payload", "lost")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the dialog closed")

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not opened.dirty, "saved")

    saved = tmp_path / "profiles" / "fleet.toml"
    done = await asyncio.to_thread(_validate, saved)
    assert done.returncode == 0, done.stdout + done.stderr
    loaded = load_network(saved)
    (template,) = loaded.templates
    assert template.commands == (
        Command(
            "fleet/{id}/cmd/power",
            match="OFF",
            set={"power": "off"},
            telemetry=TelemetryAction.STOP,
            response=Response(
                "fleet/{id}/ack",
                "{id} stopped",
                properties=MessageProperties(
                    content_type="text/plain", message_expiry=60, user={"unit": "{id}"}
                ),
            ),
        ),
    )
    assert template.will == Will("fleet/{id}/status", "lost")
    devices = devices_of(loaded)
    assert [d.id for d in devices] == ["TS10", "TS11", "TS12", "TS13", "TS14"]
    will = devices[2].will
    assert will is not None
    assert device_topic(will.topic, devices[2]) == "fleet/TS12/status"
