"""`R` in the app records the open network's messages to recordings/, and `R` again stops."""

from __future__ import annotations

import os
from pathlib import Path

import aiomqtt
import pytest

from iotsim_tui.profiles.model import BrokerSettings, Device, Network
from iotsim_tui.traffic.recording import read_recording
from iotsim_tui.tui.recording import recording_of
from tests.support.mosquitto import RunningMosquitto
from tests.tui.pilot import app_on, wait_for


async def test_r_records_until_pressed_again(
    mosquitto: RunningMosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    network = Network(
        "Hall 7",
        broker=BrokerSettings(port=mosquitto.port, bundled=False),
        devices=(Device("T", "T1"),),
    )
    app = app_on(tmp_path, network, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        opened = app.session.networks[0]
        await pilot.press("R")
        await wait_for(
            pilot,
            lambda: any(n.title == "Recording" for n in app._notifications),
            "the recording to start",
        )
        recording = recording_of(opened)
        assert recording is not None
        assert recording.path.parent == Path("recordings")
        assert recording.path.name.startswith("Hall_7-")
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier=f"r-{os.getpid()}") as c:
            await c.publish("hall/T1/t", b"21.5", qos=1)
            await c.publish("hall/T1/raw", bytes([0, 255]), qos=0)
        await wait_for(pilot, lambda: recording.count.messages == 2, "two messages recorded")
        await pilot.press("R")
        await wait_for(pilot, lambda: recording_of(opened) is None, "the recording to stop")
        await wait_for(
            pilot,
            lambda: any(n.title == "Recording saved" for n in app._notifications),
            "the note that it was saved",
        )
    messages = [message for _, message in read_recording(recording.path)]
    assert [(m.topic, m.payload, m.qos) for m in messages] == [
        ("hall/T1/t", b"21.5", 1),
        ("hall/T1/raw", bytes([0, 255]), 0),
    ]
