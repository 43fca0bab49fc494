"""The simulation's process sends the app digests: statuses, counts, and the watched device's
events whole. Checked against a real simulation of 50 devices and what the broker delivered."""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path

import aiomqtt
import pytest

from iotsim_tui.engine.events import (
    DeviceError,
    DeviceStatus,
    LogLine,
    MessageIn,
    MessageKind,
    MessageOut,
    StatusChanged,
)
from iotsim_tui.profiles.model import (
    BrokerSettings,
    Device,
    DeviceTemplate,
    GeneratorKind,
    Network,
    Telemetry,
    ValueSpec,
)
from iotsim_tui.runner.digest import KEPT_AT_END, LOG_KEPT, Digester, History
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.session import OpenNetwork
from iotsim_tui.tui.widgets.log_view import LogView
from iotsim_tui.tui.widgets.network_tree import NetworkTree, Place
from tests.support.bundled import skip_without_broker
from tests.support.listener import listening
from tests.support.ports import free_port
from tests.tui.pilot import app_on, wait_for

DEVICES = 50


def _out(device: str, n: int) -> MessageOut:
    payload = str(n).encode()
    return MessageOut(
        device, f"lab/{device}", 1, False, payload, len(payload), MessageKind.TELEMETRY, n
    )


def test_a_digest_has_the_latest_status_counts_new_topics_and_the_watched_events() -> None:
    digester = Digester("A")
    digester.fold(
        [
            StatusChanged("A", DeviceStatus.CONNECTING, "", 1.0),
            StatusChanged("B", DeviceStatus.CONNECTING, "", 1.0),
            StatusChanged("B", DeviceStatus.CONNECTED, "session new", 2.0),
            _out("A", 3),
            _out("B", 4),
            _out("B", 5),
            MessageIn("B", "cmd", 1, False, b"x", 1, False, 6.0),
            LogLine("B", "handled", 7.0),
        ]
    )
    digest = digester.take()
    assert digest is not None
    assert digest.statuses == {
        "A": (DeviceStatus.CONNECTING, ""),
        "B": (DeviceStatus.CONNECTED, "session new"),
    }
    assert digest.counts == {"A": (0, 1), "B": (1, 2)}
    assert set(digest.topics) == {"lab/A", "lab/B", "cmd"}
    assert [event.at for event in digest.events] == [1.0, 3]
    assert digester.take() is None

    digester.fold([_out("B", 8), DeviceError("B", "publish failed", 9.0)])
    digest = digester.take()
    assert digest is not None
    # An error keeps the status and says why; a topic is new only once.
    assert digest.statuses == {"B": (DeviceStatus.CONNECTED, "publish failed")}
    assert digest.topics == ()
    assert digest.events == ()

    history = digester.watch("B")
    assert history is not None
    assert [event.at for event in history.events] == [1.0, 2.0, 4, 5, 6.0, 7.0, 8, 9.0]
    digester.fold([_out("A", 10), _out("B", 11)])
    digest = digester.take()
    assert digest is not None
    assert [event.at for event in digest.events] == [11]


def test_a_digest_carries_what_the_followed_devices_received_for_the_lab_checklist() -> None:
    digester = Digester("A", frozenset({"A", "B"}))
    digester.fold(
        [
            MessageIn("B", "cmd", 1, False, b"x", 1, False, 1.0),
            _out("B", 2),
            LogLine("B", "handled", 3.0),
            StatusChanged("B", DeviceStatus.ERROR, "hostname mismatch", 4.0),
            MessageIn("C", "cmd", 1, False, b"x", 1, False, 5.0),
            MessageIn("A", "cmd", 1, False, b"x", 1, False, 6.0),
        ]
    )
    digest = digester.take()
    assert digest is not None
    assert [event.at for event in digest.followed] == [1.0, 4.0]
    assert [event.at for event in digest.events] == [6.0]  # the watched one, once
    assert digester.take() is None


def test_kept_events_are_bounded_and_the_end_sends_the_unwatched_ones() -> None:
    digester = Digester("A")
    digester.fold([_out("A", n) for n in range(LOG_KEPT + 10)])
    digester.fold([_out("B", n) for n in range(LOG_KEPT + 10)])
    digest = digester.take()
    assert digest is not None
    assert len(digest.events) == LOG_KEPT
    assert digest.events[-1].at == LOG_KEPT + 9
    history = digester.watch("B")
    assert history is not None
    assert len(history.events) == LOG_KEPT
    assert history.events[0].at == 10
    (end,) = digester.at_end()
    assert end.device_id == "A"
    assert [e.at for e in end.events] == list(range(LOG_KEPT + 10 - KEPT_AT_END, LOG_KEPT + 10))


