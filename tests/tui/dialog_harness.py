"""A tiny app that opens one dialog, so each dialog is tested the way the app uses it."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from textual import events
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, Static

from tests.tui.pilot import settle

_SVG_TEXT = re.compile(r'<text class="[^"]*-r\d+" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>')
_CELL_WIDTH, _LINE_HEIGHT, _FIRST_LINE = 12.2, 24.4, 20


class DialogApp(App[None]):
    """Pushes `dialog` with a callback, like the app does, and keeps what it dismissed with."""

    def __init__(self, dialog: Screen[Any]) -> None:
        super().__init__()
        self.dialog = dialog
        self.results: list[Any] = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.results.append)


@asynccontextmanager
async def open_dialog(
    dialog: Screen[Any], size: tuple[int, int] = (100, 40)
) -> AsyncIterator[tuple[DialogApp, Pilot[None]]]:
    """Run a `DialogApp` headless with `dialog` open."""
    app = DialogApp(dialog)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        yield app, pilot


async def type_into(pilot: Pilot[None], selector: str, text: str) -> None:
    """Focus the input and put `text` over what it holds ("" clears it).

    The text arrives as a terminal paste: one event instead of a keypress per character,
    which keeps the tests quick on a loaded machine. `pilot.press` types key by key.
    """
    widget = pilot.app.screen.query_one(selector, Input)
    widget.focus()
    await settle(pilot)
    await pilot.press("end", "shift+home")  # select everything, so the text replaces it
    if text:
        widget.post_message(events.Paste(text))
    else:
        await pilot.press("backspace")
    await settle(pilot)


async def paste(pilot: Pilot[None], text: str) -> None:
    """Paste `text` into the focused input, as a terminal does (one event for the text)."""
    focused = pilot.app.screen.focused
    assert isinstance(focused, Input), f"the focus is on {focused!r}, not on a text field"
    focused.post_message(events.Paste(text))
    await settle(pilot)


async def toggle(pilot: Pilot[None], selector: str) -> None:
    """Focus a toggle or switch and press space on it."""
    pilot.app.screen.query_one(selector).focus()
    await settle(pilot)
    await pilot.press("space")
    await settle(pilot)


def error_under(app: App[Any], control_id: str) -> str:
    """The error shown under a field, or "" when none is visible."""
    line = next(app.screen.query(f"#{control_id}-error").results(Static), None)
    return str(line.content) if line is not None and "-shown" in line.classes else ""


def screen_text(app: App[Any]) -> str:
    """What a user sees on the terminal, as lines of text (read from a screenshot)."""
    rows: dict[int, dict[int, str]] = {}
    for match in _SVG_TEXT.finditer(app.export_screenshot()):
        column = round(float(match.group(1)) / _CELL_WIDTH)
        row = round((float(match.group(2)) - _FIRST_LINE) / _LINE_HEIGHT)
        text = html.unescape(match.group(3)).replace("\xa0", " ")
        cells = rows.setdefault(row, {})
        for offset, char in enumerate(text):
            cells[column + offset] = char
    lines = []
    for row in range(max(rows, default=-1) + 1):
        cells = rows.get(row, {})
        width = max(cells, default=-1) + 1
        lines.append("".join(cells.get(column, " ") for column in range(width)).rstrip())
    return "\n".join(lines)
