"""On real brokers: a message in detail from the device log and from the broker console (the
topic tree's payload views, and a diff against the message before on its topic), the console's
chart of messages per second, and the charts of a device's telemetry."""

from __future__ import annotations

import json
from pathlib import Path

import aiomqtt
from textual.widgets import Sparkline, Static

from iotsim_tui.engine.events import DeviceStatus, MessageIn, MessageOut
from iotsim_tui.explore.payloads import View
from iotsim_tui.profiles.model import (
    BrokerSettings,
    Device,
    GeneratorKind,
    Network,
    Subscription,
    Telemetry,
    ValueSpec,
)
from iotsim_tui.tui.screens.console import BrokerConsoleScreen
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.screens.payload import PayloadScreen
from iotsim_tui.tui.screens.telemetry_list import TelemetryListScreen
from iotsim_tui.tui.widgets.console_messages import ConsoleMessages
from iotsim_tui.tui.widgets.device_log import DeviceLog
from iotsim_tui.tui.widgets.field_charts import FieldCharts
from iotsim_tui.tui.widgets.lines_view import LinesView
from iotsim_tui.tui.widgets.log_view import LogView
from iotsim_tui.tui.widgets.payload_view import PayloadView
from iotsim_tui.tui.widgets.rate_chart import RateChart
from tests.support.mosquitto import RunningMosquitto
from tests.tui.pilot import app_on, wait_for


def _received(screen: MainScreen) -> list[MessageIn]:
    events = screen.query_one(LogView)._events
    return [event for event in events if isinstance(event, MessageIn)]


async def test_a_device_log_message_opens_in_every_view_with_its_diff(
    tmp_path: Path, mosquitto: RunningMosquitto
) -> None:
    network = Network(
        "LAB",
        broker=BrokerSettings(port=mosquitto.port, bundled=False),
        devices=(Device("Temperature_Sensor", "TS1", subscribe=(Subscription("High_Tempe", 1),)),),
    )
    app = app_on(tmp_path, network, start_broker=False)
    async with (
        app.run_test(size=(120, 40)) as pilot,
        aiomqtt.Client("127.0.0.1", mosquitto.port) as console,
    ):
        screen = app.screen
        assert isinstance(screen, MainScreen)
        opened = app.session.networks[0]
        await wait_for(pilot, lambda: screen.device_id == "TS1", "TS1 selected")
        await pilot.press("s")
        await wait_for(
            pilot, lambda: opened.records["TS1"].status is DeviceStatus.CONNECTED, "TS1 up"
        )
        first = {"alert": "High Temperature", "level": 1, "zone": "A"}
        second = {"alert": "High Temperature", "level": 3, "zone": "A"}
        for payload in (first, second):
            await console.publish("High_Tempe", json.dumps(payload).encode(), qos=1)
        await wait_for(pilot, lambda: len(_received(screen)) == 2, "both alerts in the log")

        lines = screen.query_one(DeviceLog).query_one(LogView)
        lines.focus()
        await wait_for(pilot, lambda: lines.selected is _received(screen)[-1], "the newest chosen")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PayloadScreen), "the detail")
        detail = app.screen
        assert isinstance(detail, PayloadScreen)
        assert json.loads(detail.payload) == second
        assert detail.previous is not None
        assert json.loads(detail.previous) == first
        assert "← TS1 received · High_Tempe" in detail.title_text
        view = detail.query_one(PayloadView)
        await wait_for(pilot, lambda: '"level": 3' in view.plain, "the JSON, pretty-printed")
        assert view.view is View.JSON
        await pilot.press("v")
        await wait_for(pilot, lambda: view.view is View.DIFF, "the diff view")
        assert "1 changed or new" in view.plain
        assert '"level": 3,  ~' in view.plain
        await pilot.press("v", "v")
        await wait_for(pilot, lambda: view.view is View.HEX, "the hex view")
        assert view.plain.startswith("00000000  7b 22")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "back to the main screen")

        # Up to the first alert: the log holds still, and the first has nothing to diff with.
        while lines.selected is not _received(screen)[0]:
            await pilot.press("up")
        assert not screen.query_one(DeviceLog).follow
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PayloadScreen), "the first alert")
        assert isinstance(app.screen, PayloadScreen)
        assert json.loads(app.screen.payload) == first
        assert app.screen.previous is None
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "back again")

        # The first line is the device's status, not a message: Enter says so instead.
        await pilot.press("home")
        assert not isinstance(lines.selected, MessageIn)
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: any("not a message" in n.message for n in app._notifications),
            "a warning for a line that is not a message",
        )
        assert app.screen is screen
        await pilot.press("F")
        assert screen.query_one(DeviceLog).follow
        assert lines.selected is lines._events[-1]


