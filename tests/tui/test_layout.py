"""What a user sees at 80x24 and 120x40: panes, header, footer, device log, console, help."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import Static

from iotsim_tui.engine.console import ClientsFeed, ClientSubscription, ConnectedClient
from iotsim_tui.engine.events import (
    DeviceStatus,
    Event,
    MessageKind,
    MessageOut,
    StatusChanged,
)
from iotsim_tui.profiles.model import BrokerSettings, Device, Network, Subscription, TLSSettings
from iotsim_tui.tui.app import IotsimApp
from iotsim_tui.tui.messages import NetworkEventsArrived
from iotsim_tui.tui.screens.console import BrokerConsoleScreen
from iotsim_tui.tui.screens.help import HelpScreen
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.widgets.clients_table import OWN_ROW, ClientsTable
from iotsim_tui.tui.widgets.device_log import DeviceLog, log_line
from iotsim_tui.tui.widgets.keys_footer import FooterItem, fit
from iotsim_tui.tui.widgets.log_view import LogView
from iotsim_tui.tui.widgets.network_header import HeaderState, NetworkHeader, header_line
from iotsim_tui.tui.widgets.subscriptions import SubscriptionsTable
from tests.tui.dialog_harness import screen_text
from tests.tui.pilot import app_on, fold_events, settle, wait_for

NOW = 1_764_000_100.0
NETWORK = Network(
    "NDE_FINANCE_NETWORK",
    broker=BrokerSettings(port=11883),
    devices=(
        Device("Temperature_Sensor", "TS1", subscribe=(Subscription("High_Tempe/alerts", qos=1),)),
        Device("Humidity_Sensor_With_A_Long_Name", "HS1"),
    ),
)


def _telemetry(count: int) -> list[Event]:
    payload = b'{"temperature": 22.4, "unit": "C", "room": "server room 2", "rack": "B-14"}'
    return [
        MessageOut(
            "TS1",
            "finance/TS1/temperature",
            0,
            False,
            payload,
            len(payload),
            MessageKind.TELEMETRY,
            NOW + n,
        )
        for n in range(count)
    ]


async def _main(app: IotsimApp, pilot: Pilot[int]) -> MainScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
    screen = app.screen
    assert isinstance(screen, MainScreen)
    await wait_for(pilot, lambda: screen.device_id == "TS1", "TS1 selected")
    return screen


async def _footer(app: IotsimApp, pilot: Pilot[int]) -> str:
    """The footer's line, once it shows its keys (it lays them out after the first frame)."""
    await wait_for(pilot, lambda: "? Help" in screen_text(app).splitlines()[-1], "the footer")
    return screen_text(app).splitlines()[-1]


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 40)])
async def test_every_pane_fits_the_terminal(tmp_path: Path, size: tuple[int, int]) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=size) as pilot:
        screen = await _main(app, pilot)
        await wait_for(pilot, lambda: "High_Tempe/alerts" in screen_text(app), "the subscriptions")
        width, height = size
        for pane in screen.query("#panes > *"):
            region = pane.region
            assert region.width >= 20, f"{pane} is {region.width} columns wide at {size}"
            assert region.right <= width, f"{pane} at {size}"
            assert region.bottom <= height, f"{pane} at {size}"
        subscriptions = screen.query_one(SubscriptionsTable).region
        log = screen.query_one(DeviceLog).region
        if width >= 140:  # a column of their own on the right
            assert subscriptions.x >= log.right
        else:  # under the device log, as wide as it
            assert subscriptions.y >= log.bottom
            assert subscriptions.width == log.width
        text = screen_text(app)
        assert "High_Tempe/alerts" in text
        assert "last payload" in text


async def test_at_80_columns_header_footer_and_tree_say_what_matters(tmp_path: Path) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _main(app, pilot)
        footer = await _footer(app, pilot)
        lines = screen_text(app).splitlines()
        assert "broker off (--no-broker)" in lines[0]
        assert "127.0.0.1:11883" in lines[0]
        for key in ("s Start/stop", "S Network", "b Console", "w Eavesdrop", "? Help", "q Quit"):
            assert key in footer, footer
        # A name too long for the tree ends in an ellipsis, not in the middle of a word.
        assert any("HS1 Humidity" in line and "…" in line for line in lines), "\n".join(lines)


async def test_at_120_columns_the_footer_has_every_shown_key(tmp_path: Path) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await _main(app, pilot)
        footer = await _footer(app, pilot)
        for key in ("u Subscribe", "p Publish", "^s Save", "? Help", "q Quit"):
            assert key in footer, footer


async def test_the_footer_chooses_again_when_the_terminal_narrows(tmp_path: Path) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await _main(app, pilot)
        await wait_for(pilot, lambda: "^s Save" in screen_text(app).splitlines()[-1], "the footer")
        await pilot.resize_terminal(80, 24)

        def refitted() -> bool:
            footer = screen_text(app).splitlines()[-1]
            return "^s Save" not in footer and "q Quit" in footer

        await wait_for(pilot, refitted, "the footer to drop keys that no longer fit")
        footer = screen_text(app).splitlines()[-1]
        assert "q Quit" in footer
        assert len(footer) <= 80


