"""Lines of text in a pane of a fixed size, drawn only where they are on screen.

The topic tree's panes change at every key and every tick; a Static or a DataTable whose
content changes asks for a layout of the whole screen each time (tens of milliseconds with a
busy tree beside it). Here only the scrollbars change (`quiet_resize`), and the lines are
Rich Texts rendered to strips once, when shown. An optional cursor picks one line.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

CURSOR = Style(reverse=True)


def quiet_resize(view: ScrollView, size: Size) -> None:
    """Change what `view` scrolls through without a layout of the whole screen.

    Setting `virtual_size` asks for one; a view whose own size is its pane's, whatever it
    holds, needs only its scrollbars updated (as tui/widgets/log_view.py does).
    """
    if size == view.virtual_size:
        return
    if not view.is_mounted or not view.container_size:
        view.virtual_size = size
        return
    view.set_reactive(ScrollView.virtual_size, size)
    view._scroll_update(size)
    view.refresh()


class LinesView(ScrollView, can_focus=True):
    """Texts, one a line, cut at the pane's edge (scroll sideways for the rest)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("home", "move(-1000000)", "First", show=False),
        Binding("end", "move(1000000)", "Last", show=False),
    ]

    DEFAULT_CSS = """
    LinesView { background: $surface; overflow-y: auto; overflow-x: auto; }
    """

    class CursorMoved(Message):
        """The cursor went to another line (`row`)."""

        def __init__(self, control: LinesView, row: int) -> None:
            super().__init__()
            self._control = control
            self.row = row

        @property
        def control(self) -> LinesView:
            return self._control

    def __init__(self, *, with_cursor: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.with_cursor = with_cursor
        self.cursor = 0
        self.header: Text | None = None
        """A line that stays at the top, above the scrolling ones."""
        self._texts: list[Text] = []
        self._strips: dict[int, Strip] = {}
        self._style = Style()
        """The widget's own style, worked out once a drawing pass (`render_lines`)."""

    @property
    def line_count(self) -> int:
        """Lines held (the header not counted)."""
        return len(self._texts)

    @property
    def plain(self) -> str:
        """Every line as plain text (for tests and copying)."""
        return "\n".join(text.plain for text in self._texts)

    def show(self, texts: list[Text], *, keep_place: bool = False) -> None:
        """Show `texts`; the view goes back to the top unless `keep_place`."""
        self._texts = texts
        self._strips = {}
        self.cursor = min(self.cursor, max(len(texts) - 1, 0)) if keep_place else 0
        widest = max((text.cell_len for text in texts), default=0)
        quiet_resize(self, Size(widest, len(texts) + (self.header is not None)))
        if not keep_place:
            self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def action_move(self, step: int) -> None:
        if not self.with_cursor or not self._texts:
            return
        cursor = max(0, min(len(self._texts) - 1, self.cursor + step))
        if cursor == self.cursor:
            return
        self.cursor = cursor
        self.scroll_to_region(Region(0, cursor + (self.header is not None), 1, 1), animate=False)
        self.refresh()
        self.post_message(self.CursorMoved(self, cursor))

    def render_lines(self, crop: Region) -> list[Strip]:
        # `rich_style` walks every ancestor's styles (~0.1 ms): once a pass, not per line.
        style = self.rich_style
        if style != self._style:
            self._style = style
            self._strips = {}
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        if self.header is not None:
            if y == 0:
                return self._strip_of(self.header).crop_extend(
                    scroll_x, scroll_x + width, self._style
                )
            y -= 1
        index = scroll_y + y
        if index >= len(self._texts):
            return Strip.blank(width, self._style)
        strip = self._strips.get(index)
        if strip is None:
            strip = self._strips[index] = self._strip_of(self._texts[index])
        style = CURSOR if self.with_cursor and index == self.cursor and self.has_focus else None
        shown = strip.crop_extend(scroll_x, scroll_x + width, self._style)
        return shown.apply_style(CURSOR) if style is not None else shown

    def _strip_of(self, text: Text) -> Strip:
        segments = [s for s in text.render(self.app.console, end="") if s.text]
        return Strip(segments, text.cell_len).apply_style(self._style)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
