"""The broker console screen against real brokers: refused credentials, and a table that ticks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.widgets import Static

from iotsim_tui.engine.console import ClientsFeed, ConnectedClient
from iotsim_tui.profiles.model import BrokerSettings, Device, Network
from iotsim_tui.tui.screens.console import BrokerConsoleScreen
from iotsim_tui.tui.widgets.clients_table import ClientsTable
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


async def test_since_ticks_and_new_counts_keep_the_cursor(tmp_path: Path) -> None:
    app = app_on(tmp_path, Network("LAB", devices=(Device("Sensor", "TS1"),)), start_broker=False)
    now = [1_764_000_000.0]
    clients = tuple(
        ConnectedClient(client_id, "127.0.0.1:5432", "3.1.1", 1883, None, None, None, now[0], ())
        for client_id in ("TS1", "TS2")
    )
    feed = ClientsFeed(clients, 2, 0, 10, 4, now[0])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = BrokerConsoleScreen(app.session.networks[0], clock=lambda: now[0], live=False)
        await app.push_screen(screen)
        screen.show_update(feed)
        table = screen.query_one(ClientsTable)
        table.move_cursor(row=1)
        assert table.get_cell("TS1", "since") == "0s"
        now[0] += 42
        await wait_for(pilot, lambda: table.get_cell("TS1", "since") == "42s", "since to tick")
        screen.show_update(replace(feed, messages_received=99, updated=now[0]))
        assert "99 messages published to it" in note_of(screen)
        assert table.cursor_row == 1