def test_fit_keeps_help_and_quit_and_fills_in_order() -> None:
    items = [
        FooterItem("s", "s", "Start/stop", "toggle_device"),  # 13 cells
        FooterItem("b", "b", "Console", "broker_console"),  # 10
        FooterItem("u", "u", "Subscribe", "subscribe"),  # 12
        FooterItem("a", "a", "Add", "add_device"),  # 6
        FooterItem("question_mark", "?", "Help", "help"),  # 7
        FooterItem("q", "q", "Quit", "quit"),  # 7
    ]
    assert [i.action for i in fit(items, 100)] == [i.action for i in items]
    # 14 for help and quit; 23 for start/stop and console; subscribe does not fit, add does.
    assert [i.display for i in fit(items, 14 + 23 + 6)] == ["s", "b", "a", "?", "q"]
    assert [i.display for i in fit(items, 10)] == ["?", "q"]


def test_the_header_shortens_instead_of_cutting_the_broker_state() -> None:
    state = HeaderState(NETWORK, dirty=True, broker_state="bundled broker running")
    wide = header_line(state, 200).plain
    assert "broker 127.0.0.1:11883 MQTT 3.1.1" in wide
    assert "● unsaved" in wide
    narrow = header_line(state, 78).plain
    assert len(narrow) <= 78
    assert narrow.endswith("broker running")
    assert "127.0.0.1:11883" in narrow
    assert "NDE_FINANCE_NETWORK*" in narrow
    tiny = header_line(state, 60).plain
    assert tiny.endswith("broker running")
    assert "…" in tiny


def test_the_header_says_the_negotiated_tls_version_else_the_minimum() -> None:
    tls = replace(NETWORK, broker=BrokerSettings(port=18883, tls=TLSSettings(enabled=True)))
    assert "🔒 TLS 1.2+" in header_line(HeaderState(tls), 200).plain
    negotiated = header_line(HeaderState(tls, tls_version="TLSv1.3"), 200).plain
    assert "🔒 TLS 1.3" in negotiated
    assert "1.2+" not in negotiated
    assert "🔓 plain" in header_line(HeaderState(NETWORK), 200).plain


async def test_while_edited_settings_wait_for_a_restart_the_header_shows_what_runs(
    tmp_path: Path,
) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _main(app, pilot)
        opened = app.session.networks[0]
        running = opened.network
        # What a run records: the settings it was built from. Then the user edits the port.
        opened.running = running
        opened.apply(replace(running, broker=replace(running.broker, port=12999)))
        header = screen.query_one(NetworkHeader)
        await wait_for(pilot, lambda: header.state is not None and header.state.stale, "stale")
        await wait_for(pilot, lambda: "restart" in screen_text(app).splitlines()[0], "the line")
        line = screen_text(app).splitlines()[0]
        assert "127.0.0.1:11883" in line
        assert "12999" not in line
        assert "restart to apply" in line
        console = BrokerConsoleScreen(opened, clock=lambda: NOW, live=False)
        assert console.network.broker.port == 11883  # the console talks to the running broker
        opened.running = None  # the run ended
        await wait_for(
            pilot, lambda: "12999" in screen_text(app).splitlines()[0], "the edited port"
        )
        assert "restart to apply" not in screen_text(app).splitlines()[0]


class _RunningEngine:
    """What the header reads of a running simulation: the selected device's latest view.

    The engine's view gains `tls_version` as it learns the TLS version of a connection; this
    stands in for a simulation whose device negotiated `version`.
    """

    def __init__(self, version: str) -> None:
        self.view = SimpleNamespace(id="TS1", subscriptions=(), tls_version=version)
        self.watched: str | None = None

    def watch(self, device_id: str | None) -> None:
        """The app asks for the selected device's view."""
        self.watched = device_id


