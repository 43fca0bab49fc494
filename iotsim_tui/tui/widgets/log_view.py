"""The lines of a device's log, drawn only where they are on screen.

A device keeps hundreds of events; selecting it must not format and draw them all (at about
a millisecond each, two hundred events held up the key that selected it by a quarter of a
second). Here an event becomes a line of text only when its row is drawn, and that line is
kept for the next time (the same event looks the same whichever device shows it).

Unwrapped, each event is one row: a newline in a payload reads as "↵", and a row cut at the
pane's edge ends in "…" (begins with it when scrolled sideways past its start). Wrapped, an event
takes as many rows as it needs at the pane's width, which means drawing every shown event
once when wrapping is switched on or the pane's width changes.

A cursor picks one event (`selected`), highlighted while the view has the focus: the newest
unless moved with the arrow keys or a click; the device log opens it in detail.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from iotsim_tui.engine.events import Event

MAX_ROWS_KEPT = 2000
"""Events the view holds; older ones leave from the top."""
TEXTS_KEPT = 4096
"""Formatted lines remembered across devices (a screen shows a few dozen)."""
CUT_MARK = "…"
"""Where a row goes on beyond the pane's edge (scroll sideways or wrap to read it)."""
STRIPS_KEPT = 512
"""Rows remembered as drawn, for the rows on screen and a little scrolling."""
CURSOR = Style(reverse=True)


