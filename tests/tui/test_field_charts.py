"""The numeric fields' charts, drawn again before the rows of new fields are mounted."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Sparkline

from iotsim_tui.tui.widgets.field_charts import FieldCharts
from tests.tui.pilot import wait_for


class _Charts(App[None]):
    def compose(self) -> ComposeResult:
        yield FieldCharts()


async def test_new_values_that_come_while_the_rows_mount_are_drawn_once_they_are() -> None:
    app = _Charts()
    async with app.run_test(size=(80, 20)) as pilot:
        charts = app.query_one(FieldCharts)
        charts.show({"t": [20.0], "h": [40.0]})
        charts.show({"t": [20.0, 21.0], "h": [40.0, 41.0]})  # same fields, rows not mounted yet
        charts.next_field()
        charts.show({"t": [20.0, 21.0, 22.0], "h": [40.0, 41.0, 42.0]})

        def drawn() -> list[list[float]]:
            return [list(s.data or []) for s in charts.query(".field Sparkline").results(Sparkline)]

        await wait_for(pilot, lambda: len(drawn()) == 2, "a row per field")
        await wait_for(pilot, lambda: drawn() == [[20.0, 21.0, 22.0], [40.0, 41.0, 42.0]], "all")
        assert charts.chosen == "h"
        assert charts.query_one("#chart", Sparkline).data == [40.0, 41.0, 42.0]

        charts.show({"p": [1.0]})  # other fields: their rows replace the old ones
        await wait_for(pilot, lambda: drawn() == [[1.0]], "the new field's row")
        assert charts.chosen == "p"
