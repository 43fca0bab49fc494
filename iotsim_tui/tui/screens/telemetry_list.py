"""The telemetry a device publishes, one line per topic: pick one to edit, add one, delete one.

Under the list, the numeric fields of what the device published lately on the highlighted
topic: a sparkline each and a larger chart of one (`c` picks the next), redrawn every second.
`ItemListScreen` is the same list for any of a device's items (its commands too)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from iotsim_tui.engine.events import Event, MessageKind, MessageOut
from iotsim_tui.explore.payloads import series
from iotsim_tui.profiles.model import Device, Telemetry, TelemetryFormat
from iotsim_tui.tui.screens._frame import DialogScreen
from iotsim_tui.tui.screens.telemetry import flatten
from iotsim_tui.tui.widgets.field_charts import FieldCharts
from iotsim_tui.words import counted

CHARTED = 120
"""The last payloads of a topic whose numbers are charted."""
CHART_SECONDS = 1.0
"""How often the charts are drawn again while the list is open."""

Published = Callable[[int], list[bytes]]
"""The payloads the device published lately for its telemetry number `index`, oldest first."""


def published_on(log: Iterable[Event], topic: str) -> list[bytes]:
    """The telemetry payloads in a device's `log` on `topic`, oldest first (the last CHARTED)."""
    payloads = [
        event.payload
        for event in log
        if isinstance(event, MessageOut)
        and event.kind is MessageKind.TELEMETRY
        and event.topic == topic
    ]
    return payloads[-CHARTED:]


ADD = "add"
"""The id of the last line, "Add a telemetry topic"."""


@dataclass(frozen=True)
class TelemetryChoice:
    """What the user chose: edit or delete item (telemetry) number `index`, or add one."""

    action: Literal["add", "edit", "delete"]
    index: int | None = None


def describe(telemetry: Telemetry) -> str:
    """One line about a telemetry: topic, interval, QoS, retain and what it carries."""
    count = len(flatten(telemetry.fields))
    values = counted(count, "value")
    if telemetry.format is TelemetryFormat.TEXT:
        values = f"text of {values}"
    retain = ", retained" if telemetry.retain else ""
    return (
        f"{telemetry.topic}  every {telemetry.interval:g} s, QoS {telemetry.qos}{retain}, {values}"
    )


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


class ItemListScreen(DialogScreen[TelemetryChoice | None]):
    """A device's items of one kind (telemetry topics, commands), one line each, and a last
    line to add one; dismisses with a `TelemetryChoice` (None: closed).

    Subclasses give `list_title`, `intro_text`, `lines` and `add_line`, and their own bindings.
    """

    AUTO_FOCUS = "#items"

    DEFAULT_CSS = """
    ItemListScreen OptionList {
        height: auto;
        max-height: 16;
    }
    """

    what = "item"
    """What one line is, in the warning when Delete finds none highlighted."""

    def __init__(self, device: Device, *, subject: str | None = None) -> None:
        super().__init__()
        self.device = device
        self.subject = subject or device.id
        """How the dialog names what it edits: the device's id, or "the template ..."."""

    def list_title(self) -> str:
        """The frame's title."""
        raise NotImplementedError

    def intro_text(self) -> str:
        """The line under the title."""
        raise NotImplementedError

    def lines(self) -> list[str]:
        """One line per item, in the device's order."""
        raise NotImplementedError

    add_line = "+ Add"
    keys_text = "Enter: edit · a: add · d: delete · Esc: close"
    """What the keys do, on the dialog's lower edge."""

    def compose(self) -> ComposeResult:
        """The items, and a last line to add one."""
        with self.frame(self.list_title(), self.keys_text):
            yield Static(self.intro_text(), classes="intro", markup=False)
            options = [Option(line, id=str(index)) for index, line in enumerate(self.lines())]
            options.append(Option(self.add_line, id=ADD))
            yield OptionList(*options, id="items")
            yield from self.below()

    def below(self) -> ComposeResult:
        """What the dialog shows under the list (nothing here)."""
        return iter(())

    def _highlighted(self) -> int | None:
        option_list = self.query_one(OptionList)
        if option_list.highlighted is None:
            return None
        option_id = option_list.get_option_at_index(option_list.highlighted).id
        return None if option_id in (None, ADD) else int(option_id)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id == ADD:
            self.dismiss(TelemetryChoice("add"))
        else:
            self.dismiss(TelemetryChoice("edit", int(event.option.id or 0)))

    def action_add(self) -> None:
        """Close, asking for a new item."""
        self.dismiss(TelemetryChoice("add"))

    def action_delete(self) -> None:
        """Close, asking to delete the highlighted item (the caller confirms)."""
        index = self._highlighted()
        if index is None:
            self.notify(f"Highlight the {self.what} to delete first.", severity="warning")
            return
        self.dismiss(TelemetryChoice("delete", index))

    def action_close(self) -> None:
        """Close without a choice."""
        self.dismiss(None)


