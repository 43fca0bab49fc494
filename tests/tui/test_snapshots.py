"""Pictures of the main screen and the broker console (clients, messages and their rate),
compared with accepted snapshots.

Deterministic: a fixed clock, events with fixed times in UTC, no broker (no live data),
cursors that do not blink. Update with `pytest tests/tui/test_snapshots.py --snapshot-update`
after checking the new pictures in the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from iotsim_tui.engine.console import ClientsFeed, ClientSubscription, ConnectedClient
from iotsim_tui.engine.events import (
    DeviceStatus,
    Event,
    LogLine,
    MessageIn,
    MessageKind,
    MessageOut,
    StatusChanged,
)
from iotsim_tui.explore.tree import Seen
from iotsim_tui.profiles.model import (
    BrokerSettings,
    Device,
    Network,
    Subscription,
    TLSSettings,
)
from iotsim_tui.tui.app import IotsimApp, make_app
from iotsim_tui.tui.messages import NetworkEventsArrived
from iotsim_tui.tui.screens.console import BrokerConsoleScreen
from iotsim_tui.tui.widgets.clients_table import ClientsTable
from iotsim_tui.tui.widgets.console_messages import ConsoleMessages
from tests.tui.dialog_harness import screen_text
from tests.tui.pilot import fold_events, settle, wait_for

NOW = 1_764_000_100.0
SIZE = (120, 32)
SMALL = (80, 24)
"""The smallest terminal the app is laid out for."""

SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Log times in UTC, whatever the machine's zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _network(*, tls: bool = False) -> Network:
    broker = BrokerSettings(
        port=18883 if tls else 11883,
        tls=TLSSettings(enabled=tls, ca="certs/ca.crt", verify_hostname=not tls),
        password="never-shown",
        username="lab",
    )
    devices = (
        Device(
            "Temperature_Sensor",
            "TS1",
            "Server room",
            subscribe=(Subscription("High_Tempe", qos=1),),
        ),
        Device("Humidity_Sensor", "HS1", "Vault"),
    )
    return Network("NDE_FINANCE_NETWORK", "Finance floor sensors", broker, devices=devices)


def _app(tmp_path: Path, network: Network) -> IotsimApp:
    from iotsim_tui.profiles.save import save_network

    path = tmp_path / "nde.toml"
    save_network(network, path)
    return make_app(
        [path], start_broker=False, clock=lambda: NOW, log_file=tmp_path / "iotsim-tui.log"
    )


def _story_events() -> list[Event]:
    return [
        StatusChanged("TS1", DeviceStatus.CONNECTING, "127.0.0.1:11883", NOW - 60),
        StatusChanged("TS1", DeviceStatus.CONNECTED, "session new", NOW - 59.5),
        LogLine("TS1", "subscribed to High_Tempe (QoS 1 granted)", NOW - 59.4),
        MessageIn(
            "TS1", "High_Tempe", 1, False, b"Alert for High Temperature", 26, False, NOW - 30
        ),
        MessageOut(
            "TS1",
            "finance/TS1/temperature",
            0,
            False,
            b'{"temperature": 22.4, "unit": "C"}',
            34,
            MessageKind.TELEMETRY,
            NOW - 20,
        ),
        MessageIn("TS1", "High_Tempe", 1, True, b"\x00\x01\xfe\xff", 4, False, NOW - 10),
    ]


async def _still(pilot: Pilot[Any]) -> None:
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await settle(pilot)  # what a key or the events started has been drawn


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x32", "80x24"])
def test_main_screen_with_a_running_device(
    snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = _app(tmp_path, _network())

    async def feed(pilot: Pilot[Any]) -> None:
        opened = app.session.networks[0]
        batch = _story_events()
        app.screen.post_message(NetworkEventsArrived(opened.key, batch, fold_events(opened, batch)))
        record = opened.records["TS1"]
        # The log shows the events at once, the tree and the counts at the next refresh.
        counts = f"↓{record.received} ↑{record.sent}"
        await wait_for(
            pilot,
            lambda: all(
                shown in screen_text(app) for shown in ("Alert for High", "connected", counts)
            ),
            "the events in the log, the tree and the counts",
        )
        await _still(pilot)

    assert snap_compare(app, terminal_size=size, run_before=feed)


def test_help_at_80_by_24(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = _app(tmp_path, _network())
    assert snap_compare(app, terminal_size=SMALL, press=["question_mark"], run_before=_still)


def test_main_screen_warns_when_tls_verification_is_off(
    snap_compare: SnapCompare, tmp_path: Path
) -> None:
    app = _app(tmp_path, _network(tls=True))
    assert snap_compare(app, terminal_size=SIZE, run_before=_still)


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x32", "80x24"])
def test_broker_console_lists_clients(
    snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = _app(tmp_path, _network())
    feed = ClientsFeed(
        clients=(
            ConnectedClient(
                "TS1",
                "127.0.0.1:54321",
                "3.1.1",
                11883,
                None,
                None,
                None,
                NOW - 75,
                (ClientSubscription("High_Tempe", 1),),
            ),
            ConnectedClient(
                "HS1", "127.0.0.1:54322", "5", 18883, "TLSv1.3", "TLS_AES_256", "lab", NOW - 4, ()
            ),
            ConnectedClient(
                "iotsim-console-4242",
                "127.0.0.1:54323",
                "3.1.1",
                11883,
                None,
                None,
                None,
                NOW - 1,
                (ClientSubscription("$SYS/iotsim/clients", 0),),
            ),
        ),
        connected=3,
        subscriptions=1,
        messages_received=12_345,
        messages_sent=2,
        updated=NOW,
    )

    async def console(pilot: Pilot[Any]) -> None:
        opened = app.session.networks[0]
        screen = BrokerConsoleScreen(opened, clock=lambda: NOW, live=False)
        await app.push_screen(screen)
        await wait_for(pilot, lambda: app.screen is screen and screen.is_mounted, "the console")
        table = screen.query_one(ClientsTable)
        table.own_id = "iotsim-console-4242"
        table.show(feed, NOW)
        screen.query_one("#console-note", Static).update(table.note)
        screen.last_update = feed
        messages = screen.query_one(ConsoleMessages)
        messages.status = "reading # as iotsim-console-messages-4242"
        messages.redraw(NOW - 2)
        for second in range(2):
            at = NOW - 1 + second
            messages.add(
                [
                    Seen(at, "ward/bed7/vitals", b'{"hr": 7%d, "spo2": 98}' % second, 23, 0, False),
                    Seen(at + 0.2, "High_Tempe", b"Alert for High Temperature", 26, 1, False),
                ]
            )
            messages.redraw(at + 0.5)
        await _still(pilot)

    assert snap_compare(app, terminal_size=size, run_before=console)
