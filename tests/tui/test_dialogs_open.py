"""Opening dialogs from the main screen: nothing is left behind once they close."""

from __future__ import annotations

import contextlib
import gc
import weakref
from pathlib import Path

import pytest
from rich.segment import ControlType, Segment
from rich.style import Style
from textual.color import Color
from textual.renderables.background_screen import BackgroundScreen
from textual.widget import Widget
from textual.widgets import Label
from textual.widgets._footer import FooterKey

from iotsim_tui.profiles.model import Device, Network
from iotsim_tui.tui.screens._form import FieldRow
from iotsim_tui.tui.screens._frame import DimmedScreen
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


async def test_the_settings_dialog_is_made_of_few_widgets(tmp_path: Path) -> None:
    # Each widget costs time when a dialog opens: a field is its row (which draws the label)
    # and its control, with no label widget or wrapper of its own.
    app = app_on(tmp_path, LAB, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        await pilot.press("c")
        await wait_for(pilot, lambda: app.screen.query("#host"), "the settings dialog")
        dialog = app.screen
        assert not dialog.query(Label)
        host_row = dialog.query_one("#host").parent
        assert isinstance(host_row, FieldRow)
        assert host_row.label == "Host"
        assert host_row.parent is dialog.query_one("#body")
        assert len(dialog.query("*")) <= 45


async def test_an_open_dialog_follows_the_terminal_when_it_is_resized(tmp_path: Path) -> None:
    # A dialog just shown skips laying itself out a second time at the size it already has;
    # a real resize still lays out the dialog and the screen under it.
    app = app_on(tmp_path, LAB, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        main = app.screen
        await pilot.press("c")
        await wait_for(pilot, lambda: app.screen.query("#host"), "the settings dialog")
        box = app.screen.query_one("#dialog")
        await wait_for(pilot, lambda: box.outer_size.width == 86, "the dialog at its width")
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: box.outer_size.width == 80, "the dialog at the new width")
        await wait_for(pilot, lambda: main.size == (80, 24), "the screen under it resized")
        assert box.outer_size.height <= 24


def test_the_screen_under_a_dialog_is_dimmed_as_textual_dims_it() -> None:
    # The dialog's backdrop keeps each style's tint; the cells must come out as Textual's own.
    tint = Color(10, 20, 30, 0.6)
    segments = [
        Segment("plain"),
        Segment("red on blue", Style(color="red", bgcolor="blue", bold=True)),
        Segment("link", Style(color="#336699", link="https://example.org")),
        Segment("action", Style.from_meta({"@click": "app.bell"}) + Style(bgcolor="#101010")),
        Segment("\x1b[2J", None, [(ControlType.CLEAR,)]),
        Segment("red again", Style(color="red", bgcolor="blue", bold=True)),
    ]
    for color in (tint, Color(0, 0, 0, 0)):
        for _ in range(2):  # worked out, then kept
            ours = list(DimmedScreen.process_segments(segments, color))
            textual = list(BackgroundScreen.process_segments(segments, color))
            assert ours == textual
