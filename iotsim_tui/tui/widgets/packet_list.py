"""The eavesdrop view's packet list: one line per packet, like a sniffer's, drawn line by line.

Only the lines on screen are drawn, and a packet past the list's limit leaves from the top in
constant time, so a list that keeps filling at thousands of packets a second costs no more
than a short one. (A `DataTable` re-indexes every row when one is removed: at its limit of
5,000 rows each new packet cost tens of milliseconds, and a busy network froze the screen.)

Packets are known by their running number (the `No.` column), which never changes, so the
cursor stays on the same packet while older ones leave.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from iotsim_tui.wiretap import Direction, WireItem

COLUMNS: tuple[tuple[str, int], ...] = (
    ("No.", 7),
    ("Time", 13),
    ("Dir", 8),
    ("Protocol", 9),
    ("Summary", 0),
)
"""Column titles and widths in cells (0: the rest of the line)."""


def packet_cells(number: int, item: WireItem) -> tuple[Text, ...]:
    """The cells of one packet's line: number, time, direction, protocol, summary."""
    clock = time.strftime("%H:%M:%S", time.localtime(item.at)) + f".{int(item.at % 1 * 1000):03d}"
    arrow_style = "bold magenta" if item.direction is Direction.TO_BROKER else "bold cyan"
    style = {"MQTT": "bold yellow", "TLS": "bold green", "TCP": "dim"}.get(item.protocol, "red")
    return (
        Text(str(number), style="dim"),
        Text(clock, style="dim"),
        Text(f"#{item.connection} {item.direction.arrow}", style=arrow_style),
        Text(item.protocol, style=style),
        Text(item.summary, style="bold red" if item.exposed else ""),
    )


def header_line() -> Text:
    """The column titles, aligned with the lines of `packet_line`."""
    return _join(Text(title) for title, _ in COLUMNS)


def packet_line(number: int, item: WireItem) -> Text:
    """One packet's line, its cells cut or padded to the columns' widths."""
    return _join(packet_cells(number, item))


def _join(cells: Iterable[Text]) -> Text:
    line = Text(no_wrap=True, end="")
    for cell, (_, width) in zip(cells, COLUMNS, strict=True):
        if width:
            cell.truncate(width - 1, overflow="ellipsis", pad=True)
            cell.append(" ")
        line.append_text(cell)
    return line


