"""The topic tree as a list of rows drawn only where they are on screen.

The cursor follows a topic, not a row number: topics that arrive above it push it down with
the rows around it, so it never jumps to something else. The screen calls `update` once per
tick; between ticks nothing is drawn, however many messages arrive.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from iotsim_tui.explore.payloads import preview
from iotsim_tui.explore.tree import Row, TopicFilter, TopicNode, TopicTree, rows
from iotsim_tui.tui.widgets.lines_view import quiet_resize

UNFOLD_ALL_LIMIT = 2000
"""`*` unfolds at most this many levels at once (a fleet's tree has tens of thousands)."""

AUTO_UNFOLD_TOPICS = 200
"""Up to this many topics every level opens by itself; beyond, only the first."""

NAME = Style(bold=True)
COUNT = Style(color="cyan")
RATE = Style(color="green")
RETAINED = Style(color="yellow", bold=True)
PAYLOAD = Style(dim=True)
CURSOR = Style(reverse=True, bold=True)


def _key(key: str, action: str, text: str, tooltip: str, *, show: bool = True) -> Binding:
    return Binding(key, action, text, show=show, id=f"topics.{action}", tooltip=tooltip)


class TopicTreeView(ScrollView, can_focus=True):
    """Levels of the topic tree: name, messages, rate, retained mark, last payload."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor(-1000000000)", "First", show=False),
        Binding("end", "cursor(1000000000)", "Last", show=False),
        _key("right", "unfold", "Unfold", "Unfold the level (on an open one: to its first)"),
        _key("left", "fold", "Fold", "Fold the level (on a folded one: to the one above)"),
        _key("enter", "fold_or_unfold", "Fold/unfold", "Fold or unfold the level", show=False),
        _key("asterisk", "unfold_all", "Unfold all", "Unfold every level beneath", show=False),
    ]

    DEFAULT_CSS = """
    TopicTreeView { background: $surface; overflow-y: auto; }
    TopicTreeView:focus { background-tint: $foreground 5%; }
    """

    class Highlighted(Message):
        """The cursor moved to another level of the tree."""

        def __init__(self, control: TopicTreeView, node: TopicNode | None) -> None:
            super().__init__()
            self._control = control
            self.node = node

        @property
        def control(self) -> TopicTreeView:
            return self._control

    def __init__(
        self,
        tree: TopicTree,
        *,
        clock: Callable[[], float] = time.time,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.topics = tree
        self.clock = clock
        self.unfolded: set[str] = set()
        self.folded_by_hand: set[str] = set()
        """Top levels the user folded: they stay folded when new topics come."""
        self.wanted = TopicFilter("")
        self.rows: list[Row] = []
        self.cursor_path: str | None = None
        self.start_at: str | None = None
        """A topic to put the cursor on when it first shows up, unless a key moved it first."""
        self._shape = -1
        self._index: dict[str, int] = {}
        self._drawn: dict[tuple[int, int], tuple[str, Strip]] = {}
        """(row, width) -> the row's text and strip as last drawn (counts change only at a
        tick, when `_redraw_changed` redraws the rows whose text changed)."""
        self._now = clock()
        """The clock at the last drawing pass (the rates' second)."""
        self._counted = (-1, -1)
        """The tree's message count and the second at the last tick that redrew."""
        self._style = Style()
        """The widget's own style, worked out once a drawing pass (`render_lines`)."""

    # -- what is shown -------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        """Narrow the tree to topics matching `text` (an MQTT filter or free text)."""
        self.wanted = TopicFilter(text)
        self._shape = -1
        self.update()
        self._redraw()

    def update(self) -> None:
        """Take in what the tree learned since the last call, and redraw once (or not at all
        when no message came and the rates' second did not turn)."""
        counted = (self.topics.message_count, int(self.clock()))
        if self.start_at is not None and (node := self.topics.node(self.start_at)) is not None:
            self.start_at = None
            self.wanted = TopicFilter("") if not self.wanted.matches(node.path) else self.wanted
            step = node.parent
            while step is not None and step.parent is not None:
                self.unfolded.add(step.path)
                self.folded_by_hand.discard(step.path)
                step = step.parent
            self._shape = -1
            self.cursor_path = node.path
        if self._shape != self.topics.shape:
            self._shape = self.topics.shape
            self._unfold_new_levels()
            self._rebuild()
            self._counted = counted
            self._redraw()
        elif counted != self._counted:
            self._counted = counted
            self._redraw_changed()

    def _redraw_changed(self) -> None:
        """Redraw only the rows on screen whose text changed (a count, a rate, a payload).

        Under a flood every topic's count changes once a second, so a tick redraws about a
        quarter of the rows instead of the whole pane (which left less time for keys).
        """
        width = self.size.width
        top = self.scroll_offset.y
        self._now = self.clock()
        for index in range(top, min(top + self.size.height, len(self.rows))):
            drawn = self._drawn.get((index, width))
            if drawn is None:
                continue  # not drawn yet: it will be when it shows
            segments = self._segments(self.rows[index], width)
            if "".join(segment.text for segment in segments) != drawn[0]:
                self._drawn[(index, width)] = self._row_strip(index, width, segments)
                self.refresh_line(index)

    def _redraw(self) -> None:
        self._drawn.clear()
        self.refresh()

    def _unfold_new_levels(self) -> None:
        # A small tree opens whole, a large one its first level: what a network of a few
        # devices publishes shows at once, and ten thousand devices do not flood the rows.
        # The broker's own `$SYS` and the levels the user folded stay folded.
        whole = self.topics.topic_count <= AUTO_UNFOLD_TOPICS
        stack = list(self.topics.root.children.values())
        while stack:
            node = stack.pop()
            if node.name.startswith("$") or node.path in self.folded_by_hand:
                continue
            if node.children:
                self.unfolded.add(node.path)
            if whole:
                stack.extend(node.children.values())

    def _rebuild(self) -> None:
        old_index = self._index.get(self.cursor_path or "", None)
        self.rows = rows(self.topics, self.unfolded, self.wanted)
        self._index = {row.node.path: n for n, row in enumerate(self.rows)}
        quiet_resize(self, Size(self.size.width, len(self.rows)))
        if not self.rows:
            self._move_to(None)
            return
        new_index = self._index.get(self.cursor_path or "")
        if new_index is None:
            # Hidden by the filter, or nothing chosen yet: the nearest row still shown.
            self._move_to(self.rows[min(old_index or 0, len(self.rows) - 1)].node.path)
            return
        if old_index is not None and new_index != old_index:
            # Rows came above the cursor: scroll with them so that it stays where it was.
            self.scroll_to(
                y=self.scroll_offset.y + new_index - old_index, animate=False, immediate=True
            )

    @property
    def cursor(self) -> int:
        """The cursor's row, or -1 when the tree is empty."""
        return self._index.get(self.cursor_path or "", -1)

    @property
    def node(self) -> TopicNode | None:
        """The level the cursor is on."""
        index = self.cursor
        return self.rows[index].node if index >= 0 else None

    def _move_to(self, path: str | None) -> None:
        changed = path != self.cursor_path
        before = self.cursor
        self.cursor_path = path
        index = self.cursor
        top = self.scroll_offset.y
        if index >= 0:
            self.scroll_to_region(Region(0, index, 1, 1), animate=False, immediate=True)
        if self.scroll_offset.y == top:
            # Only the two rows the cursor left and reached change.
            for row in (before, index):
                if row >= 0:
                    self._drawn.pop((row, self.size.width), None)
                    self.refresh_line(row)
        else:
            self._redraw()
        if changed:
            self.post_message(self.Highlighted(self, self.node))

    # -- keys ----------------------------------------------------------------------------

    def action_cursor(self, step: int) -> None:
        self.start_at = None
        if not self.rows:
            return
        index = max(0, min(len(self.rows) - 1, max(self.cursor, 0) + step))
        self._move_to(self.rows[index].node.path)

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(self.size.height - 1, 1))

    def action_unfold(self) -> None:
        node = self.node
        if node is None or not node.children:
            return
        self.folded_by_hand.discard(node.path)
        if node.path in self.unfolded:
            self.action_cursor(1)  # already open: on to its first child
            return
        self.unfolded.add(node.path)
        self._rebuild()
        self._redraw()

    def action_fold(self) -> None:
        node = self.node
        if node is None:
            return
        if node.path in self.unfolded and node.children:
            self.unfolded.discard(node.path)
            self.folded_by_hand.add(node.path)
            self._rebuild()
            self._redraw()
        elif node.parent is not None and node.parent.parent is not None:
            self._move_to(node.parent.path)

    def action_fold_or_unfold(self) -> None:
        node = self.node
        if node is not None and node.path in self.unfolded:
            self.action_fold()
        else:
            self.action_unfold()

    def action_unfold_all(self) -> None:
        node = self.node
        if node is None:
            return
        stack, opened = [node], 0
        while stack and opened < UNFOLD_ALL_LIMIT:
            step = stack.pop()
            if step.children:
                self.unfolded.add(step.path)
                opened += 1
                stack.extend(step.children.values())
        if stack:
            self.notify(f"Unfolded the first {UNFOLD_ALL_LIMIT:,} levels only.")
        self._rebuild()
        self._redraw()

    # -- drawing -------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # `rich_style` walks every ancestor's styles (~0.1 ms): once a pass, not twice a row.
        style = self.rich_style
        if style != self._style:
            self._style = style
            self._drawn.clear()
        self._now = self.clock()
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.size.width
        if index >= len(self.rows):
            return Strip.blank(width, self._style)
        key = (index, width)
        drawn = self._drawn.get(key)
        if drawn is None:
            drawn = self._drawn[key] = self._row_strip(index, width)
        return drawn[1]

    def _row_strip(
        self, index: int, width: int, segments: list[Segment] | None = None
    ) -> tuple[str, Strip]:
        if segments is None:
            segments = self._segments(self.rows[index], width)
        text = "".join(segment.text for segment in segments)
        if index == self.cursor:
            return text, Strip([Segment(text, CURSOR)]).crop_extend(0, width, CURSOR)
        strip = Strip(segments).apply_style(self._style).crop_extend(0, width, self._style)
        return text, strip

    def _segments(self, row: Row, width: int) -> list[Segment]:
        mark = "▸ " if row.folded else ("▾ " if row.node.children else "  ")
        segments = [Segment("  " * row.depth + mark), Segment(row.node.name or "(empty)", NAME)]
        count = f" {node_count(row.node)}"
        rate = row.node.rate(self._now)
        segments.append(Segment(count, COUNT))
        if rate:
            segments.append(Segment(f" {rate}/s", RATE))
        if row.node.retained:
            segments.append(Segment(" R", RETAINED))
        used = sum(len(s.text) for s in segments)
        last = row.node.last
        if last is not None and width - used > 8:
            segments.append(Segment(" = " + preview(last.payload, width - used - 3), PAYLOAD))
        return segments


def node_count(node: TopicNode) -> str:
    """Messages, and topics beneath when the level is not a topic alone."""
    if node.children:
        return f"({node.topics:,} topics, {node.count:,} msgs)"
    return f"({node.count:,})"
