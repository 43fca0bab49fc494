"""The selected device's log: messages in and out, status changes, errors.

`enter` opens the message under the log's cursor in detail (`PayloadScreen`): its payload as
JSON, text, hex or base64, and diffed against the message before it on the same topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.highlighter import JSONHighlighter
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Input, Static

from iotsim_tui.engine.events import (
    DeviceError,
    Event,
    LogLine,
    MessageIn,
    MessageKind,
    MessageOut,
)
from iotsim_tui.engine.events import StatusChanged as DeviceStatusChanged
from iotsim_tui.tui.focus import focus_now
from iotsim_tui.tui.widgets.log_view import LogView
from iotsim_tui.tui.widgets.marks import STATUS_MARKS, clock, payload_preview

JSON_COLOURS = JSONHighlighter()


def log_line(event: Event) -> Text:
    """One event as it reads in the log: time, direction, topic, QoS, retain, payload."""
    line = Text(clock(event.at) + " ", style="dim")
    match event:
        case MessageIn() | MessageOut():
            incoming = isinstance(event, MessageIn)
            line.append(
                "← " if incoming else "→ ", style="bold cyan" if incoming else "bold magenta"
            )
            line.append(event.topic, style="bold")
            line.append(f"  q{event.qos}", style="dim")
            if event.retain:
                line.append(" retained", style="yellow")
            if isinstance(event, MessageIn) and event.unsolicited:
                line.append(" unsolicited", style="yellow")
            # Telemetry is what devices send most: only other kinds (a response to a
            # command, a message published by hand) are named, leaving room for the payload.
            if isinstance(event, MessageOut) and event.kind is not MessageKind.TELEMETRY:
                line.append(f" {event.kind.value}", style="dim")
            preview = payload_preview(event.payload, event.size)
            line.append("  ")
            if preview[:1] in ("{", "["):
                line.append(JSON_COLOURS(Text(preview)))
            else:
                line.append(preview)
        case DeviceStatusChanged():
            mark, style = STATUS_MARKS[event.status]
            line.append(f"{mark} {event.status.value}", style=style)
            # The engine's detail often just repeats the status ("stopped"): say it once.
            if event.detail and event.detail != event.status.value:
                line.append(f"  {event.detail}", style="dim")
        case DeviceError():
            line.append(f"✖ {event.message}", style="bold red")
        case LogLine():
            line.append(f"· {event.text}")
    return line


def message_title(event: MessageIn | MessageOut) -> str:
    """A message's line above its payload in detail: direction, device, topic, time, QoS."""
    incoming = isinstance(event, MessageIn)
    way = f"← {event.device_id} received" if incoming else f"→ {event.device_id} sent"
    title = f"{way} · {event.topic} · {clock(event.at)} · QoS {event.qos}"
    if event.retain:
        title += " · retained"
    if event.size > len(event.payload):
        title += f" · first {len(event.payload):,} of {event.size:,} bytes"
    return title


def previous_on_topic(event: MessageIn | MessageOut, before: Sequence[Event]) -> bytes | None:
    """The payload of the last message in `before` on `event`'s topic, the same way (in or
    out); None when there is none."""
    for earlier in reversed(before):
        if (
            isinstance(earlier, MessageIn | MessageOut)
            and type(earlier) is type(event)
            and earlier.topic == event.topic
        ):
            return earlier.payload
    return None


def matches(event: Event, needle: str) -> bool:
    """True when the filter text appears in the event's topic, payload or text (any case)."""
    if not needle:
        return True
    return needle.casefold() in LogView.text_for(event, log_line).plain.casefold()


class FilterBox(Input):
    """The log's filter box: Tab passes it by (to the log's lines, where f, F and v work).

    It takes the focus when asked for (`f`) or clicked, and keeps it until it loses it.
    """

    armed = False
    """True from `f` or a click until the box loses the focus."""

    def allow_focus(self) -> bool:
        return self.armed or self.has_focus

    def on_mouse_down(self) -> None:
        self.armed = True
        self.focus()

    def on_blur(self) -> None:
        self.armed = False