def _fleet(port: int) -> Network:
    counter = {"n": ValueSpec(GeneratorKind.COUNTER, start=0, step=1)}
    return Network(
        "DIGEST",
        broker=BrokerSettings(port=port),
        templates=(
            DeviceTemplate(
                "Sensor {n}",
                "S{n}",
                count=DEVICES,
                # QoS 0: every message the device counts is on its connection before its
                # DISCONNECT. At QoS 1 a starved device can have more than paho's 20 in
                # flight; a stop keeps those in its outbox for the next start, so the broker
                # would never see the last of them in this run.
                telemetry=(Telemetry("lab/{id}/t", interval=1.0, qos=0, fields=counter),),
            ),
        ),
    )


def _counters(messages: list[aiomqtt.Message]) -> dict[str, list[int]]:
    """What the broker delivered on lab/+/t: device id -> the counters, in order."""
    arrived: dict[str, list[int]] = collections.defaultdict(list)
    for message in messages:
        assert isinstance(message.payload, bytes)
        arrived[str(message.topic).split("/")[1]].append(json.loads(message.payload)["n"])
    return arrived


def _sent_counters(screen: MainScreen, device: str) -> list[int]:
    opened = screen.session.networks[0]
    return [
        json.loads(event.payload)["n"]
        for event in opened.records[device].log
        if isinstance(event, MessageOut)
    ]


@pytest.mark.slow
async def test_fifty_devices_counts_marks_and_the_watched_logs_whole(tmp_path: Path) -> None:
    skip_without_broker()
    port = free_port()
    app = app_on(tmp_path, _fleet(port))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        opened = app.session.networks[0]
        tree = screen.query_one(NetworkTree)
        await wait_for(pilot, lambda: app.session.brokers, "the bundled broker")
        async with listening(port, "lab/+/t") as messages:
            await pilot.press("S")
            up = f"{DEVICES}/{DEVICES} up"
            await wait_for(pilot, lambda: up in str(tree.node_of(Place(opened.key)).label), up)  # type: ignore[union-attr]
            # The simulation gives way to the app when both want the CPU.
            assert opened.engine is not None
            assert opened.engine.pid is not None
            ours = os.getpriority(os.PRIO_PROCESS, 0)
            assert os.getpriority(os.PRIO_PROCESS, opened.engine.pid) == min(ours + 5, 19)
            marks = {str(tree.node_of(Place(opened.key, d)).label)[0] for d in opened.records}  # type: ignore[union-attr]
            assert marks == {"●"}
            # S1 is watched from the start; S7 from its third message on, its earlier events
            # coming as its history: both logs must hold every message, once, in order.
            await wait_for(
                pilot, lambda: len(_counters(messages)["S7"]) >= 3, "S7's first messages"
            )
            screen.show_place(Place(opened.key, "S7"))
            await wait_for(
                pilot, lambda: len(_counters(messages)["S7"]) >= 8, "more of S7's messages"
            )
            await pilot.press("S")
            await wait_for(pilot, lambda: opened.engine is None, "the network stopped")

            def all_delivered() -> bool:
                arrived = _counters(messages)
                return all(len(arrived[d]) >= r.sent for d, r in opened.records.items())

            await wait_for(pilot, all_delivered, "the broker's last deliveries")
        arrived = _counters(messages)
        assert all(r.status is DeviceStatus.STOPPED for r in opened.records.values())
        assert f"0/{DEVICES} up" in str(tree.node_of(Place(opened.key)).label)  # type: ignore[union-attr]
        for device, record in opened.records.items():
            assert record.sent == len(arrived[device]) > 0, device
        assert _sent_counters(screen, "S7") == arrived["S7"] == list(range(len(arrived["S7"])))
        assert _sent_counters(screen, "S1") == arrived["S1"]
        shown = screen.query_one(LogView).text_of_rows()
        assert len([row for row in shown if "lab/S7/t" in row]) == len(arrived["S7"])
        # A device never watched has its last events from the end of the run: all of them
        # when the run was short, the last KEPT_AT_END (its status changes among them) when a
        # loaded machine made it long.
        kept = _sent_counters(screen, "S20")
        assert kept == arrived["S20"][len(arrived["S20"]) - len(kept) :]
        assert len(kept) >= min(len(arrived["S20"]), KEPT_AT_END - 5)
        assert opened.records["S20"].log[-1].status is DeviceStatus.STOPPED  # type: ignore[union-attr]


def test_a_history_extends_a_log_that_has_its_start_and_rebuilds_one_that_has_not() -> None:
    opened = OpenNetwork("n1", Network("N", devices=(Device("Sensor", "A"),)), None, dirty=False)
    record = opened.records["A"]
    record.log.extend([_out("A", 1), _out("A", 2)])
    added = opened.take_history(History("A", (_out("A", 1), _out("A", 2), _out("A", 3))))
    assert added == [_out("A", 3)]
    assert [e.at for e in record.log] == [1, 2, 3]
    # An earlier run's events stay above a new run's; a line of the app's keeps its time.
    note = LogLine("A", "publish failed", 5.5)
    opened.note("A", note)
    assert opened.take_history(History("A", (_out("A", 5), _out("A", 6)))) is None
    assert [e.at for e in record.log] == [1, 2, 3, 5, 5.5, 6]
    assert record.log[3] == _out("A", 5)
    assert record.log[4] is note
