"""The main screen by keyboard: selection, log filter, quitting, and failures said in words."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import psutil
import pytest
from textual.widgets import Input

from iotsim_tui.engine.events import (
    DeviceStatus,
    Event,
    LogLine,
    MessageIn,
    MessageKind,
    MessageOut,
    StatusChanged,
)
from iotsim_tui.profiles.model import (
    BrokerSettings,
    Device,
    DeviceTemplate,
    Network,
    Subscription,
    Telemetry,
)
from iotsim_tui.tui.app import make_app
from iotsim_tui.tui.messages import NetworkEventsArrived
from iotsim_tui.tui.screens.confirm import ConfirmScreen
from iotsim_tui.tui.screens.console import BrokerConsoleScreen
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.session import Session
from iotsim_tui.tui.widgets.clients_table import ClientsTable
from iotsim_tui.tui.widgets.device_log import DeviceLog
from iotsim_tui.tui.widgets.log_view import LogView
from iotsim_tui.tui.widgets.network_tree import NetworkTree, Place
from tests.support.ports import free_port
from tests.tui.pilot import app_on, fill, fold_events, settle, wait_for

NETWORK = Network(
    "LAB",
    broker=BrokerSettings(port=11883, username="lab", password="s3cret-Pa55"),
    devices=(
        Device("Temperature_Sensor", "TS1", subscribe=(Subscription("High_Tempe"),)),
        Device("Humidity_Sensor", "HS1"),
    ),
)


def _messages(app: object) -> list[str]:
    return [n.message for n in app._notifications]  # type: ignore[attr-defined]


def _log_text(screen: MainScreen) -> str:
    return "\n".join(screen.query_one(DeviceLog).query_one(LogView).text_of_rows())


async def test_moving_in_the_tree_shows_that_devices_log(tmp_path: Path) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        opened = app.session.networks[0]
        await wait_for(pilot, lambda: screen.device_id == "TS1", "TS1 selected first")
        batch: list[Event] = [
            StatusChanged("TS1", DeviceStatus.CONNECTED, "", 1.0),
            MessageIn("TS1", "High_Tempe", 1, False, b"for TS1", 7, False, 2.0),
            LogLine("HS1", "only in HS1's log", 3.0),
        ]
        screen.post_message(NetworkEventsArrived(opened.key, batch, fold_events(opened, batch)))
        await wait_for(pilot, lambda: "for TS1" in _log_text(screen), "TS1's message")
        tree = screen.query_one(NetworkTree)
        assert "only in HS1's log" not in _log_text(screen)
        await wait_for(
            pilot,
            lambda: str(getattr(tree.node_of(Place(opened.key, "TS1")), "label", "")).startswith(
                "● TS1"
            ),
            "TS1 marked connected in the tree",
        )
        await pilot.press("down")
        await wait_for(pilot, lambda: screen.device_id == "HS1", "HS1 selected")
        assert "only in HS1's log" in _log_text(screen)
        assert "for TS1" not in _log_text(screen)


async def test_the_log_filter_keeps_matching_lines(tmp_path: Path) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        opened = app.session.networks[0]
        batch: list[Event] = [
            MessageIn("TS1", "High_Tempe", 1, False, b"Alert", 5, False, 1.0),
            MessageOut(
                "TS1", "finance/TS1/temperature", 0, False, b"{}", 2, MessageKind.TELEMETRY, 2.0
            ),
        ]
        screen.post_message(NetworkEventsArrived(opened.key, batch, fold_events(opened, batch)))
        await wait_for(pilot, lambda: "Alert" in _log_text(screen), "the lines")
        await pilot.press("tab")  # the device log's filter
        await fill(pilot, "#log-filter", "temperature")
        await wait_for(pilot, lambda: "Alert" not in _log_text(screen), "the filter applied")
        assert "finance/TS1/temperature" in _log_text(screen)
        await fill(pilot, "#log-filter", "")
        await wait_for(pilot, lambda: "Alert" in _log_text(screen), "the filter cleared")


async def test_quitting_with_unsaved_changes_asks_first(tmp_path: Path) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        app.session.networks[0].dirty = True
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "back to work")
        assert app.is_running
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.click("#yes")
        await wait_for(pilot, lambda: not app.is_running, "the app to end")


async def test_quitting_with_nothing_unsaved_just_quits(tmp_path: Path) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, "the app to end")
    assert app.return_code == 0


async def test_a_broken_profile_is_reported_and_the_app_opens(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('[network]\nname = "X"\n\n[network.broker]\nport = "high"\n')
    app = make_app([broken], start_broker=False, log_file=tmp_path / "log")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: _messages(app), "a notification")
        assert any(f"{broken}:5" in message for message in _messages(app)), _messages(app)
        assert app.session.networks == []


async def test_a_port_another_broker_listens_on_is_used_and_said_so(tmp_path: Path) -> None:
    # As `iotsim-tui run` does: the devices use the broker that is there, and the app says so.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        network = Network("BUSY", broker=BrokerSettings(port=port), devices=NETWORK.devices)
        app = app_on(tmp_path, network)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: _messages(app), "a notification")
            (message,) = _messages(app)
            assert f"A broker the app did not start already listens on 127.0.0.1:{port}" in message
            assert "the devices use it" in message
            assert app.session.brokers.state(network) == (
                f"another broker on 127.0.0.1:{port}, not the bundled one"
            )


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_stopping_a_running_network_is_quiet(tmp_path: Path) -> None:
    network = Network("QUIET", broker=BrokerSettings(port=free_port()), devices=NETWORK.devices)
    app = app_on(tmp_path, network)
    async with app.run_test(size=(120, 40)) as pilot:
        opened = app.session.networks[0]
        await pilot.press("S")
        await wait_for(
            pilot,
            lambda: all(r.status is DeviceStatus.CONNECTED for r in opened.records.values()),
            "every device connected",
        )
        assert opened.engine is not None
        child = opened.engine.pid
        assert child is not None
        await pilot.press("S")
        await wait_for(pilot, lambda: opened.engine is None, "the network stopped")
        await wait_for(pilot, lambda: _gone(child), "the network's process to end")
        await settle(pilot)  # the stop worker ended and every message it left was handled
        assert _messages(app) == []


async def test_escape_leaves_the_publish_prompt_so_keys_are_commands_again(
    tmp_path: Path,
) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("p", *"alerts", "tab", *"hot")
        payload = app.screen.query_one("#publish-payload", Input)
        assert payload.value == "hot"
        await pilot.press("escape")
        assert isinstance(app.focused, NetworkTree)
        await pilot.press("f")  # the log's filter key, not text for the prompt
        assert payload.value == "hot"
        await pilot.press("escape")
        assert isinstance(app.focused, NetworkTree)


async def test_a_crashed_worker_is_logged_and_the_app_goes_on(tmp_path: Path) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:

        async def boom() -> None:
            raise RuntimeError("a bug")

        app.screen.run_worker(boom(), name="boom", exit_on_error=False)
        await wait_for(pilot, lambda: _messages(app), "the notification")
        assert "boom failed: RuntimeError('a bug')" in _messages(app)[0]
        assert app.is_running
        await pilot.press("down")
    log = (tmp_path / "state" / "iotsim-tui.log").read_text()
    assert "boom crashed" in log
    assert 'raise RuntimeError("a bug")' in log


async def test_the_password_is_never_on_screen(tmp_path: Path) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        assert "s3cret-Pa55" not in app.export_screenshot()
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, BrokerConsoleScreen), "the console")
        await wait_for(pilot, lambda: app.screen.query(ClientsTable), "the clients table")
        assert "s3cret-Pa55" not in app.export_screenshot()


@pytest.mark.slow
async def test_publish_prompt_publishes_as_the_selected_device(tmp_path: Path) -> None:
    from tests.support.bundled import skip_without_broker

    skip_without_broker()
    network = Network("PUB", broker=BrokerSettings(port=free_port()), devices=NETWORK.devices)
    app = app_on(tmp_path, network)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        opened = app.session.networks[0]
        await wait_for(pilot, lambda: screen.device_id == "TS1", "TS1 selected")
        await pilot.press("s")
        await wait_for(
            pilot,
            lambda: opened.records["TS1"].status is DeviceStatus.CONNECTED,
            "TS1 up",
        )
        assert opened.records["HS1"].status is DeviceStatus.STOPPED
        await pilot.press("p")
        await pilot.press(*"High_Tempe")
        await pilot.press("enter")
        await pilot.press(*"hello from TS1")
        await pilot.press("enter")
        # TS1 subscribes to High_Tempe, so its own message comes back to it too.
        await wait_for(pilot, lambda: "→ High_Tempe" in _log_text(screen), "the message out")
        await wait_for(pilot, lambda: "← High_Tempe" in _log_text(screen), "the message in")
        await pilot.press("escape")
        screen.query_one(NetworkTree).focus()
        await pilot.press("s")
        await wait_for(
            pilot, lambda: opened.records["TS1"].status is DeviceStatus.STOPPED, "TS1 stopped"
        )
        await asyncio.sleep(0)


async def test_the_publish_prompt_completes_known_topics(tmp_path: Path) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("p")
        await pilot.press(*"High")
        topic = app.screen.query_one("#publish-topic", Input)
        await wait_for(pilot, lambda: topic._suggestion == "High_Tempe", "the suggestion")
        await pilot.press("right")
        assert topic.value == "High_Tempe"


def test_known_topics_are_the_devices_own_and_never_filters() -> None:
    fleet = Network(
        "FLEET",
        templates=(
            DeviceTemplate(
                "Sensor {n}",
                "S{n}",
                count=2,
                subscribe=(Subscription("fleet/{id}/cmd", 1), Subscription("fleet/all/#", 0)),
                telemetry=(Telemetry("fleet/{name}/temp", 5.0),),
            ),
        ),
    )
    opened = Session(start_broker=False).add(fleet)
    assert opened.known_topics() == {
        "fleet/S1/cmd",
        "fleet/S2/cmd",
        "fleet/Sensor 1/temp",
        "fleet/Sensor 2/temp",
    }
