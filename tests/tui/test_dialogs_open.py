"""Opening dialogs from the main screen: nothing is left behind once they close."""

from __future__ import annotations

import contextlib
import gc
import weakref
from pathlib import Path

import pytest
from textual.widget import Widget
from textual.widgets._footer import FooterKey

from iotsim_tui.profiles.model import Device, Network
from iotsim_tui.tui.screens.main import MainScreen
from tests.tui.pilot import app_on, wait_for

LAB = Network("LAB", devices=(Device("Temperature_Sensor", "TS1"),))


@pytest.mark.slow
async def test_closed_dialogs_leave_no_widgets_behind(tmp_path: Path) -> None:
    app = app_on(tmp_path, LAB, start_broker=False)
    made: list[weakref.ref[Widget]] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        main = app.screen
        for _ in range(3):
            for key in ("c", "a"):
                made.extend(weakref.ref(k) for k in main.query(FooterKey))
                await pilot.press(key)
                await wait_for(pilot, lambda: app.screen is not main, f"{key} open")
                made.extend(weakref.ref(w) for w in app.screen.query("*"))
                made.extend(weakref.ref(k) for k in main.query(FooterKey))
                await pilot.press("escape")
                await wait_for(pilot, lambda: app.screen is main, f"{key} closed")

        def left_behind() -> list[Widget]:
            gc.collect()
            return [w for ref in made if (w := ref()) is not None and not w.is_attached]

        # A closed dialog's timers and messages may hold its widgets for a few more turns
        # of the loop; what is still held after that is kept for good (the main screen's
        # footer is rebuilt as dialogs come and go: its old keys must go too).
        with contextlib.suppress(AssertionError):
            await wait_for(pilot, lambda: not left_behind(), "the widgets to go", limit=10)
        left = left_behind()
    assert not left, sorted({type(widget).__name__ for widget in left})
