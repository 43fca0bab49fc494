"""The selected device's subscribed topics: filter, QoS, since, count, last payload."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


COLUMNS = (("topic filter", 15), ("QoS", 3), ("since", 6), ("count", 5), ("last payload", 11))


class SubscriptionsTable(DataTable[str]):
    """A read-only table that redraws only when its rows change."""

    DEFAULT_CSS = """
    SubscriptionsTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        # Fixed widths: the table redraws often and must not jump about as values change.
        for label, width in COLUMNS:
            self.add_column(label, width=width)
        self._shown: tuple[tuple[str, ...], ...] = ()

    def show(self, rows: Sequence[SubscriptionRow], now: float) -> None:
        """Replace the rows, unless nothing a user would see has changed."""
        cells = tuple(
            (
                row.filter,
                str(row.qos),
                since(row.since, now) if row.since is not None else "—",
                str(row.count),
                one_line(row.last_payload, 11),
            )
            for row in rows
        )
        if cells == self._shown:
            return
        self._shown = cells
        self.clear()
        for number, row_cells in enumerate(cells):
            self.add_row(*row_cells, key=str(number))
