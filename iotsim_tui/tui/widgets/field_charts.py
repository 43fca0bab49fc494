"""Numeric fields of a topic's payloads over time: a sparkline each, and one larger chart.

Textual's own Sparkline draws both (docs/traffic.md says why not a plotting package): the
larger chart is the same bars, taller, with the field's lowest, highest and last values.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline, Static

MAX_FIELDS = 8
"""Fields with a sparkline of their own; the rest are counted."""


def number_text(value: float) -> str:
    """A value as short as it reads well."""
    return f"{value:.6g}"


class FieldCharts(Vertical):
    """A sparkline per numeric field, and a larger chart of one (`next_field` picks it)."""

    DEFAULT_CSS = """
    FieldCharts { height: auto; max-height: 45%; }
    FieldCharts #field-rows { height: auto; }
    FieldCharts .field { height: 1; }
    FieldCharts .field Label { width: 18; }
    FieldCharts .field Sparkline { width: 1fr; height: 1; }
    FieldCharts .field .last { width: 12; text-align: right; }
    FieldCharts .field.chosen Label { text-style: bold reverse; }
    FieldCharts #chart-title { height: 1; color: $text-muted; }
    FieldCharts #chart { height: 5; }
    FieldCharts #fields-note { height: 1; color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fields: dict[str, list[float]] = {}
        self.chosen: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("no numeric fields", id="fields-note")
        yield Vertical(id="field-rows")
        yield Static("", id="chart-title")
        yield Sparkline([], id="chart")

    def show(self, fields: dict[str, list[float]]) -> None:
        """Chart `fields` (name -> values, oldest first)."""
        names = list(fields)[:MAX_FIELDS]
        same_names = names == list(self.fields)[:MAX_FIELDS]
        self.fields = fields
        if self.chosen not in fields:
            self.chosen = names[0] if names else None
        more = len(fields) - len(names)
        note = "no numeric fields" if not fields else f"{len(fields)} numeric fields"
        note += (f" ({more} not charted)" if more > 0 else "") + (
            " · c: chart the next" if len(fields) > 1 else ""
        )
        self.query_one("#fields-note", Static).update(note, layout=False)  # one line
        rows = self.query_one("#field-rows", Vertical)
        if not same_names:
            rows.remove_children()
            rows.mount_all(
                Horizontal(
                    Label(name[:18]),
                    Sparkline([], classes="spark"),
                    Static("", classes="last"),
                    classes="field",
                )
                for name in names
            )
            self.call_after_refresh(self._fill)
        else:
            self._fill()

    def _fill(self) -> None:
        rows = list(self.query_one("#field-rows", Vertical).children)
        for name, row in zip(list(self.fields)[:MAX_FIELDS], rows, strict=False):
            sparks, lasts = row.query(Sparkline), row.query(".last").results(Static)
            spark, last_shown = sparks.first() if sparks else None, next(lasts, None)
            if spark is None or last_shown is None:
                continue  # rows of fields shown before, being replaced: filled once mounted
            values = self.fields[name]
            row.set_class(name == self.chosen, "chosen")
            spark.data = values
            last_shown.update(number_text(values[-1]) if values else "", layout=False)
        self._chart()

    def _chart(self) -> None:
        values = self.fields.get(self.chosen or "", [])
        chart = self.query_one("#chart", Sparkline)
        chart.data = values
        chart.display = bool(values)
        title = self.query_one("#chart-title", Static)
        if values:
            title.update(
                f"{self.chosen}: last {number_text(values[-1])} · min {number_text(min(values))}"
                f" · max {number_text(max(values))} · {len(values)} values",
                layout=False,
            )
        else:
            title.update("", layout=False)

    def next_field(self) -> None:
        """Show the next numeric field in the larger chart."""
        names = list(self.fields)[:MAX_FIELDS]
        if not names:
            return
        index = names.index(self.chosen) if self.chosen in names else -1
        self.chosen = names[(index + 1) % len(names)]
        self._fill()