class DeviceLog(Vertical):
    """A bounded, filterable log of one device, following the tail unless told not to."""

    DEFAULT_CSS = """
    DeviceLog { height: 1fr; }
    DeviceLog > #log-title { height: 1; padding: 0 1; background: $boost; }
    DeviceLog > Horizontal { height: auto; }
    DeviceLog #log-filter { width: 1fr; }
    DeviceLog LogView { height: 1fr; scrollbar-size-horizontal: 0; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "F",
            "toggle_follow",
            "Follow or hold the log",
            id="log.follow",
            tooltip="Follow the newest lines, or hold the view still",
        ),
        Binding(
            "f",
            "focus_filter",
            "Filter the log",
            id="log.filter",
            tooltip="Show only lines that contain some text",
        ),
        Binding(
            "v",
            "toggle_wrap",
            "Wrap or cut long lines",
            id="log.wrap",
            tooltip="Wrap long lines, or cut them at the edge (← → scroll sideways)",
        ),
        Binding(
            "enter",
            "open_message",
            "Open the message",
            id="log.open",
            tooltip="The message under the cursor (↑ ↓ move it) in detail: JSON, text, hex, "
            "base64, or a diff with the one before on its topic",
        ),
    ]

    FOOTER_LABELS: ClassVar[dict[str, str]] = {
        "log.follow": "Follow",
        "log.filter": "Filter",
        "log.wrap": "Wrap",
        "log.open": "Open",
    }
    """Short footer words for the bindings above."""

    follow: reactive[bool] = reactive(True)
    """Scroll to each new line as it arrives."""
    wrap: reactive[bool] = reactive(False)
    """Wrap long lines; by default each message takes one line, cut at the pane's edge."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._events: Iterable[Event] = ()
        self._title = ""
        self._counts = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="log-title")
        with Horizontal():
            yield FilterBox(
                placeholder="filter the log (topic, payload, text)", id="log-filter", compact=True
            )
        yield LogView(log_line, id="log-lines")

    @property
    def needle(self) -> str:
        """The filter text."""
        return self.query_one("#log-filter", Input).value.strip()

    def show(self, title: str, events: Iterable[Event]) -> None:
        """Show another device's log from its kept events."""
        self._title = title
        self._counts = ""
        self._events = events
        self._render_title()
        self._rewrite()

    def add(self, events: Iterable[Event]) -> None:
        """Append new events of the shown device."""
        needle = self.needle
        self.query_one(LogView).extend(e for e in events if matches(e, needle))

    def _rewrite(self) -> None:
        needle = self.needle
        # Only the rows on screen are drawn: a device's whole kept log costs little here.
        self.query_one(LogView).replace(e for e in self._events if matches(e, needle))

    def set_counts(self, received: int, sent: int) -> None:
        """Show how many messages the device received and sent."""
        counts = f"↓{received} ↑{sent}"
        if counts != self._counts:
            self._counts = counts
            self._render_title()

    def _render_title(self) -> None:
        follow = "following" if self.follow else "held (F to follow)"
        if self.wrap:
            follow += " · wrapped"
        if self.needle:
            follow += f" · filter: {self.needle}"
        self.query_one("#log-title", Static).update(
            Text.assemble(
                (self._title or "no device selected", "bold"),
                (f"  {self._counts}" if self._counts else "", "dim"),
                f"  · {follow}",
            ),
            # One row high whatever it says: no layout of the whole screen for it.
            layout=False,
        )

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "log-filter":
            event.stop()
            self._rewrite()
            self._render_title()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "log-filter":
            event.stop()
            self.query_one(LogView).focus()

    def watch_follow(self, follow: bool) -> None:
        if not self.is_mounted:
            return
        lines = self.query_one(LogView)
        lines.follow = follow
        if follow:
            lines.keep_newest()
            lines.scroll_end(animate=False)
        else:
            lines.hold_cursor()  # new lines arrive below it, out of view
        self._render_title()

    def watch_wrap(self, wrap: bool) -> None:
        if not self.is_mounted:
            return
        self.query_one(LogView).wrap = wrap
        self._render_title()

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow

    def on_log_view_cursor_moved(self, event: LogView.CursorMoved) -> None:
        """Moving the cursor off the newest line holds the log; back on it, it follows."""
        self.follow = event.newest

    def action_open_message(self) -> None:
        """The message under the cursor, on a screen of its own."""
        from iotsim_tui.tui.screens.payload import PayloadScreen

        lines = self.query_one(LogView)
        event = lines.selected
        if not isinstance(event, MessageIn | MessageOut):
            self.notify(
                "That line is not a message: move to one with ↑ ↓, then Enter.",
                severity="warning",
            )
            return
        previous = previous_on_topic(event, lines.before_selected())
        self.app.push_screen(PayloadScreen(message_title(event), event.payload, previous))

    def action_focus_filter(self) -> None:
        box = self.query_one(FilterBox)
        box.armed = True
        focus_now(box)
