"""Editing from the main screen by keyboard: telemetry, subscriptions and templates."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from iotsim_tui.engine.events import DeviceStatus, LogLine
from iotsim_tui.profiles.expand import devices_of
from iotsim_tui.profiles.load import load_network
from iotsim_tui.profiles.model import (
    BrokerSettings,
    Device,
    DeviceTemplate,
    GeneratorKind,
    Network,
    SubscribeOn,
    Subscription,
    Telemetry,
    ValueSpec,
)
from iotsim_tui.tui.app import IotsimApp
from iotsim_tui.tui.screens.confirm import ChoiceScreen, ConfirmScreen
from iotsim_tui.tui.screens.device_form import DeviceScreen
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.screens.subscribe import SubscribeScreen
from iotsim_tui.tui.screens.telemetry import TelemetryScreen
from iotsim_tui.tui.screens.telemetry_list import TelemetryListScreen
from iotsim_tui.tui.screens.template_form import TemplateScreen
from iotsim_tui.tui.session import OpenNetwork
from iotsim_tui.tui.widgets.network_tree import Place
from tests.support.bundled import skip_without_broker
from tests.support.ports import free_port
from tests.tui.dialog_harness import error_under, paste, screen_text, type_into
from tests.tui.pilot import app_on, settle, wait_for


def _messages(app: IotsimApp) -> list[str]:
    return [n.message for n in app._notifications]


def _main(app: IotsimApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen), screen
    return screen


def _log_lines(opened: OpenNetwork, device_id: str) -> list[str]:
    return [e.text for e in opened.records[device_id].log if isinstance(e, LogLine)]


@pytest.mark.slow
async def test_a_subscription_is_saved_and_made_at_once_when_the_device_runs(
    tmp_path: Path,
) -> None:
    skip_without_broker()
    network = Network(
        "SUBS", broker=BrokerSettings(port=free_port()), devices=(Device("Sensor", "TS1"),)
    )
    app = app_on(tmp_path, network)
    async with app.run_test(size=(120, 40)) as pilot:
        opened = app.session.networks[0]
        await wait_for(pilot, lambda: _main(app).device_id == "TS1", "TS1 selected")
        # Stopped: saved, and said to come on start.
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, SubscribeScreen), "the dialog")
        await paste(pilot, "alerts/{id}")
        await pilot.press("enter")
        await wait_for(pilot, lambda: _messages(app), "the notification")
        assert _messages(app) == [
            "TS1 will subscribe to alerts/{id} when it starts (saved in the profile)."
        ]
        assert opened.network.devices[0].subscribe == (Subscription("alerts/{id}", 1),)
        assert opened.dirty
        await pilot.press("s")
        await wait_for(
            pilot,
            lambda: "subscribed to alerts/TS1 (QoS 1)" in _log_lines(opened, "TS1"),
            "the subscription made on start, with the id filled in",
        )
        # Running: subscribed now, and saved for the next starts.
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, SubscribeScreen), "the dialog")
        await paste(pilot, "wards/{name}/+")
        await pilot.press("tab", "enter", "down", "enter")
        await settle(pilot)
        await pilot.click("#submit")
        said = "TS1 subscribes to wards/Sensor/+ now, and on every start."
        await wait_for(pilot, lambda: said in _messages(app), "the notification")
        await wait_for(
            pilot,
            lambda: "subscribed to wards/Sensor/+ (QoS 2)" in _log_lines(opened, "TS1"),
            "the subscription made at once",
        )
        assert opened.network.devices[0].subscribe == (
            Subscription("alerts/{id}", 1),
            Subscription("wards/{name}/+", 2),
        )
        # "Now only": subscribed at once, kept as on = manual, not made on later starts.
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, SubscribeScreen), "the dialog")
        await paste(pilot, "ops/{id}")
        await pilot.press("tab", "tab", "enter", "down", "enter")
        await settle(pilot)
        await pilot.click("#submit")
        said = (
            "TS1 subscribes to ops/TS1 now only (kept in the profile as on = manual: not on "
            "later starts)."
        )
        await wait_for(pilot, lambda: said in _messages(app), "the notification")
        await wait_for(
            pilot,
            lambda: "subscribed to ops/TS1 (QoS 1)" in _log_lines(opened, "TS1"),
            "the subscription made at once",
        )
        assert opened.network.devices[0].subscribe[-1] == Subscription(
            "ops/{id}", 1, on=SubscribeOn.MANUAL
        )
        await pilot.press("s")
        await wait_for(
            pilot, lambda: opened.records["TS1"].status is DeviceStatus.STOPPED, "TS1 stopped"
        )


HEART = Device(
    "Heart_Rate_Monitor",
    "HRM1",
    telemetry=(
        Telemetry(
            "ward/{id}/pulse",
            interval=2.0,
            fields={"bpm": ValueSpec(GeneratorKind.INT, min=50, max=120)},
        ),
        Telemetry("ward/{id}/battery", interval=60.0),
    ),
)


async def test_t_picks_which_telemetry_to_edit_adds_one_and_deletes_one(tmp_path: Path) -> None:
    app = app_on(tmp_path, Network("WARD", devices=(HEART,)), start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        opened = app.session.networks[0]
        await wait_for(pilot, lambda: _main(app).device_id == "HRM1", "HRM1 selected")
        # Edit the second one: the first stays as it was.
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TelemetryListScreen), "the list")
        text = screen_text(app)
        assert "ward/{id}/pulse  every 2 s, QoS 0, 1 value" in text
        assert "ward/{id}/battery  every 60 s, QoS 0, 0 values" in text
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TelemetryScreen), "the form")
        assert app.screen.query_one("#topic", Input).value == "ward/{id}/battery"
        await type_into(pilot, "#interval", "30")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the form closed")
        device = opened.network.devices[0]
        assert device.telemetry == (HEART.telemetry[0], replace(HEART.telemetry[1], interval=30.0))
        # Add a third one from the list's last line.
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TelemetryListScreen), "the list")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, TelemetryScreen), "an empty form")
        await type_into(pilot, "#topic", "ward/{id}/spo2")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(opened.network.devices[0].telemetry) == 3, "added")
        assert opened.network.devices[0].telemetry[2].topic == "ward/{id}/spo2"
        # Delete the first, after a confirmation; "no" keeps it.
        for answer in ("n", "y"):
            await pilot.press("t")
            await wait_for(pilot, lambda: isinstance(app.screen, TelemetryListScreen), "list")
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
            assert "Delete the telemetry ward/{id}/pulse of HRM1?" in screen_text(app)
            await pilot.press(answer)
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "main screen")
        topics = [t.topic for t in opened.network.devices[0].telemetry]
        assert topics == ["ward/{id}/battery", "ward/{id}/spo2"]
        assert "HRM1 no longer publishes ward/{id}/pulse" in _messages(app)


async def test_t_on_a_device_without_telemetry_opens_the_form_to_add_one(tmp_path: Path) -> None:
    app = app_on(tmp_path, Network("WARD", devices=(Device("Scale", "SC1"),)), start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: _main(app).device_id == "SC1", "SC1 selected")
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TelemetryScreen), "the form")
        assert "Add a telemetry topic to SC1" in screen_text(app)


FLEET = Network(
    "FLEET",
    devices=(Device("Gateway", "GW1"),),
    templates=(
        DeviceTemplate(
            "Temperature Sensor {n}",
            "TS{n}",
            count=5,
            telemetry=(Telemetry("fleet/{id}/temperature", interval=5.0),),
        ),
    ),
)


async def _select(app: IotsimApp, pilot: Pilot[int], device_id: str) -> OpenNetwork:
    opened = app.session.networks[0]
    _main(app).show_place(Place(opened.key, device_id))
    await wait_for(pilot, lambda: _main(app).device_id == device_id, f"{device_id} selected")
    return opened


async def _choose(app: IotsimApp, pilot: Pilot[int], key: str, answer: str) -> str:
    """Press `key` on the main screen, read the question, pick `answer` by its button."""
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen), "the question")
    question = str(app.screen.query_one("#question", Static).content)
    await pilot.click(f"#choice-{answer}")
    await wait_for(pilot, lambda: not isinstance(app.screen, ChoiceScreen), "the answer")
    return question


async def test_editing_a_template_changes_every_device_it_makes(tmp_path: Path) -> None:
    app = app_on(tmp_path, FLEET, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        opened = await _select(app, pilot, "TS3")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen), "the question")
        question = str(app.screen.query_one("#question", Static).content)
        assert question.startswith(
            "TS3 is one of 5 devices made from the template TS{n} (TS1 to TS5). Change the "
            "template, and with it every device it makes, or TS3 alone?"
        ), question
        await pilot.press("enter")  # the usual answer, first: the template
        await wait_for(pilot, lambda: isinstance(app.screen, TemplateScreen), "the form")
        assert "This template makes 5 devices (TS1 to TS5). Every one of them changes" in (
            screen_text(app)
        )
        await type_into(pilot, "#id", "Sensor")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: error_under(app, "id") == "must contain {n} when count is more than 1",
            "the error under the id",
        )
        await type_into(pilot, "#id", "TH{n}")
        await type_into(pilot, "#count", "8")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the form closed")
        assert opened.network.templates == (replace(FLEET.templates[0], id="TH{n}", count=8),)
        assert list(opened.records) == ["GW1", *(f"TH{n}" for n in range(1, 9))]
        assert "Template TH{n} changed: 8 devices made from it" in _messages(app)


async def test_one_device_of_a_template_becomes_a_device_of_its_own(tmp_path: Path) -> None:
    app = app_on(tmp_path, FLEET, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        opened = await _select(app, pilot, "TS3")
        await _choose(app, pilot, "e", "alone")
        await wait_for(pilot, lambda: isinstance(app.screen, DeviceScreen), "the device form")
        assert "TS3 leaves the template TS{n} and is listed as a device of its own" in (
            screen_text(app)
        )
        await type_into(pilot, "#description", "By the door")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the form closed")
        network = opened.network
        template = FLEET.templates[0]
        assert network.templates == (
            replace(template, count=2),
            replace(template, first=4, count=2),
        )
        alone = network.devices[-1]
        assert (alone.id, alone.name, alone.description) == (
            "TS3",
            "Temperature Sensor 3",
            "By the door",
        )
        assert alone.telemetry == (Telemetry("fleet/{id}/temperature", interval=5.0),)
        assert sorted(opened.records) == sorted(["GW1", *(f"TS{n}" for n in range(1, 6))])
        # The others are unchanged, and the split profile opens again as it was saved.
        assert [d for d in devices_of(network) if d.id != "TS3"] == [
            d for d in devices_of(FLEET) if d.id != "TS3"
        ]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not opened.dirty, "saved")
        assert opened.path is not None
        assert load_network(opened.path) == network


async def test_telemetry_of_a_template_and_deleting_its_devices(tmp_path: Path) -> None:
    app = app_on(tmp_path, FLEET, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        opened = await _select(app, pilot, "TS2")
        await _choose(app, pilot, "t", "template")
        await wait_for(pilot, lambda: isinstance(app.screen, TelemetryListScreen), "the list")
        assert "The template TS{n} (5 devices) publishes 1 topic." in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TelemetryScreen), "the form")
        await type_into(pilot, "#interval", "60")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the form closed")
        assert opened.network.templates[0].telemetry[0].interval == 60.0
        assert {
            r.device.telemetry[0].interval for r in opened.records.values() if r.device.telemetry
        } == {60.0}

        await _select(app, pilot, "TS5")
        question = await _choose(app, pilot, "d", "one")
        assert "Delete it alone, or the template with every device it makes?" in question
        await wait_for(pilot, lambda: "TS5" not in opened.records, "TS5 deleted")
        assert opened.network.templates[0].count == 4
        await _select(app, pilot, "TS1")
        await _choose(app, pilot, "d", "all")
        await wait_for(pilot, lambda: list(opened.records) == ["GW1"], "the template deleted")
        assert opened.network.templates == ()


@pytest.mark.slow
async def test_subscribing_a_template_subscribes_each_running_device_it_makes(
    tmp_path: Path,
) -> None:
    skip_without_broker()
    template = DeviceTemplate("Sensor {n}", "TS{n}", count=3)
    network = Network("SUBT", broker=BrokerSettings(port=free_port()), templates=(template,))
    app = app_on(tmp_path, network)
    async with app.run_test(size=(120, 40)) as pilot:
        opened = await _select(app, pilot, "TS2")
        await pilot.press("S")
        await wait_for(
            pilot,
            lambda: all(r.status is DeviceStatus.CONNECTED for r in opened.records.values()),
            "every device connected",
        )
        await _choose(app, pilot, "u", "template")
        await wait_for(pilot, lambda: isinstance(app.screen, SubscribeScreen), "the dialog")
        await paste(pilot, "fleet/{id}/n{n}")
        await pilot.press("enter")
        said = (
            "3 devices of the template TS{n} (3 devices) subscribe to fleet/{id}/n{n} now, "
            "and on every start."
        )
        await wait_for(pilot, lambda: said in _messages(app), "the notification")
        for n in (1, 2, 3):
            line = f"subscribed to fleet/TS{n}/n{n} (QoS 1)"
            # A running network's log is sent whole for the selected device.
            await _select(app, pilot, f"TS{n}")
            await wait_for(
                pilot,
                lambda n=n, line=line: line in _log_lines(opened, f"TS{n}"),  # type: ignore[misc]
                f"TS{n} subscribed",
            )
        assert opened.network.templates[0].subscribe == (Subscription("fleet/{id}/n{n}"),)
        await pilot.press("S")
        await wait_for(pilot, lambda: opened.engine is None, "the network stopped")