class PacketList(ScrollView, can_focus=True):
    """Packets in arrival order under a cursor; the oldest leave past `max_rows`."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"packet-list--cursor"}

    DEFAULT_CSS = """
    PacketList { background: $surface; overflow-x: hidden; overflow-y: scroll; }
    PacketList > .packet-list--cursor { background: $block-cursor-blurred-background; }
    PacketList:focus { background-tint: $foreground 5%; }
    PacketList:focus > .packet-list--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Previous packet", show=False, id="packets.up"),
        Binding("down,j", "cursor(1)", "Next packet", show=False, id="packets.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="packets.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="packets.page_down"),
        Binding("home,ctrl+home", "first", "Oldest packet", show=False, id="packets.first"),
        Binding("end,ctrl+end", "last", "Newest packet", show=False, id="packets.last"),
    ]

    class Highlighted(Message):
        """The user moved the cursor onto a packet (keys or mouse)."""

        def __init__(self, packet_list: PacketList, number: int) -> None:
            super().__init__()
            self.packet_list = packet_list
            self.number = number
            """The packet's running number."""

        @property
        def control(self) -> PacketList:
            """The list whose cursor moved."""
            return self.packet_list

    def __init__(self, *, max_rows: int, id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_rows = max_rows
        self._items: deque[WireItem] = deque()
        self._first = 1
        """The running number of the oldest packet kept."""
        self.cursor: int | None = None
        """The running number of the highlighted packet; None while the list is empty."""
        self._lines: LRUCache[int, Strip] = LRUCache(1024)

    @property
    def row_count(self) -> int:
        """Packets in the list."""
        return len(self._items)

    @property
    def oldest(self) -> int | None:
        """The running number of the oldest packet kept."""
        return self._first if self._items else None

    @property
    def newest(self) -> int | None:
        """The running number of the newest packet."""
        return self._first + len(self._items) - 1 if self._items else None

    def item(self, number: int | None) -> WireItem | None:
        """The packet with this running number, if it is still in the list."""
        if number is None or not self._first <= number < self._first + len(self._items):
            return None
        return self._items[number - self._first]

    def text(self, number: int) -> str:
        """The plain text of one packet's line (for tests and copying)."""
        item = self.item(number)
        return packet_line(number, item).plain.rstrip() if item is not None else ""

    def append(self, items: list[WireItem]) -> int:
        """Add packets at the bottom; returns how many of the oldest left to make room."""
        self._items.extend(items)
        dropped = max(len(self._items) - self.max_rows, 0)
        for _ in range(dropped):
            self._items.popleft()
        self._first += dropped
        if self.cursor is not None and self.cursor < self._first:
            self.cursor = self._first
        if self.cursor is None and self._items:
            self.cursor = self._first
        self.virtual_size = Size(self.size.width, len(self._items))
        self.refresh()
        return dropped

    def move_cursor(self, number: int, *, scroll: bool = True) -> None:
        """Highlight a packet (clamped to the list) and, with `scroll`, bring it into view."""
        newest = self.newest
        if newest is None:
            return
        self.cursor = min(max(number, self._first), newest)
        if scroll:
            self._scroll_to_cursor()
        self.refresh()

    def _scroll_to_cursor(self) -> None:
        if self.cursor is None:
            return
        row = self.cursor - self._first
        height = max(self.scrollable_content_region.height, 1)
        if row < self.scroll_y:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= self.scroll_y + height:
            self.scroll_to(y=row - height + 1, animate=False, immediate=True)

    def _user_moves(self, number: int) -> None:
        before = self.cursor
        self.move_cursor(number)
        if self.cursor is not None and self.cursor != before:
            self.post_message(self.Highlighted(self, self.cursor))

    def action_cursor(self, step: int) -> None:
        """Move the cursor `step` packets down (negative: up)."""
        if self.cursor is not None:
            self._user_moves(self.cursor + step)

    def action_page(self, pages: int) -> None:
        """Move the cursor a screenful down (negative: up)."""
        if self.cursor is not None:
            height = max(self.scrollable_content_region.height - 1, 1)
            self._user_moves(self.cursor + pages * height)

    def action_first(self) -> None:
        """Highlight the oldest packet."""
        if self._items:
            self._user_moves(self._first)

    def action_last(self) -> None:
        """Highlight the newest packet."""
        newest = self.newest
        if newest is not None:
            self._user_moves(newest)

    def on_click(self, event: events.Click) -> None:
        """Highlight the packet under the mouse."""
        offset = event.get_content_offset(self)
        if offset is not None and self._items:
            self.focus()
            self._user_moves(self._first + int(self.scroll_y) + offset.y)

    def notify_style_update(self) -> None:
        """Styles changed (theme, focus): lines are drawn again."""
        super().notify_style_update()
        self._lines.clear()

    def render_line(self, y: int) -> Strip:
        """Draw the line `y` cells from the top of the view."""
        width = self.scrollable_content_region.width
        base = self.rich_style
        number = self._first + int(self.scroll_y) + y
        item = self.item(number)
        if item is None:
            return Strip.blank(width, base)
        if number == self.cursor:
            cursor = self.get_component_rich_style("packet-list--cursor")
            line = packet_line(number, item)
            line.stylize(cursor)
            return self._strip(line, base + cursor, width)
        strip = self._lines.get(number)
        if strip is None:
            strip = self._lines[number] = self._strip(packet_line(number, item), base, None)
        return strip.crop_extend(0, width, base)

    def _strip(self, line: Text, style: Style, width: int | None) -> Strip:
        line.stylize_before(style)
        strip = Strip(line.render(self.app.console), line.cell_len)
        return strip if width is None else strip.crop_extend(0, width, style)
