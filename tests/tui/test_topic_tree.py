"""The topic tree screen on a real broker: topics as they come, a cursor that stays, filters,
payload views and charts."""

from __future__ import annotations

import json
from pathlib import Path

import aiomqtt
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input, Sparkline, Static

from iotsim_tui.explore.payloads import View
from iotsim_tui.explore.tree import Seen, TopicTree
from iotsim_tui.profiles.model import BrokerSettings, Device, Network, Telemetry
from iotsim_tui.tui.screens.payload import PayloadScreen
from iotsim_tui.tui.screens.topic_tree import TopicTreeScreen, telemetry_topic
from iotsim_tui.tui.widgets.field_charts import FieldCharts
from iotsim_tui.tui.widgets.lines_view import LinesView
from iotsim_tui.tui.widgets.payload_view import PayloadView
from iotsim_tui.tui.widgets.topic_tree_view import TopicTreeView
from tests.support.mosquitto import RunningMosquitto
from tests.tui.pilot import app_on, wait_for


def _paths(view: TopicTreeView) -> list[str]:
    return [row.node.path for row in view.rows]


async def _go_to(pilot: Pilot[int], view: TopicTreeView, path: str) -> None:
    for _ in range(len(view.rows) + 1):
        if view.cursor_path == path:
            return
        await pilot.press("down")
    raise AssertionError(f"{path} not reached: {_paths(view)}")


async def test_topics_payloads_and_charts_from_mosquitto(
    tmp_path: Path, mosquitto: RunningMosquitto
) -> None:
    network = Network("PLANT", broker=BrokerSettings(port=mosquitto.port, bundled=False))
    app = app_on(tmp_path, network, start_broker=False)
    async with (
        app.run_test(size=(120, 40)) as pilot,
        aiomqtt.Client("127.0.0.1", mosquitto.port) as device,
    ):
        await pilot.press("T")
        await wait_for(pilot, lambda: isinstance(app.screen, TopicTreeScreen), "the topic tree")
        screen = app.screen
        assert isinstance(screen, TopicTreeScreen)
        view = screen.query_one(TopicTreeView)
        await wait_for(pilot, lambda: screen.traffic is not None, "the reader to connect")
        for n in range(3):
            payload = {"t": 20 + n, "h": 40 - n, "site": "A"}
            await device.publish("plant/line1/temp", json.dumps(payload).encode(), qos=1)
        await device.publish("plant/line1/state", b"running", qos=1, retain=True)
        await wait_for(pilot, lambda: "plant/line1/state" in _paths(view), "the topics")
        await wait_for(
            pilot, lambda: (n := screen.topics.node("plant/line1/temp")) and n.count == 3, "counts"
        )
        assert _paths(view)[0] == "$SYS"  # mosquitto's own topics, folded
        assert view.rows[0].folded

        await _go_to(pilot, view, "plant/line1/temp")
        table = screen.query_one("#topic-messages", LinesView)
        await wait_for(pilot, lambda: table.line_count == 3, "the topic's messages")
        payload = screen.query_one(PayloadView)
        assert payload.view is View.JSON
        assert payload.payload == b'{"t": 22, "h": 38, "site": "A"}'
        charts = screen.query_one(FieldCharts)
        await wait_for(pilot, lambda: list(charts.fields) == ["t", "h"], "the numeric fields")
        assert charts.fields["t"] == [20.0, 21.0, 22.0]
        title = charts.query_one("#chart-title", Static)
        await wait_for(
            pilot, lambda: "t: last 22 · min 20 · max 22" in str(title.content), "the chart"
        )
        await pilot.press("c")
        assert charts.chosen == "h"
        await pilot.press("v")
        assert payload.view is View.DIFF
        assert '"t": 22,  ~' in payload.plain
        await pilot.press("v", "v")
        assert payload.view is View.HEX
        assert "00000000  7b 22 74 22" in payload.plain

        # Topics that sort before the cursor's come in: the cursor stays on its topic.
        for name in ("aaa", "abc", "aab"):
            await device.publish(f"plant/line1/{name}", b"1", qos=1)
        await wait_for(pilot, lambda: "plant/line1/aab" in _paths(view), "the new topics")
        assert view.cursor_path == "plant/line1/temp"

        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, PayloadScreen), "the payload screen")
        detail = app.screen.query_one(PayloadView)
        assert detail.payload == b'{"t": 22, "h": 38, "site": "A"}'
        assert detail.view is View.HEX  # the view chosen on the tree stays
        await pilot.press("v")
        assert detail.view is View.BASE64
        await pilot.press("escape")
        assert app.screen is screen

        await pilot.press("slash")
        await pilot.press(*"plant/+/state", "enter")
        assert _paths(view) == ["plant", "plant/line1", "plant/line1/state"]
        assert "filter: MQTT filter plant/+/state" in str(
            screen.query_one("#topics-note", Static).content
        )
        assert view.cursor_path == "plant/line1/state"  # its topic hidden: the nearest one
        await pilot.press("slash")
        screen.query_one("#topic-filter", Input).value = "STAT"
        await pilot.press("enter")
        assert _paths(view) == ["plant", "plant/line1", "plant/line1/state"]
        await pilot.press("ctrl+l")
        assert "plant/line1/temp" in _paths(view)

        await pilot.press("escape")
        assert not isinstance(app.screen, TopicTreeScreen)


