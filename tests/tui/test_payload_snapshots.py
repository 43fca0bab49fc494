"""Pictures of a device's telemetry charts and of a device-log message in detail (its diff).

Deterministic: a fixed clock, events with fixed times in UTC, no broker. Update with
`pytest tests/tui/test_payload_snapshots.py --snapshot-update` after checking the pictures.
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

from iotsim_tui.engine.events import Event, MessageIn, MessageKind, MessageOut
from iotsim_tui.profiles.model import BrokerSettings, Device, Network, Subscription, Telemetry
from iotsim_tui.profiles.save import save_network
from iotsim_tui.tui.app import IotsimApp, make_app
from iotsim_tui.tui.messages import NetworkEventsArrived
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.screens.payload import PayloadScreen
from iotsim_tui.tui.screens.telemetry_list import TelemetryListScreen
from iotsim_tui.tui.widgets.field_charts import FieldCharts
from iotsim_tui.tui.widgets.log_view import LogView
from tests.tui.pilot import fold_events, wait_for

NOW = 1_764_000_100.0
SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times in UTC, whatever the machine's zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _app(tmp_path: Path) -> IotsimApp:
    device = Device(
        "Bed monitor",
        "BED7",
        subscribe=(Subscription("ward/BED7/alarm", 1),),
        telemetry=(Telemetry("ward/{id}/vitals", interval=1.0),),
    )
    path = tmp_path / "ward.toml"
    save_network(Network("WARD", broker=BrokerSettings(port=11883), devices=(device,)), path)
    return make_app([path], start_broker=False, clock=lambda: NOW, log_file=tmp_path / "log")


def _events() -> list[Event]:
    events: list[Event] = []
    for n in range(40):
        vitals = {"hr": 60 + (n * 7) % 23, "spo2": 97 + n % 3, "temp": 36.5 + n / 40, "bed": "7"}
        payload = json.dumps(vitals).encode()
        events.append(
            MessageOut(
                "BED7",
                "ward/BED7/vitals",
                0,
                False,
                payload,
                len(payload),
                MessageKind.TELEMETRY,
                NOW - 40 + n,
            )
        )
    for n, level in enumerate(("low", "high")):
        alarm = json.dumps({"alarm": "heart rate", "level": level, "limits": {"hr": [50, 110]}})
        events.append(
            MessageIn(
                "BED7", "ward/BED7/alarm", 1, False, alarm.encode(), len(alarm), False, NOW + n
            )
        )
    return events


async def _with_events(pilot: Pilot[Any]) -> MainScreen:
    app = pilot.app
    screen = app.screen
    assert isinstance(screen, MainScreen)
    opened = app.session.networks[0]  # type: ignore[attr-defined]
    batch = _events()
    screen.post_message(NetworkEventsArrived(opened.key, batch, fold_events(opened, batch)))
    lines = screen.query_one(LogView)
    await wait_for(pilot, lambda: lines.event_count == len(batch), "the events in the log")
    for field in app.screen.query(Input):
        field.cursor_blink = False
    return screen


def test_telemetry_charts_of_a_device(snap_compare: SnapCompare, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _with_events(pilot)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, TelemetryListScreen), "t")
        charts = pilot.app.screen.query_one(FieldCharts)
        await wait_for(pilot, lambda: len(charts.fields) == 3, "the three numeric fields")
        await pilot.press("c")
        await pilot.pause()

    assert snap_compare(_app(tmp_path), terminal_size=(100, 30), run_before=run_before)


def test_device_log_message_diff(snap_compare: SnapCompare, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await _with_events(pilot)
        screen.query_one(LogView).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PayloadScreen), "the detail")
        await pilot.press("v")
        await pilot.pause()

    assert snap_compare(_app(tmp_path), terminal_size=(80, 24), run_before=run_before)