async def test_the_console_lists_messages_opens_one_and_charts_their_rate(
    tmp_path: Path, mosquitto: RunningMosquitto
) -> None:
    network = Network("PLANT", broker=BrokerSettings(port=mosquitto.port, bundled=False))
    app = app_on(tmp_path, network, start_broker=False)
    async with (
        app.run_test(size=(120, 40)) as pilot,
        aiomqtt.Client("127.0.0.1", mosquitto.port) as device,
    ):
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, BrokerConsoleScreen), "the console")
        console = app.screen
        assert isinstance(console, BrokerConsoleScreen)
        messages = console.query_one(ConsoleMessages)
        await wait_for(pilot, lambda: "reading #" in messages.status, "the reader to connect")
        await device.publish("plant/temp", b'{"t": 20.5, "unit": "C"}', qos=1)
        await device.publish("plant/state", b"running", qos=1)
        await device.publish("plant/temp", b'{"t": 21.0, "unit": "C"}', qos=1)
        lines = messages.query_one(LinesView)
        await wait_for(pilot, lambda: lines.line_count == 3, "three messages listed")
        assert lines.plain.splitlines()[0].split()[1] == "plant/temp"  # newest first
        assert "running" in lines.plain.splitlines()[1]

        lines.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PayloadScreen), "the detail")
        detail = app.screen
        assert isinstance(detail, PayloadScreen)
        assert detail.payload == b'{"t": 21.0, "unit": "C"}'
        assert detail.previous == b'{"t": 20.5, "unit": "C"}'
        assert detail.title_text.startswith("plant/temp · ")
        view = detail.query_one(PayloadView)
        await pilot.press("v")
        await wait_for(pilot, lambda: view.view is View.DIFF, "the diff")
        assert '"t": 21.0,  ~' in view.plain
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is console, "back to the console")

        await pilot.press("down")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PayloadScreen), "the text one")
        assert isinstance(app.screen, PayloadScreen)
        assert app.screen.payload == b"running"
        assert app.screen.query_one(PayloadView).view is View.TEXT
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is console, "back again")

        # A message arriving while an older one is chosen leaves the cursor on that one.
        await device.publish("plant/temp", b'{"t": 21.5, "unit": "C"}', qos=1)
        await wait_for(pilot, lambda: lines.line_count == 4, "the fourth message")
        selected = messages.selected
        assert selected is not None
        assert selected.seen.payload == b"running"

        chart = messages.query_one(RateChart)
        await wait_for(pilot, lambda: chart.last is not None, "a second of the rate chart")

        # JSON taller than the screen is folded to fit; z unfolds it.
        rooms = {"rooms": [{"name": f"room {n}", "sensors": {"t": n, "h": 40}} for n in range(60)]}
        await device.publish("plant/rooms", json.dumps(rooms).encode(), qos=1)
        await wait_for(pilot, lambda: lines.line_count == 5, "the large message")
        await pilot.press("home", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PayloadScreen), "the large one")
        view = app.screen.query_one(PayloadView)
        await wait_for(pilot, lambda: "folded to fit" in str(view.border_subtitle), "folding")
        assert '"rooms": [… 60 items]' in view.plain
        await pilot.press("z")
        await wait_for(pilot, lambda: '"name": "room 59"' in view.plain, "unfolded")


async def test_the_devices_telemetry_charts_each_numeric_field_of_what_it_published(
    tmp_path: Path, mosquitto: RunningMosquitto
) -> None:
    vitals = Telemetry(
        "ward/{id}/vitals",
        interval=0.2,
        jitter=0.0,
        fields={
            "beat": ValueSpec(GeneratorKind.COUNTER, start=60, step=1),
            "spo2": ValueSpec(GeneratorKind.CONSTANT, value=98),
            "unit": ValueSpec(GeneratorKind.CONSTANT, value="bpm"),
        },
    )
    network = Network(
        "WARD",
        broker=BrokerSettings(port=mosquitto.port, bundled=False),
        devices=(Device("Monitor", "BED7", telemetry=(vitals,)),),
    )
    app = app_on(tmp_path, network, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        opened = app.session.networks[0]
        await wait_for(pilot, lambda: screen.device_id == "BED7", "BED7 selected")
        await pilot.press("s")
        record = opened.records["BED7"]
        await wait_for(
            pilot,
            lambda: sum(isinstance(e, MessageOut) for e in record.log) >= 3,
            "three telemetry messages",
        )
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TelemetryListScreen), "the list")
        dialog = app.screen
        assert isinstance(dialog, TelemetryListScreen)
        charts = dialog.query_one(FieldCharts)
        await wait_for(pilot, lambda: list(charts.fields) == ["beat", "spo2"], "two fields")
        assert charts.chosen == "beat"
        beats = charts.fields["beat"]
        assert beats == [60.0 + n for n in range(len(beats))]  # oldest first, one per message
        assert "published lately on ward/{id}/vitals" in str(
            dialog.query_one("#charts-title", Static).content
        )
        # Redrawn every second while open: the counter goes on.
        count = len(beats)
        await wait_for(pilot, lambda: len(charts.fields["beat"]) > count, "newer values")
        await pilot.press("c")
        assert charts.chosen == "spo2"
        chart = charts.query_one("#chart", Sparkline)
        assert set(chart.data or []) == {98.0}
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "back to the main screen")