class TelemetryListScreen(ItemListScreen):
    """The telemetry topics of `device`; dismisses with a `TelemetryChoice` (None: closed)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="telemetry_list.close", tooltip="Close"),
        Binding("a,n", "add", "Add", id="telemetry_list.add", tooltip="Add a telemetry topic"),
        Binding(
            "d,delete",
            "delete",
            "Delete",
            id="telemetry_list.delete",
            tooltip="Delete the highlighted telemetry (asks first)",
        ),
        Binding(
            "c",
            "next_field",
            "Chart field",
            id="telemetry_list.chart",
            tooltip="Chart the next numeric field of the telemetry in the large chart",
        ),
    ]

    DEFAULT_CSS = """
    TelemetryListScreen #charts-title { margin-top: 1; color: $text-muted; }
    TelemetryListScreen FieldCharts { height: auto; max-height: 18; }
    """

    what = "telemetry"
    add_line = "+ Add a telemetry topic"
    keys_text = "Enter: edit · a: add · d: delete · c: chart · Esc: close"

    def __init__(
        self, device: Device, *, subject: str | None = None, published: Published | None = None
    ) -> None:
        super().__init__(device, subject=subject)
        self.published = published
        """Where the charts' payloads come from; None: no charts (a template, say)."""

    def below(self) -> ComposeResult:
        """The charts of the highlighted topic's recent values."""
        if self.published is not None:
            yield Static("", id="charts-title")
            yield FieldCharts(id="telemetry-charts")

    def on_mount(self) -> None:
        if self.published is not None:
            self.chart()
            self.set_interval(CHART_SECONDS, self.chart)

    @on(OptionList.OptionHighlighted)
    def _topic_highlighted(self) -> None:
        if self.published is not None and self.is_mounted:
            self.chart()

    def charted(self) -> int:
        """The telemetry whose values are charted: the highlighted one, else the first."""
        return self._highlighted() or 0

    def chart(self) -> None:
        """Draw the charts of the charted telemetry's recent values again."""
        if self.published is None:
            return
        index = self.charted()
        payloads = self.published(index)
        topic = self.device.telemetry[index].topic
        said = f"published lately on {topic}: {counted(len(payloads), 'message')}"
        if not payloads:
            said += " (start the device, s, to see its values here)"
        self.query_one("#charts-title", Static).update(said)
        self.query_one(FieldCharts).show(series(payloads))

    def action_next_field(self) -> None:
        """Show the next numeric field in the larger chart."""
        if self.published is not None:
            self.query_one(FieldCharts).next_field()

    def list_title(self) -> str:
        """Telemetry of the device."""
        return f"Telemetry of {self.subject}"

    def intro_text(self) -> str:
        """How many topics."""
        topics = counted(len(self.device.telemetry), "topic")
        return f"{_capital(self.subject)} publishes {topics}. Choose one to edit, or add one."

    def lines(self) -> list[str]:
        """One line per telemetry topic."""
        return [describe(telemetry) for telemetry in self.device.telemetry]
