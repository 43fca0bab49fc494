"""The subscriptions table changes only the cells whose values changed."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.coordinate import Coordinate

from iotsim_tui.tui.widgets.subscriptions import SubscriptionRow, SubscriptionsTable
from tests.tui.pilot import settle


class _OneTable(App[None]):
    def compose(self) -> ComposeResult:
        yield SubscriptionsTable()


async def test_new_counts_and_since_change_cells_and_new_rows_rebuild() -> None:
    app = _OneTable()
    async with app.run_test(size=(100, 10)) as pilot:
        table = app.query_one(SubscriptionsTable)
        first = [
            SubscriptionRow("cmd/a", 1, 100.0, 2, b"on"),
            SubscriptionRow("cmd/b", 0, None, 0, None),
        ]
        table.show(first, 105.0)
        await settle(pilot)
        assert table.row_count == 2
        assert table.get_cell_at(Coordinate(0, 2)) == "5s"
        later = [SubscriptionRow("cmd/a", 1, 100.0, 3, b"off"), first[1]]
        table.show(later, 112.0)
        await settle(pilot)
        assert table.row_count == 2
        assert [table.get_cell_at(Coordinate(0, c)) for c in range(5)] == [
            "cmd/a",
            "1",
            "12s",
            "3",
            "off",
        ]
        assert table.get_cell_at(Coordinate(1, 2)) == "—"
        table.show([*later, SubscriptionRow("cmd/c", 2, 111.0, 0, None)], 112.0)
        await settle(pilot)
        assert table.row_count == 3
        assert table.get_cell_at(Coordinate(2, 0)) == "cmd/c"
