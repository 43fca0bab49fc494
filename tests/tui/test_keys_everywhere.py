"""`?` and `q` on every screen, the eavesdrop view's keys in the help, and the device log's
focus and filter mark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import Input, Static
from textual.widgets._footer import FooterKey

from iotsim_tui.profiles.model import BrokerSettings, Device, Network
from iotsim_tui.tui.screens.confirm import ConfirmScreen
from iotsim_tui.tui.screens.console import BrokerConsoleScreen
from iotsim_tui.tui.screens.eavesdrop import EavesdropScreen
from iotsim_tui.tui.screens.help import HelpScreen, every_key
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.widgets.device_log import DeviceLog
from iotsim_tui.tui.widgets.log_view import LogView
from tests.support.ports import free_port
from tests.tui.pilot import app_on, wait_for


def network() -> Network:
    # A free port nobody listens on: the console is not connected, which these tests do not need.
    return Network(
        "LAB", broker=BrokerSettings(port=free_port()), devices=(Device("Sensor", "TS1"),)
    )


def footer_keys(app: App[Any]) -> set[str]:
    return {key.key for key in app.screen.query(FooterKey)}


def test_the_help_lists_the_eavesdrop_views_keys_and_help_and_quit_once() -> None:
    rows = every_key()
    eavesdrop = {(key, what) for key, what, where in rows if where.startswith("eavesdrop")}
    assert ("p", "Write what was captured to a pcap file for Wireshark") in eavesdrop
    assert ("f", "Highlight the newest packet and keep following new ones") in eavesdrop
    assert ("escape", "Back to the main screen") in eavesdrop
    assert [key for key, _, _ in rows].count("?") == 1
    assert [key for key, _, _ in rows].count("q") == 1


async def test_help_and_quit_work_in_the_eavesdrop_view(tmp_path: Path) -> None:
    app = app_on(tmp_path, network(), start_broker=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        await app.push_screen(EavesdropScreen(network(), devices=1000))
        await wait_for(pilot, lambda: isinstance(app.screen, EavesdropScreen), "the view")
        keys = {"question_mark", "q", "escape"}
        await wait_for(pilot, lambda: keys <= footer_keys(app), "help, quit and back in the footer")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, EavesdropScreen), "back")
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, "the app to end")


async def test_a_large_network_is_told_the_limit_and_the_headless_way() -> None:
    class ScreenApp(App[int]):
        def compose(self) -> ComposeResult:
            yield Static()

        def on_mount(self) -> None:
            self.push_screen(EavesdropScreen(network(), devices=1000))

    app = ScreenApp()
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.screen.query("#eavesdrop-off"), "the view")
        text = str(app.screen.query_one("#eavesdrop-off", Static).content)
    assert "Eavesdropping is off for networks of more than 500 devices (this one has 1000)" in text
    assert "iotsim-tui run PROFILE --eavesdrop --pcap FILE" in text
    assert "start the network with eavesdropping on" not in text


async def test_help_and_quit_work_in_the_broker_console_and_quit_asks(tmp_path: Path) -> None:
    app = app_on(tmp_path, network(), start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        opened = app.session.networks[0]
        await app.push_screen(BrokerConsoleScreen(opened, live=False))
        keys = {"question_mark", "q", "escape"}
        await wait_for(pilot, lambda: keys <= footer_keys(app), "help, quit and back in the footer")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, BrokerConsoleScreen), "back")
        opened.dirty = True
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.click("#yes")
        await wait_for(pilot, lambda: not app.is_running, "the app to end")


async def test_q_in_the_console_command_box_is_typed(tmp_path: Path) -> None:
    app = app_on(tmp_path, network(), start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.push_screen(BrokerConsoleScreen(app.session.networks[0], live=False))
        await pilot.press("m", *"q?")
        assert app.screen.query_one("#command-topic", Input).value == "q?"
        assert app.is_running


async def test_tab_from_the_tree_reaches_the_log_and_a_filter_shows_in_its_title(
    tmp_path: Path,
) -> None:
    app = app_on(tmp_path, network(), start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.screen.query_one(DeviceLog)
        await pilot.press("tab")
        assert app.focused is log.query_one(LogView)
        await pilot.press("v")
        await wait_for(pilot, lambda: log.wrap, "the log to wrap")
        assert log.needle == ""
        assert "filter:" not in title_of(log)
        await pilot.press("f", *"vv", "escape")
        await wait_for(pilot, lambda: "filter: vv" in title_of(log), "the filter in the title")
        assert "wrapped" in title_of(log)


def title_of(log: DeviceLog) -> str:
    return str(log.query_one("#log-title", Static).content)


async def test_a_click_still_focuses_the_filter(tmp_path: Path) -> None:
    app = app_on(tmp_path, network(), start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.click("#log-filter")
        await wait_for(pilot, lambda: app.focused is app.screen.query_one("#log-filter"), "focus")
        await pilot.press(*"ab")
        assert app.screen.query_one("#log-filter", Input).value == "ab"


async def test_saving_over_a_commented_profile_asks_first(tmp_path: Path) -> None:
    app = app_on(tmp_path, network(), start_broker=False)
    path = tmp_path / "profiles" / "lab.toml"
    path.write_text("# Alerts go to TS1 on High_Tempe.\n" + path.read_text())
    async with app.run_test(size=(120, 40)) as pilot:
        opened = app.session.networks[0]
        opened.dirty = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        question = str(app.screen.query_one("#question", Static).content)
        assert "1 comment line" in question
        assert "does not keep comments" in question
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "back")
        assert path.read_text().startswith("# Alerts")
        assert opened.dirty
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.click("#yes")
        await wait_for(pilot, lambda: not opened.dirty, "saved")
        assert "#" not in path.read_text()
        # Nothing left to lose: the next save goes straight on.
        opened.dirty = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not opened.dirty, "saved again")
        assert isinstance(app.screen, MainScreen)


def test_the_help_says_help_and_quit_work_everywhere() -> None:
    where = {key: place for key, _, place in every_key()}
    assert where["?"] == "everywhere (not typing)"
    assert where["q"] == "everywhere (not typing)"
