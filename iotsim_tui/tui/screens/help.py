"""The `?` screen: every key, what it does and where, with a search as you type."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from iotsim_tui.tui.screens._frame import DialogScreen

KeyHelp = tuple[str, str, str]
"""(key, what it does, where it applies), e.g. ("s", "Start or stop the device", "Devices")."""

KEY_NAMES = {"question_mark": "?", "slash": "/"}
WHERE_WIDTH = 27
"""The widest the "Where" column gets; the rest of the width is for what a key does."""


def typed_as_text(key: str) -> bool:
    """True for keys a text box takes as a character (they act only outside text boxes)."""
    return len(KEY_NAMES.get(key, key)) == 1


def key_help(place: str, bindings: Iterable[BindingType]) -> list[KeyHelp]:
    """Rows for the bindings that work in `place`.

    Keys that are characters say "(not typing)": in a text box they are typed as text.
    """
    rows: list[KeyHelp] = []
    for binding in bindings:
        if not isinstance(binding, Binding):
            continue
        where = f"{place} (not typing)" if typed_as_text(binding.key) else place
        key = KEY_NAMES.get(binding.key, binding.key)
        rows.append((key, binding.tooltip or binding.description, where))
    return rows


def matching(bindings: Sequence[KeyHelp], search: str) -> list[KeyHelp]:
    """The rows in which every word of `search` appears (any case, in any column)."""
    words = search.casefold().split()
    return [row for row in bindings if all(w in " ".join(row).casefold() for w in words)]


def every_key() -> list[KeyHelp]:
    """The rows of the `?` screen: the keys of the main screen, the device log, the broker
    console, the eavesdrop view and the network settings, then the app's own keys, which
    work on each of them."""
    from iotsim_tui.tui.app import IotsimApp
    from iotsim_tui.tui.screens.console import BrokerConsoleScreen
    from iotsim_tui.tui.screens.eavesdrop import EavesdropScreen
    from iotsim_tui.tui.screens.lessons import LessonsScreen
    from iotsim_tui.tui.screens.main import MainScreen
    from iotsim_tui.tui.screens.network_form import NetworkSettingsScreen
    from iotsim_tui.tui.screens.payload import PayloadScreen
    from iotsim_tui.tui.screens.topic_tree import topic_tree_keys
    from iotsim_tui.tui.widgets.console_messages import ConsoleMessages
    from iotsim_tui.tui.widgets.device_log import DeviceLog
    from iotsim_tui.tui.widgets.eavesdrop import EavesdropPane

    return [
        *key_help("main screen", MainScreen.BINDINGS),
        *key_help("device log", DeviceLog.BINDINGS),
        *key_help("broker console", [*BrokerConsoleScreen.BINDINGS, *ConsoleMessages.BINDINGS]),
        *key_help("message detail", PayloadScreen.BINDINGS),
        *topic_tree_keys(),
        *key_help("eavesdrop", [*EavesdropScreen.BINDINGS, *EavesdropPane.BINDINGS]),
        *key_help("network settings", NetworkSettingsScreen.BINDINGS),
        *key_help("TLS lessons", LessonsScreen.BINDINGS),
        *key_help("everywhere", [b for b in IotsimApp.BINDINGS if getattr(b, "show", True)]),
        ("ctrl+q", "Quit, from any screen", "everywhere"),
        ("tab / shift+tab", "Move between panes and fields", "everywhere"),
        ("ctrl+p", "Command palette: every action by name", "everywhere"),
    ]


class HelpScreen(DialogScreen[None]):
    """A table of the app's keys; typing filters it, Escape closes it."""

    AUTO_FOCUS = "#search"

    DEFAULT_CSS = """
    HelpScreen > #dialog {
        width: 96;
        height: 90%;
    }
    HelpScreen #search {
        margin-bottom: 1;
    }
    HelpScreen #keys {
        height: 1fr;
    }
    HelpScreen #count {
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="help.close", tooltip="Close the key list"),
        Binding("down", "focus_table", "Keys", show=False),
    ]

    def __init__(self, bindings: Sequence[KeyHelp]) -> None:
        super().__init__()
        self.key_help = list(bindings)

    def compose(self) -> ComposeResult:
        """A search field over the table of keys."""
        with self.frame("Keys", "type to search · ↓ to the table · Esc: close"):
            yield Input(placeholder="search keys and actions", id="search", compact=True)
            yield DataTable(id="keys", cursor_type="row", zebra_stripes=True)
            yield Static("", id="count")

    def on_resize(self) -> None:
        """Fit the columns to the new width, once the table has its size."""
        self.call_after_refresh(self._fit_columns)

    def _fit_columns(self) -> None:
        table = self.query_one("#keys", DataTable)
        rows = self.key_help or [("", "", "")]
        key_width = min(max(len(row[0]) for row in rows), 16)
        where_width = min(max(len(row[2]) for row in rows), WHERE_WIDTH)
        # Each column has one cell of padding on either side; the rest goes to "What it does".
        what_width = max(table.scrollable_content_region.width - key_width - where_width - 7, 20)
        table.clear(columns=True)
        table.add_column("Key", key="key", width=key_width)
        table.add_column("What it does", key="what", width=what_width)
        table.add_column("Where", key="where", width=where_width)
        self._show(matching(self.key_help, self.query_one("#search", Input).value))

    def _show(self, rows: list[KeyHelp]) -> None:
        table = self.query_one("#keys", DataTable)
        table.clear()
        widths = [column.width for column in table.ordered_columns]
        for row in rows:
            # Long texts wrap inside their cell instead of being cut at a narrow terminal.
            cells = [
                textwrap.wrap(text, width) or [""] for text, width in zip(row, widths, strict=False)
            ]
            height = max(len(lines) for lines in cells)
            table.add_row(*("\n".join(lines) for lines in cells), height=height)
        count = f"{len(rows)} of {len(self.key_help)} keys" if rows else "no key matches"
        if any(where.endswith("(not typing)") for _, _, where in rows):
            count += " · not typing: in a text box these keys are text (Esc leaves the box)"
        self.query_one("#count", Static).update(count)

    @on(Input.Changed, "#search")
    def _search(self, event: Input.Changed) -> None:
        self._show(matching(self.key_help, event.value))

    @on(Input.Submitted, "#search")
    def _to_table(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_focus_table()

    def action_focus_table(self) -> None:
        """Move from the search field to the table."""
        self.query_one("#keys", DataTable).focus()

    def action_close(self) -> None:
        """Close the key list."""
        self.dismiss(None)
