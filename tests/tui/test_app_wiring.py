"""The app around the screens: key help, command palette, external brokers, broker crashes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import aiomqtt
import pytest
from textual.widgets import Static

from iotsim_tui.profiles.model import BrokerSettings, Device, Network, Subscription
from iotsim_tui.tui.screens.console import BrokerConsoleScreen
from iotsim_tui.tui.screens.help import HelpScreen
from iotsim_tui.tui.screens.main import MainScreen
from tests.support.mosquitto import RunningMosquitto
from tests.support.ports import free_port
from tests.tui.pilot import app_on, fill, type_text, wait_for

DEVICES = (Device("Temperature_Sensor", "TS1", subscribe=(Subscription("High_Tempe"),)),)


def _messages(app: object) -> list[str]:
    return [n.message for n in app._notifications]  # type: ignore[attr-defined]


async def test_question_mark_lists_every_key(tmp_path: Path) -> None:
    app = app_on(tmp_path, Network("LAB", devices=DEVICES), start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        keys = {row[0] for row in screen.key_help}
        assert {"s", "S", "n", "a", "e", "d", "u", "t", "p", "/", "b", "w", "c", "o"} <= keys
        assert {"ctrl+s", "W", "q", "?", "f", "F"} <= keys


async def test_the_command_palette_offers_the_keys(tmp_path: Path) -> None:
    app = app_on(tmp_path, Network("LAB", devices=DEVICES), start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert {
            "Start/stop device (s)",
            "New network (n)",
            "Help: every key (?)",
            "Save network as (W)",
        } <= set(titles)
        assert "Keys" not in titles, "Textual's key panel duplicates the ? help"
        assert [title for title in titles if title.startswith("Quit")] == ["Quit (q)"]
        await pilot.press("ctrl+p")
        await type_text(pilot, "Broker console (b)")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, BrokerConsoleScreen), "the broker console"
        )


async def test_against_an_external_broker_the_console_says_no_feed_and_still_sends(
    tmp_path: Path, mosquitto: RunningMosquitto
) -> None:
    broker = BrokerSettings(port=mosquitto.port, bundled=False)
    app = app_on(tmp_path, Network("EXTERNAL", broker=broker, devices=DEVICES))
    async with (
        aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="listener") as listener,
        app.run_test(size=(120, 40)) as pilot,
    ):
        await listener.subscribe("High_Tempe", qos=1)
        await wait_for(
            pilot,
            lambda: "external broker" in str(app.screen.query_one("#header-line", Static).content),
            "the header to name the external broker",
        )
        await pilot.press("b")
        console = app.screen
        assert isinstance(console, BrokerConsoleScreen)
        await wait_for(
            pilot,
            lambda: (
                "clients feed not available" in str(console.query_one("#console-note").render())
            ),
            "the note that there is no feed",
        )
        await fill(pilot, "#command-topic", "High_Tempe")
        await pilot.press("enter")
        await type_text(pilot, "Alert")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("Sent 'Alert'" in m for m in _messages(app)), "sent")
        message = await anext(listener.messages)
        assert message.payload == b"Alert"


@pytest.mark.slow
async def test_a_broker_crash_is_said_with_what_to_do(tmp_path: Path) -> None:
    from tests.support.bundled import skip_without_broker

    skip_without_broker()
    port = free_port()
    app = app_on(tmp_path, Network("CRASH", broker=BrokerSettings(port=port), devices=DEVICES))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.session.brokers, "the bundled broker")
        (broker,) = app.session.brokers.values()
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGKILL)  # the broker this test's app started
        await wait_for(
            pilot, lambda: any("stopped unexpectedly" in m for m in _messages(app)), "the news"
        )
        (message,) = [m for m in _messages(app) if "stopped unexpectedly" in m]
        assert f"127.0.0.1:{port}" in message
        assert "stop and start the network (S, S)" in message
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert "bundled broker exited" in app.session.brokers.state(screen.network.network)  # type: ignore[union-attr]
        # Starting the network again starts a new broker.
        await pilot.press("S")
        await wait_for(pilot, lambda: app.session.brokers, "a new bundled broker")
