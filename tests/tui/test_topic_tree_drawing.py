"""What the topic tree does to stay fluid under a flood: a tick redraws only the rows whose
text changed, the charts follow a key once the keys pause (messages and payload at once), new
messages on the cursor's topic wait while keys arrive, and a large tree is frozen out of the
garbage collector's way while it is shown."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
from textual.widgets import Static

from iotsim_tui.explore.tree import Seen, TopicTree
from iotsim_tui.profiles.model import Network
from iotsim_tui.tui.screens import topic_tree
from iotsim_tui.tui.screens.topic_tree import FREEZE_TOPICS, TopicTreeScreen
from iotsim_tui.tui.widgets.field_charts import FieldCharts
from iotsim_tui.tui.widgets.lines_view import LinesView
from iotsim_tui.tui.widgets.payload_view import PayloadView
from iotsim_tui.tui.widgets.topic_tree_view import TopicTreeView
from tests.tui.pilot import app_on, wait_for


def _paths(view: TopicTreeView) -> list[str]:
    return [row.node.path for row in view.rows]


async def test_a_tick_redraws_only_the_rows_whose_text_changed(tmp_path: Path) -> None:
    now = [100.5]
    app = app_on(tmp_path, Network("LAB"), start_broker=False)
    tree = TopicTree()
    for topic in ("a/x", "a/y", "b/z"):
        tree.add(Seen(100.0, topic, b"1", 1, 0, False))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = TopicTreeScreen(
            app.session.networks[0], tree=tree, clock=lambda: now[0], live=False
        )
        await app.push_screen(screen)
        view = screen.query_one(TopicTreeView)
        await wait_for(pilot, lambda: len(view._drawn) == 5, "every row drawn")
        assert _paths(view) == ["a", "a/x", "a/y", "b", "b/z"]
        width = view.size.width
        before = [view._drawn[(row, width)] for row in range(5)]

        tree.add(Seen(100.6, "b/z", b"2", 1, 0, False))
        view.update()
        after = [view._drawn[(row, width)] for row in range(5)]
        assert [new is old for new, old in zip(after, before, strict=True)] == [
            *(True, True, True),  # a, a/x, a/y: nothing new, not drawn again
            *(False, False),  # b and b/z count the message
        ]
        assert "b (1 topics, 2 msgs)" in after[3][0]
        assert "z (2) = 2" in after[4][0]
        await pilot.pause()
        assert "z (2) = 2" in view.render_line(4).text

        now[0] = 101.2  # the second turned: every row shows its rate
        view.update()
        rates = [view._drawn[(row, width)][0] for row in range(5)]
        assert "a (2 topics, 2 msgs) 2/s" in rates[0]
        assert "z (2) 2/s = 2" in rates[4]


async def test_charts_follow_a_key_once_the_keys_pause(tmp_path: Path) -> None:
    app = app_on(tmp_path, Network("LAB"), start_broker=False)
    tree = TopicTree()
    for n in range(3):
        tree.add(Seen(100.0 + n, "t/a", json.dumps({"x": n, "y": 2}).encode(), 9, 0, False))
        tree.add(Seen(100.0 + n, "t/b", json.dumps({"p": n, "q": 5}).encode(), 9, 0, False))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = TopicTreeScreen(app.session.networks[0], tree=tree, live=False)
        await app.push_screen(screen)
        view = screen.query_one(TopicTreeView)
        charts = screen.query_one(FieldCharts)
        table = screen.query_one("#topic-messages", LinesView)
        await wait_for(pilot, lambda: _paths(view) == ["t", "t/a", "t/b"], "the rows")
        await wait_for(pilot, lambda: view.has_focus, "the tree to have the focus")
        await pilot.press("down")
        await wait_for(pilot, lambda: list(charts.fields) == ["x", "y"], "t/a's fields")

        await pilot.press("down")  # the messages and the payload follow the key at once
        await wait_for(pilot, lambda: table.border_title == "Recent messages · t/b", "t/b")
        assert table.line_count == 3
        assert screen.query_one(PayloadView).payload == b'{"p": 2, "q": 5}'
        await wait_for(pilot, lambda: list(charts.fields) == ["p", "q"], "t/b's fields")
        assert charts.fields["p"] == [0.0, 1.0, 2.0]

        await pilot.press("up", "c")  # `c` at once charts the next field of the new topic
        assert list(charts.fields) == ["x", "y"]
        assert charts.chosen == "y"


async def test_new_messages_on_the_cursors_topic_wait_while_keys_arrive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(topic_tree, "NEW_MESSAGES_AFTER_KEY", 60.0)  # keys "still arriving"
    app = app_on(tmp_path, Network("LAB"), start_broker=False)
    tree = TopicTree()
    for n in range(3):
        tree.add(Seen(100.0 + n, "t/a", b"1", 1, 0, False))
        tree.add(Seen(100.0 + n, "t/b", b"2", 1, 0, False))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = TopicTreeScreen(app.session.networks[0], tree=tree, live=False)
        await app.push_screen(screen)
        view = screen.query_one(TopicTreeView)
        table = screen.query_one("#topic-messages", LinesView)
        note = screen.query_one("#topics-note", Static)
        await wait_for(pilot, lambda: _paths(view) == ["t", "t/a", "t/b"], "the rows")
        await wait_for(pilot, lambda: view.has_focus, "the tree to have the focus")
        await pilot.press("down", "down")
        await wait_for(pilot, lambda: table.border_title == "Recent messages · t/b", "t/b")
        assert table.line_count == 3

        tree.add(Seen(103.0, "t/b", b"3", 1, 0, False))
        # The note and the cursor's topic are redrawn in the same tick.
        await wait_for(pilot, lambda: "7 messages" in str(note.content), "a tick")
        assert table.line_count == 3  # a key came less than NEW_MESSAGES_AFTER_KEY ago

        monkeypatch.setattr(topic_tree, "NEW_MESSAGES_AFTER_KEY", 0.0)  # the keys paused
        await wait_for(pilot, lambda: table.line_count == 4, "the new message")
        assert screen.query_one(PayloadView).payload == b"3"


def _tracked(node: object) -> bool:
    """Whether the collector goes through `node` (a frozen object it skips)."""
    return any(candidate is node for candidate in gc.get_objects())


async def test_a_large_tree_is_frozen_out_of_the_collectors_way_while_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(topic_tree, "THAW_SECONDS", 60.0)  # a window to see it thawed in
    app = app_on(tmp_path, Network("LAB"), start_broker=False)
    tree = TopicTree()
    tree.add_all(Seen(100.0, f"f/d{n}", b"1", 1, 0, False) for n in range(FREEZE_TOPICS))
    node = tree.node("f/d7")
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            screen = TopicTreeScreen(app.session.networks[0], tree=tree, live=False)
            await app.push_screen(screen)
            await wait_for(pilot, lambda: screen._frozen_at == FREEZE_TOPICS, "a freeze")
            assert not _tracked(node)
            tree.add_all(Seen(101.0, f"g/d{n}", b"1", 1, 0, False) for n in range(100))
            await pilot.pause(0.6)
            assert screen._frozen_at == FREEZE_TOPICS  # grown by less than a quarter
            tree.add_all(Seen(101.0, f"g/e{n}", b"1", 1, 0, False) for n in range(200))
            await wait_for(pilot, lambda: screen._frozen_at == FREEZE_TOPICS + 300, "again")
            new = tree.node("g/e7")
            assert not _tracked(new)
            await pilot.press("escape")
            await wait_for(pilot, lambda: not screen.is_attached, "the screen to go")
            assert _tracked(node)  # the collector may take the tree when it is garbage
            assert _tracked(new)
    finally:
        gc.freeze()  # as the app leaves it


async def test_the_topics_lists_of_earlier_messages_are_frozen_as_they_grow(
    tmp_path: Path,
) -> None:
    app = app_on(tmp_path, Network("LAB"), start_broker=False)
    tree = TopicTree()
    tree.add_all(Seen(100.0, f"f/d{n}", b"1", 1, 0, False) for n in range(FREEZE_TOPICS))
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            screen = TopicTreeScreen(app.session.networks[0], tree=tree, live=False)
            await app.push_screen(screen)
            await wait_for(pilot, lambda: screen._frozen_at == FREEZE_TOPICS, "a freeze")
            assert screen._frozen_kept == 0
            # Each topic's second message makes its list: no new topic, but twice as many kept.
            tree.add_all(Seen(101.0, f"f/d{n}", b"2", 1, 0, False) for n in range(FREEZE_TOPICS))
            await wait_for(pilot, lambda: screen._frozen_kept == tree.kept, "a freeze of lists")
            node = tree.node("f/d7")
            assert node is not None
            assert node.messages is not None
            assert not _tracked(node.messages)
            await pilot.press("escape")
            await wait_for(pilot, lambda: not screen.is_attached, "the screen to go")
    finally:
        gc.freeze()  # as the app leaves it
