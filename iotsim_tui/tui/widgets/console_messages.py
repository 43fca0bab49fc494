"""The broker console's messages: the latest that flowed through the broker, newest first.

The console reads them with a client of its own subscribed to `#` (engine/traffic.py), so
they come from the bundled broker or any other. A bounded number is kept (`KEPT`), each with
the payload of the message before it on the same topic, so that `enter` opens one in detail
(`PayloadScreen`) with the same views as the topic tree and its diff. Above the list, the
network's messages per second as a chart.
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar, NamedTuple

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from iotsim_tui.explore.payloads import preview
from iotsim_tui.explore.tree import Seen
from iotsim_tui.tui.widgets.lines_view import LinesView
from iotsim_tui.tui.widgets.marks import clock
from iotsim_tui.tui.widgets.rate_chart import RateChart

KEPT = 500
"""Messages the list holds; older ones leave."""
PAYLOAD_BYTES = 4096
"""Bytes of each payload kept (the whole size is shown)."""
TOPICS_REMEMBERED = 2000
"""Topics whose last payload is remembered for the diff; past it, the memory starts again."""
WIDE = 110
"""From this width on, topics get a wider column."""


def header(topic_width: int) -> str:
    """The line above the messages, for a topic column `topic_width` wide."""
    return f"{'time':<12}  {'topic':<{topic_width}}  QoS  R  {'bytes':>7}  payload"


class Received(NamedTuple):
    """A message seen, and the payload of the one before it on its topic (None: none seen)."""

    seen: Seen
    previous: bytes | None


def message_title(seen: Seen) -> str:
    """A message's line above its payload in detail."""
    title = f"{seen.topic} · {clock(seen.at)} · QoS {seen.qos}"
    if seen.retain:
        title += " · retained"
    if seen.cut:
        title += f" · first {len(seen.payload):,} of {seen.size:,} bytes"
    return title


def message_line(seen: Seen, width: int) -> Text:
    """One message in the list, `width` cells at most: time, topic, QoS, retain, size and as
    much of the payload as fits."""
    topic_width = 28 if width >= WIDE else 18
    topic = seen.topic if len(seen.topic) <= topic_width else seen.topic[: topic_width - 1] + "…"
    line = Text(f"{clock(seen.at):<12}  ", style="dim", no_wrap=True, end="")
    line.append(f"{topic:<{topic_width}}", style="bold")
    line.append(f"  {seen.qos:^3}  {'R' if seen.retain else ' '}  {seen.size:>7,}  ")
    line.append(preview(seen.payload, max(width - line.cell_len, 8)))
    return line


class ConsoleMessages(Vertical):
    """The latest messages on the broker, newest first, and their rate."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "open_message",
            "Open the message",
            id="console.open",
            tooltip="The message under the cursor (↑ ↓ move it) in detail: JSON, text, hex, "
            "base64, or a diff with the one before on its topic",
        ),
    ]

    DEFAULT_CSS = """
    ConsoleMessages { height: 1fr; }
    ConsoleMessages > Horizontal { height: 1; }
    ConsoleMessages #rate-label { width: auto; padding: 0 1; color: $text-muted; }
    ConsoleMessages LinesView { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.kept: deque[Received] = deque(maxlen=KEPT)
        """Oldest first."""
        self.total = 0
        """Messages seen since the console opened."""
        self.status = "not connected"
        self._last: dict[str, bytes] = {}
        self._changed = False
        self._shown: list[Received] = []
        """As drawn: newest first."""
        self._lines: dict[Received, Text] = {}
        self._width = 0
        """The lines as drawn at this width: under a flood, most are drawn again unchanged."""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static("messages per second on the broker", id="rate-label")
            yield RateChart(id="message-rate")
        yield LinesView(with_cursor=True, id="console-messages")

    def on_mount(self) -> None:
        self._title()

    def on_resize(self) -> None:
        self._changed = True  # the lines follow the width

    def add(self, batch: list[Seen]) -> None:
        """Messages that arrived, oldest first (drawn at the next `redraw`)."""
        for seen in batch:
            previous = self._last.get(seen.topic)
            if previous is None and len(self._last) >= TOPICS_REMEMBERED:
                self._last.clear()
            self._last[seen.topic] = seen.payload
            self.kept.append(Received(seen, previous))
        self.total += len(batch)
        self._changed = self._changed or bool(batch)

    def redraw(self, now: float) -> None:
        """The rate, and the list when messages arrived; the cursor stays on the message it
        is on (unless on the newest, where it follows the new ones)."""
        self.query_one(RateChart).count(self.total, now)
        self._title()
        if not self._changed:
            return
        self._changed = False
        view = self.query_one(LinesView)
        shown = list(reversed(self.kept))
        hold = view.has_focus and 0 < view.cursor < len(self._shown)
        if hold and (chosen := self._shown[view.cursor]) in shown:
            view.cursor = shown.index(chosen)
        self._shown = shown
        width = view.scrollable_content_region.width
        if width != self._width:
            self._width, self._lines = width, {}
            view.header = Text(header(28 if width >= WIDE else 18), style="bold", end="")
        drawn = self._lines
        self._lines = {r: drawn.get(r) or message_line(r.seen, width) for r in shown}
        view.show([self._lines[received] for received in shown], keep_place=hold)

    def _title(self) -> str:
        title = f"Messages on the broker · {len(self.kept):,} of the last {KEPT} · {self.status}"
        if self.border_title != title:
            self.border_title = title
        return title

    @property
    def selected(self) -> Received | None:
        """The message under the cursor (the newest unless moved)."""
        if not self._shown:
            return None
        cursor = self.query_one(LinesView).cursor
        return self._shown[min(cursor, len(self._shown) - 1)]

    def action_open_message(self) -> None:
        """The message under the cursor, on a screen of its own."""
        from iotsim_tui.tui.screens.payload import PayloadScreen

        received = self.selected
        if received is None:
            self.notify("No message has flowed through the broker yet.", severity="warning")
            return
        seen = received.seen
        self.app.push_screen(PayloadScreen(message_title(seen), seen.payload, received.previous))
