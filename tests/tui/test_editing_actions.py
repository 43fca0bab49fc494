"""Editing from the main screen by keyboard: telemetry, subscriptions and templates."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import Input

from iotsim_tui.engine.events import DeviceStatus, LogLine
from iotsim_tui.profiles.model import (
    BrokerSettings,
    Device,
    GeneratorKind,
    Network,
    Subscription,
    Telemetry,
    ValueSpec,
)
from iotsim_tui.tui.app import IotsimApp
from iotsim_tui.tui.screens.confirm import ConfirmScreen
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.screens.subscribe import SubscribeScreen
from iotsim_tui.tui.screens.telemetry import TelemetryScreen
from iotsim_tui.tui.screens.telemetry_list import TelemetryListScreen
from iotsim_tui.tui.session import OpenNetwork
from tests.support.bundled import skip_without_broker
from tests.support.ports import free_port
from tests.tui.dialog_harness import paste, screen_text, type_into
from tests.tui.pilot import app_on, wait_for


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
        await pilot.pause()
        await pilot.click("#submit")
        await wait_for(
            pilot,
            lambda: "subscribed to wards/Sensor/+ (QoS 2)" in _log_lines(opened, "TS1"),
            "the subscription made at once",
        )
        assert "TS1 subscribes to wards/Sensor/+ now, and on every start." in _messages(app)
        assert opened.network.devices[0].subscribe == (
            Subscription("alerts/{id}", 1),
            Subscription("wards/{name}/+", 2),
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
