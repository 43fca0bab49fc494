"""Opening dialogs from the main screen: nothing is left behind once they close."""

from __future__ import annotations

import gc
from pathlib import Path

from textual.widget import Widget

from iotsim_tui.profiles.model import Device, Network
from iotsim_tui.tui.screens.main import MainScreen
from tests.tui.pilot import app_on, wait_for

LAB = Network("LAB", devices=(Device("Temperature_Sensor", "TS1"),))


def _detached_widgets() -> list[Widget]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, Widget) and not o.is_attached]


async def test_closed_dialogs_leave_no_widgets_behind(tmp_path: Path) -> None:
    app = app_on(tmp_path, LAB, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        for key in ("c", "a", "c"):  # the first round warms Textual's caches
            await pilot.press(key)
            await wait_for(pilot, lambda: not isinstance(app.screen, MainScreen), f"{key} open")
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), f"{key} closed")
        before = len(_detached_widgets())
        for _ in range(3):
            # Not ?: Textual's DataTable stays in a bounded cache of its own for a while.
            for key in ("c", "a"):
                await pilot.press(key)
                await wait_for(pilot, lambda: not isinstance(app.screen, MainScreen), f"{key} open")
                await pilot.press("escape")
                await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), f"{key} closed")
        left = _detached_widgets()
    # Each open recomposes the main screen's footer: its old keys must go with the dialog.
    assert len(left) <= before, sorted({type(widget).__name__ for widget in left})