async def test_folding_by_keys_and_the_cap_note(tmp_path: Path) -> None:
    app = app_on(tmp_path, Network("LAB"), start_broker=False)
    tree = TopicTree(max_topics=3)
    for topic in ("a/x/1", "a/x/2", "b/y", "c/z"):
        tree.add(Seen(100.0, topic, b"1", 1, 0, False))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = TopicTreeScreen(app.session.networks[0], tree=tree, live=False)
        await app.push_screen(screen)
        view = screen.query_one(TopicTreeView)
        await wait_for(pilot, lambda: view.rows and view.has_focus, "the rows")
        assert _paths(view) == ["a", "a/x", "a/x/1", "a/x/2", "b", "b/y"]  # small: all open
        note = str(screen.query_one("#topics-note", Static).content)
        assert "topic cap 3 reached: 1 messages on new topics not kept" in note
        await pilot.press("down", "left")  # on a/x: fold it
        assert _paths(view) == ["a", "a/x", "b", "b/y"]
        await pilot.press("right")  # unfold it again
        assert _paths(view) == ["a", "a/x", "a/x/1", "a/x/2", "b", "b/y"]
        await pilot.press("down", "left")  # on a/x/1: to its level
        assert view.cursor_path == "a/x"
        await pilot.press("up", "enter")  # fold a; it stays folded when topics come
        assert _paths(view) == ["a", "b", "b/y"]
        tree.max_topics = 10
        tree.add(Seen(101.0, "a/w", b"1", 1, 0, False))
        await wait_for(pilot, lambda: view.topics.shape == view._shape, "a tick")
        assert _paths(view) == ["a", "b", "b/y"]
        await pilot.press("asterisk")
        assert _paths(view)[:4] == ["a", "a/w", "a/x", "a/x/1"]


async def test_new_topics_above_a_scrolled_cursor_leave_it_on_its_row(tmp_path: Path) -> None:
    app = app_on(tmp_path, Network("LAB"), start_broker=False)
    tree = TopicTree()
    for n in range(100):
        tree.add(Seen(100.0, f"m/{n:03}", b"1", 1, 0, False))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = TopicTreeScreen(app.session.networks[0], tree=tree, live=False)
        await app.push_screen(screen)
        view = screen.query_one(TopicTreeView)
        await wait_for(pilot, lambda: view.rows, "the rows")
        await wait_for(pilot, lambda: view.has_focus, "the tree to have the focus")
        await pilot.press("end")
        await wait_for(pilot, lambda: view.cursor_path == "m/099", "the last topic")
        await pilot.press("up", "up")
        await wait_for(pilot, lambda: view.cursor_path == "m/097", "two up")
        await wait_for(pilot, lambda: view.scroll_offset.y > 0, "the tree to scroll")
        on_screen = view.cursor - view.scroll_offset.y
        tree.add_all(Seen(101.0, f"a/{n}", b"1", 1, 0, False) for n in range(5))
        await wait_for(pilot, lambda: "a/4" in _paths(view), "the new topics")
        assert view.cursor_path == "m/097"
        await wait_for(
            pilot, lambda: view.cursor - view.scroll_offset.y == on_screen, "the cursor's row"
        )


async def test_the_tree_opens_at_the_selected_devices_telemetry(tmp_path: Path) -> None:
    device = Device("Sensor", "TS7", telemetry=(Telemetry("site/{id}/temp"),))
    app = app_on(tmp_path, Network("LAB", devices=(device,)), start_broker=False)
    tree = TopicTree()
    for n in range(300):  # large: only the first level opens by itself
        tree.add(Seen(100.0, f"site/TS{n}/hum", b"1", 1, 0, False))
    async with app.run_test(size=(100, 30)) as pilot:
        opened = app.session.networks[0]
        assert telemetry_topic(opened, "TS7") == "site/TS7/temp"
        assert telemetry_topic(opened, "nobody") is None
        screen = TopicTreeScreen(opened, tree=tree, live=False, start_at="site/TS7/temp")
        await app.push_screen(screen)
        view = screen.query_one(TopicTreeView)
        await wait_for(pilot, lambda: view.rows, "the rows")
        assert view.cursor_path != "site/TS7/temp"
        tree.add(Seen(101.0, "site/TS7/temp", b'{"t": 21}', 9, 0, False))
        await wait_for(pilot, lambda: view.cursor_path == "site/TS7/temp", "the device's topic")
        assert "site/TS7" in view.unfolded
        charts = screen.query_one(FieldCharts)
        await wait_for(pilot, lambda: charts.fields == {"t": [21.0]}, "its chart")


class _Charts(App[None]):
    def compose(self) -> ComposeResult:
        yield FieldCharts()


async def test_charts_fed_again_before_their_rows_are_built_show_the_latest_values() -> None:
    """A second message on the topic can come before the rows made for the first have their
    parts (a loaded machine, a busy feed): the charts wait for them instead of failing."""
    app = _Charts()
    async with app.run_test(size=(80, 20)) as pilot:
        charts = app.query_one(FieldCharts)
        charts.show({"t": [20.0], "h": [40.0]})
        charts.show({"t": [20.0, 21.0], "h": [40.0, 39.0]})  # same fields: no new rows

        def drawn() -> list[object]:
            return [row.query_one(Sparkline).data for row in charts.query(".field")]

        await wait_for(pilot, lambda: drawn() == [[20.0, 21.0], [40.0, 39.0]], "both charts")
        assert "t: last 21" in str(charts.query_one("#chart-title", Static).content)
