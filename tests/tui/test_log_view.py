"""The device log's view draws only the rows on screen, newest at the bottom."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from iotsim_tui.engine.events import Event, LogLine
from iotsim_tui.tui.widgets.device_log import log_line
from iotsim_tui.tui.widgets.log_view import CUT_MARK, MAX_ROWS_KEPT, LogView
from tests.tui.pilot import wait_for


class _Counting:
    """`log_line`, counting the events it formats."""

    def __init__(self) -> None:
        self.formatted: list[Event] = []

    def __call__(self, event: Event) -> Text:
        self.formatted.append(event)
        return log_line(event)


class _OneLog(App[None]):
    def __init__(self, line_of: _Counting) -> None:
        super().__init__()
        self.line_of = line_of

    def compose(self) -> ComposeResult:
        yield LogView(self.line_of)


def _lines(count: int, device: str = "TS1", words: str = "line") -> list[Event]:
    return [LogLine(device, f"{words} {n}", 1_000.0 + n) for n in range(count)]


async def test_a_long_log_formats_only_what_is_on_screen() -> None:
    line_of = _Counting()
    app = _OneLog(line_of)
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(LogView)
        view.replace(_lines(1500, words="kept"))
        await pilot.pause()
        assert view.row_count == 1500
        assert 0 < len(line_of.formatted) <= 20
        await wait_for(pilot, lambda: view.scroll_offset.y == 1500 - 20, "the view at the tail")
        shown = [strip.text for strip in (view.render_line(y) for y in range(20))]
        assert "kept 1499" in shown[-1]
        assert "kept 1480" in shown[0]


async def test_new_rows_follow_the_tail_and_old_ones_leave_beyond_the_bound() -> None:
    app = _OneLog(_Counting())
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(LogView)
        view.replace(_lines(MAX_ROWS_KEPT))
        view.extend([LogLine("TS1", f"new {n}", 5_000.0 + n) for n in range(MAX_ROWS_KEPT // 5)])
        await pilot.pause()
        assert MAX_ROWS_KEPT <= view.event_count <= MAX_ROWS_KEPT + MAX_ROWS_KEPT // 10
        assert f"new {MAX_ROWS_KEPT // 5 - 1}" in view.render_line(19).text
        rows = view.text_of_rows()
        assert "line 0 " not in "\n".join(rows) + " "
        assert rows[-1].endswith(f"new {MAX_ROWS_KEPT // 5 - 1}")


async def test_wrapping_gives_a_long_line_more_rows_and_unwrapping_one_again() -> None:
    app = _OneLog(_Counting())
    async with app.run_test(size=(40, 10)) as pilot:
        view = app.query_one(LogView)
        view.replace([LogLine("TS1", "word " * 30, 1_000.0), LogLine("TS1", "short", 1_001.0)])
        await pilot.pause()
        assert view.row_count == 2
        view.wrap = True
        await pilot.pause()
        assert view.row_count > 4
        assert view.text_of_rows()[-1].strip().endswith("short")
        view.wrap = False
        await pilot.pause()
        assert view.row_count == 2


async def test_a_payload_with_newlines_stays_on_one_row_unwrapped() -> None:
    app = _OneLog(_Counting())
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        view.replace([LogLine("TS1", "first\nsecond", 1_000.0)])
        await pilot.pause()
        assert view.row_count == 1
        assert "first↵second" in view.text_of_rows()[0]


async def test_rows_drawn_before_the_focus_are_drawn_again_in_its_colours() -> None:
    app = _OneLog(_Counting())
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        view.replace(_lines(3))
        await pilot.pause()
        app.set_focus(None)
        await pilot.pause()
        unfocused = view.render_line(0)
        view.focus()
        await pilot.pause()
        focused = view.render_line(0)
        assert focused.text == unfocused.text
        assert focused != unfocused


async def test_a_row_cut_at_the_edge_ends_with_a_mark_that_more_follows() -> None:
    app = _OneLog(_Counting())
    async with app.run_test(size=(40, 10)) as pilot:
        view = app.query_one(LogView)
        view.replace([LogLine("TS1", "word " * 30 + "END", 1_000.0), LogLine("TS1", "short", 1.0)])
        await pilot.pause()
        long_row, short_row = view.render_line(0).text, view.render_line(1).text
        assert long_row.rstrip().endswith(CUT_MARK)
        assert not long_row.startswith(CUT_MARK)
        assert CUT_MARK not in short_row
        view.scroll_to(x=10, animate=False, immediate=True)
        await wait_for(pilot, lambda: view.scroll_offset.x == 10, "the view scrolled sideways")
        assert view.render_line(0).text.startswith(CUT_MARK)
        view.scroll_to(x=view.max_scroll_x, animate=False, immediate=True)
        await wait_for(pilot, lambda: view.scroll_offset.x == view.max_scroll_x, "the end")
        assert view.render_line(0).text.rstrip().endswith("END")
        view.wrap = True
        await pilot.pause()
        assert CUT_MARK not in "".join(view.text_of_rows())


async def test_the_cursor_picks_an_event_and_stays_on_it_as_new_ones_arrive() -> None:
    app = _OneLog(_Counting())
    async with app.run_test(size=(40, 10)) as pilot:
        view = app.query_one(LogView)
        events = _lines(30)
        view.replace(events)
        view.focus()
        await pilot.pause()
        assert view.selected is events[-1]  # the newest, until moved
        view.extend(_lines(1, words="newer"))
        assert view.selected is view._events[-1]
        await pilot.press("up", "up")
        assert view.selected is events[-2]
        assert view.before_selected() == events[:-2]
        view.extend(_lines(3, words="newest"))
        await pilot.pause()
        assert view.selected is events[-2]
        shown = [view.render_line(y).text for y in range(10)]
        assert any("line 28" in row for row in shown)  # kept in view
        await pilot.press("end")
        assert view.selected is view._events[-1]
        view.hold_cursor()
        view.extend(_lines(1, words="after holding"))
        assert view.selected is view._events[-2]
        await pilot.press("home")
        assert view.selected is events[0]
        assert view.scroll_offset.y == 0


async def test_wrapped_the_cursor_moves_by_events_not_rows() -> None:
    app = _OneLog(_Counting())
    async with app.run_test(size=(40, 10)) as pilot:
        view = app.query_one(LogView)
        long = LogLine("TS1", "word " * 30, 1_000.0)
        view.replace([long, LogLine("TS1", "short", 1_001.0)])
        view.wrap = True
        view.focus()
        await pilot.pause()
        await pilot.press("up")
        assert view.selected is long
        await pilot.press("down")
        assert view.selected is not long
