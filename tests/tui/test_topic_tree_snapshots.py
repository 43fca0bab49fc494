"""Pictures of the topic tree: JSON with its charts, a hex dump, a diff; at 120x32 and 80x24.

Deterministic: a tree filled by the test with fixed times, a fixed clock, no broker. Update with
`pytest tests/tui/test_topic_tree_snapshots.py --snapshot-update` after checking the pictures.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from iotsim_tui.explore.tree import Seen, TopicTree
from iotsim_tui.profiles.model import BrokerSettings, Network
from iotsim_tui.profiles.save import save_network
from iotsim_tui.tui.app import IotsimApp, make_app
from iotsim_tui.tui.screens.topic_tree import TopicTreeScreen
from iotsim_tui.tui.widgets.payload_view import PayloadView
from iotsim_tui.tui.widgets.topic_tree_view import TopicTreeView
from tests.tui.pilot import wait_for

NOW = 1_764_000_100.0
SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Message times in UTC, whatever the machine's zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _tree() -> TopicTree:
    tree = TopicTree(max_topics=9)
    at = NOW - 10
    for n in range(12):
        vitals = {"pulse": 60 + (n * 7) % 19, "spo2": 95 + n % 4, "unit": {"name": "bpm"}}
        payload = json.dumps(vitals).encode()
        tree.add(Seen(at + n * 0.5, "ward/bed7/vitals", payload, len(payload), 1, False))
    tree.add(Seen(at, "ward/bed7/status", b"occupied", 8, 1, True, (("ContentType", "text"),)))
    blob = bytes(range(0, 120, 3))
    tree.add(Seen(at, "ward/bed7/ecg", blob, len(blob), 0, False))
    for n in range(5):
        tree.add(Seen(at + n, f"plant/line{n}/temp", str(20 + n).encode(), 2, 0, False))
    tree.add(Seen(at, "$SYS/broker/uptime", b"42 seconds", 10, 0, True))
    return tree


def _app(tmp_path: Path) -> IotsimApp:
    path = tmp_path / "ward.toml"
    save_network(Network("WARD", broker=BrokerSettings(port=11883, bundled=False)), path)
    return make_app([path], start_broker=False, clock=lambda: NOW, log_file=tmp_path / "log")


def _showing(topic: str, *keys: str) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        screen = TopicTreeScreen(
            app.session.networks[0],  # type: ignore[attr-defined]
            tree=_tree(),
            clock=lambda: NOW,
            live=False,
        )
        await app.push_screen(screen)
        view = screen.query_one(TopicTreeView)
        await wait_for(pilot, lambda: view.rows, "the rows")
        for _ in range(len(view.rows)):
            if view.cursor_path == topic:
                break
            await pilot.press("down")
        for field in screen.query(Input):
            field.cursor_blink = False
        payload = screen.query_one(PayloadView)
        # The selected topic's messages are shown at the next tick.
        await wait_for(pilot, lambda: payload.payload is not None, "the topic's payload")
        await _drawn(pilot)
        shown = payload.view
        await pilot.press(*keys)
        if keys:
            await wait_for(pilot, lambda: payload.view is not shown, "the next payload view")
        await _drawn(pilot)

    return run_before


async def _drawn(pilot: Pilot[Any]) -> None:
    """Wait until the screen stays the same over two of the view's ticks (it redraws at most
    once per tick, so a key's effect shows at the next one)."""
    before = await _picture(pilot)
    for _ in range(100):
        await pilot.pause(0.3)
        now = await _picture(pilot)
        if now == before:
            return
        before = now
    raise AssertionError("the topic tree kept changing")


async def _picture(pilot: Pilot[Any]) -> str:
    """The screen as text. Taken between a layout and its paint, the picture meets lines not
    made yet (Rich fails on a missing strip): take it again after the paint."""
    for _ in range(100):
        try:
            return pilot.app.export_screenshot()
        except TypeError:
            await pilot.pause(0.05)
    raise AssertionError("the topic tree was never painted whole")


@pytest.mark.parametrize("size", [(120, 32), (80, 24)], ids=["120x32", "80x24"])
def test_topic_tree_with_json_and_charts(
    snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = _app(tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=_showing("ward/bed7/vitals"))


def test_topic_tree_binary_payload_as_hex(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = _app(tmp_path)
    run_before = _showing("ward/bed7/ecg", "v")  # base64 first, then hex
    assert snap_compare(app, terminal_size=(120, 32), run_before=run_before)


def test_topic_tree_json_diff(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = _app(tmp_path)
    run_before = _showing("ward/bed7/vitals", "v")
    assert snap_compare(app, terminal_size=(120, 32), run_before=run_before)
