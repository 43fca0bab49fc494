"""The broker console screen against real brokers: refused credentials, and a table that ticks."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import replace
from pathlib import Path

import aiomqtt
from textual.widgets import Static

from iotsim_tui.certs.authority import init_certs
from iotsim_tui.engine.console import ClientsFeed, ConnectedClient
from iotsim_tui.profiles.model import (
    BrokerSettings,
    Device,
    DeviceTemplate,
    Network,
    Subscription,
    TLSSettings,
)
from iotsim_tui.tui.screens.console import BrokerConsoleScreen
from iotsim_tui.tui.widgets.clients_table import ClientsTable
from tests.support.ports import free_port
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


async def test_commands_to_nobody_are_flagged_and_a_tls_link_names_its_version(
    tmp_path: Path,
) -> None:
    """Against the bundled broker over TLS: the title says the version the console's link
    negotiated, completion offers the devices' own topics, and a command that no client
    subscribes to is sent with a warning."""
    init_certs(tmp_path / "certs")
    tls = TLSSettings(enabled=True, ca=str(tmp_path / "certs" / "ca.crt"))
    network = Network(
        "LAB",
        broker=BrokerSettings(port=free_port(), tls=tls),
        templates=(
            DeviceTemplate(
                "Sensor {n}", "S{n}", count=2, subscribe=(Subscription("fleet/{id}/cmd", 1),)
            ),
        ),
    )
    app = app_on(tmp_path, network)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: bool(app.session.brokers), "the bundled broker")
        screen = BrokerConsoleScreen(app.session.networks[0])
        await app.push_screen(screen)
        await wait_for(pilot, lambda: screen.console is not None, "the console to connect")
        title = str(screen.query_one("#console-title", Static).content)
        assert "🔒 TLS 1.3" in title or "🔒 TLS 1.2" in title
        assert screen._command_topics() == {"fleet/S1/cmd", "fleet/S2/cmd"}

        await wait_for(pilot, lambda: screen.clients != (), "the clients feed")
        screen.send("fleet/S1/cmd", "on", 1)
        await wait_for(
            pilot,
            lambda: any(n.title == "Command sent to no one" for n in app._notifications),
            "a warning that nobody subscribes (no device runs)",
        )

        context = ssl.create_default_context(cafile=tls.ca)
        port = network.broker.effective_port
        async with aiomqtt.Client("localhost", port, identifier="S1", tls_context=context) as s1:
            await s1.subscribe("fleet/+/cmd", qos=1)
            # The feed may list S1 before its SUBSCRIBE: wait for the update that has both.
            await wait_for(
                pilot,
                lambda: (
                    "S1" in screen.clients
                    and [s.filter for s in screen.listed("S1").subscriptions] == ["fleet/+/cmd"]
                ),
                "S1 and its subscription in the feed",
            )
            screen.send("fleet/S1/cmd", "on", 1)
            await wait_for(
                pilot,
                lambda: any(n.title == "Command sent" for n in app._notifications),
                "the command sent to S1",
            )
            message = await asyncio.wait_for(anext(s1.messages), 10)
            assert message.payload == b"on"


async def test_an_attacker_stands_out_in_the_clients_table(tmp_path: Path) -> None:
    app = app_on(tmp_path, Network("LAB", devices=(Device("Sensor", "TS1"),)), start_broker=False)
    now = 1_764_000_000.0
    clients = tuple(
        ConnectedClient(client_id, "127.0.0.1:5432", "5", 1883, None, None, None, now, ())
        for client_id in ("TS1", "attacker-wildcard")
    )
    async with app.run_test(size=(120, 40)):
        screen = BrokerConsoleScreen(app.session.networks[0], clock=lambda: now, live=False)
        await app.push_screen(screen)
        screen.show_update(ClientsFeed(clients, 2, 0, 10, 4, now))
        table = screen.query_one(ClientsTable)
        marked = table.get_cell("attacker-wildcard", "client id")
        assert str(marked) == "⚠ attacker-wildcard"
        assert "red" in str(marked.style)
        assert str(table.get_cell("TS1", "client id")) == "TS1"