class LogView(ScrollView, can_focus=True):
    """A scrolling view of events, each formatted by `line_of` when it is first drawn."""

    DEFAULT_CSS = """
    LogView { background: $surface; color: $foreground; overflow-y: scroll; }
    LogView:focus { background-tint: $foreground 5%; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "move_page(-1)", "Page up", show=False),
        Binding("pagedown", "move_page(1)", "Page down", show=False),
        Binding("home", "move(-1000000000)", "First", show=False),
        Binding("end", "newest", "Newest", show=False),
    ]

    class CursorMoved(Message):
        """The cursor went to another event; `newest` when it is back on the newest."""

        def __init__(self, control: LogView, *, newest: bool) -> None:
            super().__init__()
            self._control = control
            self.newest = newest

        @property
        def control(self) -> LogView:
            return self._control

    _texts: ClassVar[LRUCache[tuple[Callable[[Event], Text], Event], Text]] = LRUCache(TEXTS_KEPT)

    def __init__(self, line_of: Callable[[Event], Text], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._line_of = line_of
        self._events: list[Event] = []
        self._first = 0
        """The number of the first event held: numbers stay put as old events leave."""
        self._wrap = False
        self._rows: list[tuple[int, int]] = []
        """Wrapped: (event number, line of it) for each row."""
        self._wrapped: LRUCache[tuple[int, int], list[Strip]] = LRUCache(2 * MAX_ROWS_KEPT)
        self._cut: LRUCache[tuple[int, int, int], Strip] = LRUCache(STRIPS_KEPT)
        """(event number, scroll x, width) -> the unwrapped row as drawn: a new row moves
        the others up one, and each is then drawn again."""
        self._widest = 0
        self.follow = True
        """Keep the newest row in view as rows arrive."""
        self._cursor: int | None = None
        """The number of the chosen event; None: the newest, whichever it is."""

    @property
    def event_count(self) -> int:
        """How many events the view holds."""
        return len(self._events)

    @property
    def row_count(self) -> int:
        """How many rows those events take."""
        return len(self._rows) if self._wrap else len(self._events)

    @property
    def wrap(self) -> bool:
        """Wrap long lines at the pane's width (else cut, with sideways scrolling)."""
        return self._wrap

    @wrap.setter
    def wrap(self, wrap: bool) -> None:
        if wrap != self._wrap:
            self._wrap = wrap
            self._rows = []
            if wrap:
                self._wrap_rows(0)
            self._resized()

    @property
    def selected(self) -> Event | None:
        """The event the cursor is on (the newest unless moved); None when there is none."""
        if not self._events:
            return None
        return self._events[self._cursor_index()]

    def before_selected(self) -> list[Event]:
        """The events above the cursor, oldest first."""
        return self._events[: self._cursor_index()] if self._events else []

    def _cursor_index(self) -> int:
        last = len(self._events) - 1
        if self._cursor is None:
            return last
        return max(0, min(self._cursor - self._first, last))

    def action_move(self, step: int) -> None:
        """Move the cursor `step` events (up is negative)."""
        if not self._events:
            return
        index = max(0, min(self._cursor_index() + step, len(self._events) - 1))
        self._put_cursor(index)

    def action_move_page(self, pages: int) -> None:
        """Move the cursor a pane's height up or down."""
        self.action_move(pages * max(self.scrollable_content_region.height - 1, 1))

    def action_newest(self) -> None:
        """Back to the newest event (the cursor then stays on the newest as events arrive)."""
        if self._events:
            self._put_cursor(len(self._events) - 1)

    def _put_cursor(self, index: int) -> None:
        newest = index == len(self._events) - 1
        self._cursor = None if newest else self._first + index
        rows = self._rows_of(index)
        self.scroll_to_region(
            Region(self.scroll_offset.x, rows[0], 1, rows[1] - rows[0]),
            animate=False,
            immediate=True,
        )
        self.refresh()
        self.post_message(self.CursorMoved(self, newest=newest))

    def keep_newest(self) -> None:
        """Put the cursor on the newest event, where it stays as new ones arrive."""
        self._cursor = None
        self.refresh()

    def hold_cursor(self) -> None:
        """Keep the cursor on the event it is on, even when it is the newest."""
        if self._cursor is None and self._events:
            self._cursor = self._first + len(self._events) - 1

    def _rows_of(self, index: int) -> tuple[int, int]:
        """The first row of the event at `index`, and the row after its last."""
        if not self._wrap:
            return index, index + 1
        number = self._first + index
        start = bisect.bisect_left(self._rows, (number, 0))
        end = bisect.bisect_left(self._rows, (number + 1, 0))
        return start, max(end, start + 1)

    def on_click(self, event: events.Click) -> None:
        """A click puts the cursor on the event under the pointer."""
        row = self.scroll_offset.y + event.y
        if 0 <= row < self.row_count:
            number = self._rows[row][0] if self._wrap else self._first + row
            self._put_cursor(number - self._first)

    def replace(self, events: Iterable[Event]) -> None:
        """Show these events instead of the ones shown (the cursor goes to the newest)."""
        self._events = list(events)[-MAX_ROWS_KEPT:]
        self._first = 0
        self._cursor = None
        self._widest = 0
        self._wrapped.clear()
        self._cut.clear()
        self._rows = []
        if self._wrap:
            self._wrap_rows(0)
        self._resized()

    def extend(self, events: Iterable[Event]) -> None:
        """Add events at the bottom."""
        start = len(self._events)
        self._events.extend(events)
        if len(self._events) == start:
            return
        if self._wrap:
            self._wrap_rows(start)
        if len(self._events) > MAX_ROWS_KEPT + MAX_ROWS_KEPT // 10:
            self._drop_oldest(len(self._events) - MAX_ROWS_KEPT)
        self._resized()

    def text_of_rows(self) -> list[str]:
        """Every row's words, top to bottom (draws them all: for tests and copying out)."""
        return [self._row_strip(row).text for row in range(self.row_count)]

    def _drop_oldest(self, count: int) -> None:
        del self._events[:count]
        self._first += count
        if self._wrap:
            self._rows = [(n, line) for n, line in self._rows if n >= self._first]

    def _wrap_rows(self, start: int) -> None:
        for index in range(start, len(self._events)):
            number = self._first + index
            lines = self._wrapped_strips(number)
            self._rows.extend((number, line) for line in range(len(lines)))

    def _resized(self) -> None:
        width = self._content_width() if self._wrap else self._widest
        self._set_virtual_size(Size(width, self.row_count))
        if self.follow:
            # At the tail in the very next frame, so that it draws only the newest rows; then
            # the orderly way, which also moves the scrollbar, once the layout has the new size.
            self.set_scroll(None, self.max_scroll_y)
            self.scroll_end(animate=False, immediate=False, x_axis=False)
        self.refresh()

    def _content_width(self) -> int:
        return max(self.scrollable_content_region.width, 1)

    @classmethod
    def text_for(cls, event: Event, line_of: Callable[[Event], Text]) -> Text:
        """`line_of(event)`, remembered: formatting is most of what a row costs."""
        key = (line_of, event)
        text = cls._texts.get(key)
        if text is None:
            text = line_of(event)
            cls._texts[key] = text
        return text

    def _text(self, number: int) -> Text:
        return self.text_for(self._events[number - self._first], self._line_of)

    def _wrapped_strips(self, number: int) -> list[Strip]:
        width = self._content_width()
        key = (number, width)
        strips = self._wrapped.get(key)
        if strips is None:
            console = self.app.console
            options = console.options.update_width(width)
            lines = console.render_lines(self._text(number), options, pad=False)
            strips = Strip.from_lines(lines) or [Strip.blank(0)]
            self._wrapped[key] = strips
        return strips

    def _row_strip(self, row: int) -> Strip:
        if self._wrap:
            number, line = self._rows[row]
            return self._wrapped_strips(number)[line]
        text = self._text(self._first + row)
        if "\n" in text.plain:
            text = text.copy()
            text.plain = text.plain.replace("\n", "↵")
        segments = [s for s in text.render(self.app.console, end="") if s.text]
        strip = Strip(segments, text.cell_len)
        if strip.cell_length > self._widest:
            self._widest = strip.cell_length
            # Drawing is no time to change the layout: widen the scroll area just after.
            self.call_later(self._resized_keeping_place)
        return strip

    def _resized_keeping_place(self) -> None:
        self._set_virtual_size(Size(self._widest, self.row_count))

    def _set_virtual_size(self, size: Size) -> None:
        """Change what there is to scroll through without a layout of the whole screen.

        Setting `virtual_size` asks for one (about 50 ms with a thousand devices running,
        at each new row), yet this view's own size is its pane's whatever it holds: only
        its scrollbars change, and they are updated here.
        """
        if size == self.virtual_size:
            return
        if not self.is_mounted or not self.container_size:
            self.virtual_size = size
            return
        self.set_reactive(ScrollView.virtual_size, size)
        self._scroll_update(size)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        """The row at `y` on screen, cut to the pane."""
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        row = scroll_y + y
        if row >= self.row_count:
            return Strip.blank(width, self.rich_style)
        number = self._rows[row][0] if self._wrap else self._first + row
        chosen = self.has_focus and number - self._first == self._cursor_index()
        key = (number, scroll_x, width)
        if not self._wrap and (strip := self._cut.get(key)) is not None:
            return strip.apply_style(CURSOR) if chosen else strip
        full = self._row_strip(row)
        strip = full.crop_extend(scroll_x, scroll_x + width, self.rich_style)
        if not self._wrap:
            strip = _marked(strip, before=scroll_x > 0, after=full.cell_length > scroll_x + width)
        strip = strip.apply_style(self.rich_style)
        if not self._wrap:
            self._cut[key] = strip
        return strip.apply_style(CURSOR) if chosen else strip

    def notify_style_update(self) -> None:
        """Rows drawn in the old colours (before focus, a theme) are drawn again."""
        self._cut.clear()
        super().notify_style_update()

    def on_resize(self) -> None:
        """Wrapped rows follow the pane's width."""
        if self._wrap:
            self._rows = []
            self._wrap_rows(0)
            self._resized()


def _marked(strip: Strip, *, before: bool, after: bool) -> Strip:
    """The row with CUT_MARK in its first and last cell where it goes on past them."""
    width = strip.cell_length
    if width < 2 or not (before or after):
        return strip
    mark = Strip([Segment(CUT_MARK, Style(bold=True, dim=True))], 1)
    parts = [mark] if before else []
    parts.append(strip.crop(1 if before else 0, width - 1 if after else width))
    if after:
        parts.append(mark)
    return Strip.join(parts)
