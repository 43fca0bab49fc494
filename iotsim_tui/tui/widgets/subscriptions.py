"""The selected device's subscribed topics: filter, QoS, since, count, last payload."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable

from iotsim_tui.tui.widgets.marks import one_line, since


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    """What the table shows of one subscription."""

    filter: str
    qos: int
    since: float | None
    """When it was subscribed (time.time()), None while the device is not subscribed."""
    count: int
    last_payload: bytes | None


FIXED_COLUMNS = (("QoS", 3), ("since", 5), ("count", 5))
PADDING = 2
"""Cells of padding the table puts around each column."""


def flexible_widths(width: int) -> tuple[int, int]:
    """Widths of the topic filter and last payload columns in a table `width` columns wide."""
    rest = width - PADDING * 5 - sum(w for _, w in FIXED_COLUMNS)
    topic = max(rest * 3 // 5, 12)
    return topic, max(rest - topic, 8)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class SubscriptionsTable(DataTable[str]):
    """A table that redraws only when its rows change, fitted to its width; `x` asks to
    unsubscribe the device from the topic filter under the cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "x",
            "unsubscribe",
            "Unsubscribe",
            id="subscriptions.unsubscribe",
            tooltip="Unsubscribe the device from the selected topic filter",
        ),
    ]

    class UnsubscribeAsked(Message):
        """The user asked to unsubscribe from `topic_filter` (as the table shows it)."""

        def __init__(self, control: SubscriptionsTable, topic_filter: str) -> None:
            super().__init__()
            self._control = control
            self.topic_filter = topic_filter

        @property
        def control(self) -> SubscriptionsTable:
            """The table the request came from."""
            return self._control

    DEFAULT_CSS = """
    SubscriptionsTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._rows: tuple[SubscriptionRow, ...] = ()
        self._now = 0.0
        self._widths = (0, 0)
        self._shown: tuple[tuple[str, ...], ...] = ()
        self._set_columns(flexible_widths(60))

    def _set_columns(self, widths: tuple[int, int]) -> None:
        # Fixed widths: the table redraws often and must not jump about as values change.
        self._widths = widths
        self.clear(columns=True)
        self.add_column("topic filter", width=widths[0])
        for label, width in FIXED_COLUMNS:
            self.add_column(label, width=width)
        self.add_column("last payload", width=widths[1])
        self._shown = ()

    def show(self, rows: Sequence[SubscriptionRow], now: float) -> None:
        """Replace the rows, unless nothing a user would see has changed."""
        self._rows, self._now = tuple(rows), now
        topic_width, payload_width = self._widths
        cells = tuple(
            (
                _cut(row.filter, topic_width),
                str(row.qos),
                since(row.since, now) if row.since is not None else "—",
                str(row.count),
                one_line(row.last_payload, payload_width),
            )
            for row in rows
        )
        if cells == self._shown:
            return
        if len(cells) == len(self._shown):
            # The same subscriptions with new counts or a new "since": only those cells.
            for number, (row_cells, shown_cells) in enumerate(zip(cells, self._shown, strict=True)):
                for column, (cell, shown) in enumerate(zip(row_cells, shown_cells, strict=True)):
                    if cell != shown:
                        self.update_cell_at(Coordinate(number, column), cell)
            self._shown = cells
            return
        self._shown = cells
        self.clear()
        for number, row_cells in enumerate(cells):
            self.add_row(*row_cells, key=str(number))

    def action_unsubscribe(self) -> None:
        """Ask to unsubscribe from the topic filter under the cursor."""
        if 0 <= self.cursor_row < len(self._rows):
            self.post_message(self.UnsubscribeAsked(self, self._rows[self.cursor_row].filter))

    def on_resize(self, event: events.Resize) -> None:
        """Give the new width to the topic filter and last payload columns."""
        widths = flexible_widths(event.size.width - 2)  # room for a vertical scrollbar
        if widths != self._widths:
            self._set_columns(widths)
            self.show(self._rows, self._now)