async def test_the_header_shows_the_tls_version_a_running_device_negotiated(
    tmp_path: Path,
) -> None:
    tls = replace(NETWORK, broker=BrokerSettings(port=18883, tls=TLSSettings(enabled=True)))
    app = app_on(tmp_path, tls, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await _main(app, pilot)
        opened = app.session.networks[0]
        await wait_for(pilot, lambda: "🔒 TLS 1.2+" in screen_text(app), "the minimum TLS")
        opened.running = opened.network
        opened.engine = _RunningEngine("TLSv1.3")  # type: ignore[assignment]
        await wait_for(pilot, lambda: "🔒 TLS 1.3" in screen_text(app), "the negotiated TLS")
        opened.engine = None
        opened.running = None
        await wait_for(pilot, lambda: "🔒 TLS 1.2+" in screen_text(app), "the minimum again")


async def test_while_typing_the_footer_offers_the_way_out(tmp_path: Path) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _main(app, pilot)
        await _footer(app, pilot)
        await pilot.press("p")
        await wait_for(
            pilot, lambda: "esc Leave box" in screen_text(app).splitlines()[-1], "esc in the footer"
        )
        await pilot.press("escape")
        footer = await _footer(app, pilot)
        assert "Leave box" not in footer


async def test_a_telemetry_message_takes_one_line_at_80_columns_and_v_wraps_it(
    tmp_path: Path,
) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _main(app, pilot)
        opened = app.session.networks[0]
        batch = _telemetry(3)
        screen.post_message(NetworkEventsArrived(opened.key, batch, fold_events(opened, batch)))
        log = screen.query_one(DeviceLog)
        lines = log.query_one(LogView)
        await wait_for(pilot, lambda: lines.row_count == 3, "three lines for three messages")
        text = screen_text(app)
        # Cut at the pane's edge, with a mark that the line goes on.
        assert 'finance/TS1/temperature  q0  {"tempe…' in text, text
        lines.focus()
        await pilot.press("v")
        await wait_for(pilot, lambda: lines.row_count > 3, "wrapped lines")
        assert log.wrap
        await pilot.press("v")
        await wait_for(pilot, lambda: lines.row_count == 3, "one line each again")


def test_only_messages_other_than_telemetry_name_their_kind() -> None:
    (telemetry,) = _telemetry(1)
    assert "telemetry" not in log_line(telemetry).plain
    response = replace(telemetry, kind=MessageKind.RESPONSE)
    assert "q0 response  {" in log_line(response).plain


def test_a_stop_is_said_once_in_the_device_log() -> None:
    said = log_line(StatusChanged("TS1", DeviceStatus.STOPPED, "stopped", NOW)).plain
    assert said.endswith("○ stopped")
    detail = log_line(StatusChanged("TS1", DeviceStatus.STOPPED, "dropped", NOW)).plain
    assert detail.endswith("○ stopped  dropped")


def _feed() -> ClientsFeed:
    def client(client_id: str, user: str | None, topics: tuple[str, ...]) -> ConnectedClient:
        subscriptions = tuple(ClientSubscription(topic, 1) for topic in topics)
        return ConnectedClient(
            client_id, "127.0.0.1:54321", "3.1.1", 11883, None, None, user, NOW - 5, subscriptions
        )

    return ClientsFeed(
        clients=(
            client("TS1", "lab", ("High_Tempe/alerts",)),
            client("iotsim-console-4242", None, ("$SYS/iotsim/clients",)),
            client("XS9", None, ()),
        ),
        connected=3,
        subscriptions=2,
        messages_received=4,
        messages_sent=1,
        updated=NOW,
    )


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_console_marks_itself_and_says_what_its_counts_are(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=size) as pilot:
        await _main(app, pilot)
        screen = BrokerConsoleScreen(app.session.networks[0], clock=lambda: NOW, live=False)
        await app.push_screen(screen)
        await wait_for(pilot, lambda: app.screen is screen and screen.is_mounted, "the console")
        table = screen.query_one(ClientsTable)
        table.own_id = "iotsim-console-4242"
        table.show(_feed(), NOW)
        screen.query_one("#console-note", Static).update(table.note)
        await settle(pilot)
        text = screen_text(app)
        words = " ".join(text.split())
        rows = [line for line in text.splitlines() if "127.0.0.1:54321" in line]
        assert OWN_ROW in rows[-1], text  # listed last, and said to be this console
        assert "iotsim-console" not in text
        assert "High_Tempe/alerts q1" in rows[0], text  # the subscriptions column is whole
        assert "4 messages published to it, 1 message delivered by it, as of" in words
        if size[0] >= 100:
            assert "user" in text
            assert " lab " in rows[0]


async def test_help_says_where_each_key_works(tmp_path: Path) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _main(app, pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        assert isinstance(app.screen, HelpScreen)
        where = {(key, place) for key, _, place in app.screen.key_help}
        assert ("s", "main screen (not typing)") in where
        assert ("ctrl+s", "main screen") in where
        assert ("escape", "main screen") in where
        assert ("f", "device log (not typing)") in where
        assert ("m", "broker console (not typing)") in where
        assert ("ctrl+q", "everywhere") in where
        assert not any(p == "everywhere" and len(k) == 1 for k, p in where)
        assert "in a text box these keys are text" in screen_text(app)


def test_every_binding_has_a_description_for_the_palette() -> None:
    for owner in (IotsimApp, MainScreen, BrokerConsoleScreen):
        for binding in owner.BINDINGS:
            assert isinstance(binding, Binding)
            assert binding.description, binding
            assert binding.tooltip, binding
            assert binding.description.casefold() != binding.key.casefold(), binding
    bindings = [*MainScreen.BINDINGS, *IotsimApp.BINDINGS]
    palette_titles = {f"{b.description}" for b in bindings if isinstance(b, Binding)}
    assert {"Start/stop device", "Broker console", "Help: every key"} <= palette_titles
