"""A capture written by the eavesdrop view, read back into a recording."""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties as PahoProperties

from iotsim_tui.traffic.from_pcap import read_pcap
from iotsim_tui.traffic.recording import RecordingError, read_recording
from iotsim_tui.wiretap import Eavesdrop
from tests.support.mosquitto import RunningMosquitto
from tests.wiretap.sessions import ALERT, TOPIC, lab_session

BINARY = bytes(range(256)) * 8  # more than one TCP segment


async def test_a_plain_capture_becomes_a_recording(
    mosquitto: RunningMosquitto, tmp_path: Path
) -> None:
    async with Eavesdrop(target=(mosquitto.host, mosquitto.port)) as tap:
        await lab_session(tap)
        properties = PahoProperties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ContentType = "application/octet-stream"
        properties.UserProperty = [("from", "pcap")]
        async with aiomqtt.Client(
            "127.0.0.1", tap.endpoint[1], identifier=f"pcap-{os.getpid()}",
            protocol=aiomqtt.ProtocolVersion.V5,
        ) as client:  # fmt: skip
            await client.publish("pcap/binary", BINARY, qos=1, retain=True, properties=properties)
        pcap = tmp_path / "plain.pcap"
        tap.write_pcap(pcap)

    reading = read_pcap(pcap)
    assert reading.problems == []
    assert [(m.topic, m.payload) for m in reading.messages] == [
        (TOPIC, ALERT.encode()),
        ("pcap/binary", BINARY),
    ]
    binary = reading.messages[1]
    assert (binary.qos, binary.retain) == (1, True)
    assert binary.properties.content_type == "application/octet-stream"
    assert binary.properties.user_properties == (("from", "pcap"),)

    out = tmp_path / "from-pcap.jsonl"
    command = [sys.executable, "-m", "iotsim_tui", "record", "--from-pcap", str(pcap)]
    result = await asyncio.to_thread(
        subprocess.run, [*command, "--out", str(out)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "2 messages from 2 MQTT connections" in result.stderr
    messages = [message for _, message in read_recording(out)]
    assert [m.payload for m in messages] == [ALERT.encode(), BINARY]
    assert json.loads(out.read_text().splitlines()[0])["payload"] == ALERT


def test_a_file_that_is_not_a_pcap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.pcap"
    path.write_text("not a capture")
    with pytest.raises(RecordingError, match="is not a pcap capture"):
        read_pcap(path)


def test_a_truncated_capture_names_the_frame(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    path.write_bytes(header + struct.pack("<IIII", 1, 0, 100, 100) + b"\x00" * 40)
    with pytest.raises(RecordingError, match="frame 1 is cut short"):
        read_pcap(path)
