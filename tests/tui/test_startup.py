"""Start-up and dialogs: keys typed ahead reach their dialog, dialogs load early, focus is cheap."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from textual import events
from textual.widgets import Input

from iotsim_tui.profiles.model import BrokerSettings, Device, Network
from iotsim_tui.tui.app import IotsimApp
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.screens.subscribe import SubscribeScreen
from iotsim_tui.tui.widgets.network_tree import NetworkTree
from tests.tui.pilot import app_on, wait_for

NETWORK = Network(
    "LAB",
    broker=BrokerSettings(port=11883),
    devices=(Device("Temperature_Sensor", "TS1"), Device("Humidity_Sensor", "HS1")),
)


def _type_at_once(app: IotsimApp, keys: str) -> None:
    """Queue keys the way the terminal driver does when they arrive in one read."""
    for key in keys:
        app.post_message(events.Key(key, key))


def _main_screen_ready(app: IotsimApp) -> bool:
    screen = app.screen
    return isinstance(screen, MainScreen) and screen.device_id == "TS1"


async def test_keys_typed_right_after_u_land_in_the_subscribe_dialog(tmp_path: Path) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: _main_screen_ready(app), "the main screen")
        _type_at_once(app, "ucmd")

        def typed() -> bool:
            screen = app.screen
            fields = screen.query("#topic").results(Input)
            return isinstance(screen, SubscribeScreen) and any(f.value == "cmd" for f in fields)

        await wait_for(pilot, typed, "'cmd' in the subscribe dialog's topic box")


async def test_escape_typed_ahead_closes_the_dialog_and_later_keys_reach_the_main_screen(
    tmp_path: Path,
) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: _main_screen_ready(app), "the main screen")
        app.post_message(events.Key("u", "u"))
        app.post_message(events.Key("escape", None))
        app.post_message(events.Key("down", None))
        main = app.screen
        assert isinstance(main, MainScreen)

        def moved_on_the_main_screen() -> bool:
            return app.screen is main and main.device_id == "HS1"

        await wait_for(pilot, moved_on_the_main_screen, "Escape to close it, then Down to HS1")
        assert not any(isinstance(screen, SubscribeScreen) for screen in app.screen_stack)


async def test_a_focus_move_restyles_the_panes_not_the_whole_screen(tmp_path: Path) -> None:
    app = app_on(tmp_path, NETWORK, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: _main_screen_ready(app), "the main screen")
        restyled: list[int] = []
        update_nodes = app.stylesheet.update_nodes

        def counting(nodes: object, animate: bool = False) -> None:
            restyled.append(len(list(nodes)))  # type: ignore[call-overload]
            update_nodes(nodes, animate=animate)  # type: ignore[arg-type]

        app.stylesheet.update_nodes = counting  # type: ignore[method-assign]
        await pilot.press("p")  # the publish prompt, out of the tree's pane
        await pilot.press("escape")  # back to the tree
        await wait_for(pilot, lambda: isinstance(app.screen.focused, NetworkTree), "the tree")
        app.stylesheet.update_nodes = update_nodes  # type: ignore[method-assign]
        screen_size = len(list(app.screen.walk_children(with_self=True)))
        tree_pane = len(list(app.screen.query_one(NetworkTree).walk_children(with_self=True)))
        assert restyled, "moving the focus restyled nothing: the pane border would not change"
        assert max(restyled) <= tree_pane + 2 < screen_size


def test_dialog_modules_load_soon_after_the_first_frame(tmp_path: Path) -> None:
    # A fresh interpreter: this one has imported every dialog already.
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from iotsim_tui.tui.app import make_app\n"
        "DIALOGS = ('iotsim_tui.tui.screens.network_form', 'iotsim_tui.tui.screens.device_form',"
        " 'iotsim_tui.tui.screens.subscribe')\n"
        "async def main():\n"
        f"    app = make_app([], start_broker=False, log_file=Path({str(tmp_path)!r}) / 'log')\n"
        "    async with app.run_test(size=(120, 40)) as pilot:\n"
        "        before = ','.join(d for d in DIALOGS if d in sys.modules)\n"
        "        for _ in range(600):\n"
        "            if all(d in sys.modules for d in DIALOGS):\n"
        "                break\n"
        "            await pilot.pause(0.05)\n"
        "        return before, ','.join(d for d in DIALOGS if d in sys.modules)\n"
        "print(*asyncio.run(main()), sep='|')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    before, after = result.stdout.strip().splitlines()[-1].split("|")
    assert before == "", "dialogs were imported before the first frame"
    assert after.split(",") == [
        "iotsim_tui.tui.screens.network_form",
        "iotsim_tui.tui.screens.device_form",
        "iotsim_tui.tui.screens.subscribe",
    ]


async def test_the_collector_is_back_on_after_the_first_frame(tmp_path: Path) -> None:
    """The command line starts the app with the garbage collector off (faster start-up);
    the main screen turns it back on once it is drawn, or memory would grow for good."""
    gc.disable()
    try:
        app = app_on(tmp_path, NETWORK, start_broker=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: _main_screen_ready(app), "the main screen")
            await wait_for(pilot, gc.isenabled, "the collector on again")
    finally:
        gc.enable()
