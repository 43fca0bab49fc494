"""The broker console screen against real brokers: refused credentials, and a table that ticks."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from iotsim_tui.profiles.model import BrokerSettings, Device, Network
from iotsim_tui.tui.screens.console import BrokerConsoleScreen
from tests.tui.password_broker import USER, password_mosquitto
from tests.tui.pilot import app_on, wait_for


def note_of(screen: BrokerConsoleScreen) -> str:
    return str(screen.query_one("#console-note", Static).content)


async def test_a_wrong_password_is_said_once_without_retrying(tmp_path: Path) -> None:
    with password_mosquitto(tmp_path) as broker:
        network = Network(
            "LAB",
            broker=BrokerSettings(port=broker.port, username=USER, password="wrong-pass"),
            devices=(Device("Sensor", "TS1"),),
        )
        app = app_on(tmp_path, network, start_broker=False)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = BrokerConsoleScreen(app.session.networks[0])
            await app.push_screen(screen)
            await wait_for(pilot, lambda: "refused" in note_of(screen), "the refusal")
            assert note_of(screen) == (
                "not connected: the broker refused the console's user name or password: "
                "check them in the network settings (c)"
            )
            await wait_for(
                pilot,
                lambda: all(w.is_finished for w in screen.workers if w.group == "console-feed"),
                "the console to stop trying",
            )
            assert "wrong-pass" not in note_of(screen)
