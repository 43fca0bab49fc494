"""Captures over IPv6 loopback (::1) read back into a recording: dumpcap's own, and the relay's."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiomqtt
import pytest

from iotsim_tui.broker.launch import BrokerLaunch
from iotsim_tui.broker.process import BundledBroker
from iotsim_tui.traffic.from_pcap import PcapReading, read_pcap
from iotsim_tui.traffic.recording import RecordingError
from iotsim_tui.wiretap import Eavesdrop
from tests.support.bundled import READY_TIMEOUT, skip_without_broker
from tests.wiretap.sessions import (
    ALERT,
    TOPIC,
    expert_warnings,
    lab_session,
    settled,
    tshark,
    wait_until,
)

LARGE = bytes(range(256)) * 24
"""6 KiB: one segment on loopback, five in the relay's pcap (an MSS of 1440 over IPv6)."""
TOPICS = ("-T", "fields", "-e", "mqtt.topic")
HEADER = 24
"""A pcap file's global header: dumpcap has opened the interface once the file has it."""


@contextlib.asynccontextmanager
async def ipv6_broker() -> AsyncIterator[int]:
    """The bundled broker listening on [::1] and a free port; yields the port."""
    skip_without_broker()
    if not socket.has_ipv6:
        pytest.skip("this Python has no IPv6")
    launch = BrokerLaunch(bind="::1", plain_port=0)
    async with BundledBroker(launch, ready_timeout=READY_TIMEOUT) as broker:
        yield broker.listening["plain"][1]


@contextlib.asynccontextmanager
async def loopback_capture(path: Path, port: int) -> AsyncIterator[None]:
    """dumpcap on the loopback interface, TCP over IPv6 to and from `port`, while the block runs.

    Skips the test when dumpcap is missing or may not capture here (it needs CAP_NET_RAW).
    """
    dumpcap = shutil.which("dumpcap")
    if dumpcap is None:
        pytest.skip("dumpcap is not installed (apt-get install tshark)")
    command = [dumpcap, "-i", "lo", "-P", "-q", "-f", f"ip6 and tcp port {port}", "-w", str(path)]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        await wait_until(lambda: _size(path) >= HEADER or process.returncode is not None, 20)
        if process.returncode is not None:
            assert process.stderr is not None
            why = (await process.stderr.read()).decode(errors="replace").strip()
            pytest.skip(f"dumpcap cannot capture on lo here: {why}")
        # The filter is on once a probe connection's packets reach the file.
        with socket.create_connection(("::1", port), timeout=5):
            pass
        await wait_until(lambda: _size(path) > HEADER, 20)
        yield
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)  # dumpcap's own way to stop: the file is whole
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def _read_once_there(path: Path, messages: int) -> PcapReading:
    """Read the capture as dumpcap writes it, until it holds `messages` messages."""
    reading = PcapReading()

    def complete() -> bool:
        nonlocal reading
        try:
            reading = read_pcap(path)
        except RecordingError:
            return False  # a frame half written: read again
        return len(reading.messages) >= messages

    await wait_until(complete, 20)
    return reading


def relinked(pcap: Path, link: int, frame_of: Callable[[bytes], bytes], out: Path) -> Path:
    """`pcap` (Ethernet, as the relay writes it) with each frame remade for link type `link`."""
    data = pcap.read_bytes()
    header = bytearray(data[:HEADER])
    struct.pack_into("<I", header, 20, link)
    parts, position = [bytes(header)], HEADER
    while position < len(data):
        seconds, micros, kept, _ = struct.unpack_from("<IIII", data, position)
        frame = frame_of(data[position + 16 : position + 16 + kept])
        parts.append(struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame)
        position += 16 + kept
    out.write_bytes(b"".join(parts))
    return out


LINKS = {
    # Linux cooked v1: packet type, ARPHRD, address length, 8 address bytes, then the protocol.
    "linux cooked": (113, lambda f: b"\x00\x00\x00\x01\x00\x06" + f[6:12] + b"\x00\x00" + f[12:]),
    # Linux cooked v2 (`-i any`): the protocol first, then 18 bytes of interface and address.
    "linux cooked v2": (276, lambda f: f[12:14] + b"\x00\x00" + bytes(16) + f[14:]),
    "raw IPv6": (229, lambda f: f[14:]),
    "raw IP": (101, lambda f: f[14:]),
}


async def test_a_capture_dumpcap_made_on_ipv6_loopback_becomes_a_recording(
    tmp_path: Path,
) -> None:
    pcap = tmp_path / "lo6.pcap"
    async with ipv6_broker() as port, loopback_capture(pcap, port):
        async with aiomqtt.Client("::1", port, identifier=f"v6-{os.getpid()}") as client:
            await client.publish("v6/alert", ALERT, qos=1)
            await client.publish("v6/large", LARGE, qos=1, retain=True)
        reading = await _read_once_there(pcap, 2)

    decode = ("-d", f"tcp.port=={port},mqtt")
    topics = tshark(pcap, *decode, "-Y", "ipv6 && mqtt.msgtype == 3", *TOPICS)
    assert topics.split() == ["v6/alert", "v6/large"]
    assert reading.problems == []
    assert [(m.topic, m.payload) for m in reading.messages] == [
        ("v6/alert", ALERT.encode()),
        ("v6/large", LARGE),
    ]
    assert (reading.messages[1].qos, reading.messages[1].retain) == (1, True)
    assert reading.connections == 1


async def test_the_relay_writes_an_ipv6_connection_as_ipv6_and_reads_it_back(
    tmp_path: Path,
) -> None:
    pcap = tmp_path / "relay6.pcap"
    async with ipv6_broker() as port, Eavesdrop(target=("::1", port)) as tap:
        await lab_session(tap)
        async with aiomqtt.Client("127.0.0.1", tap.endpoint[1], identifier="v6-large") as client:
            await client.publish("v6/large", LARGE, qos=1)
        await settled(tap)
        tap.write_pcap(pcap)

    decode = ("-d", f"tcp.port=={port},mqtt")
    sources = tshark(pcap, *decode, "-Y", "mqtt.msgtype == 3", "-T", "fields", "-e", "ipv6.src")
    assert sources.split() == ["::1"] * 3  # the alert both ways, and the large one
    assert expert_warnings(pcap, *decode) == []
    expected = [(TOPIC, ALERT.encode()), ("v6/large", LARGE)]
    reading = read_pcap(pcap)
    assert reading.problems == []
    assert [(m.topic, m.payload) for m in reading.messages] == expected

    # The same capture as other sniffers write it: tshark reads each alike, and so do we.
    for name, (link, frame_of) in LINKS.items():
        other = relinked(pcap, link, frame_of, tmp_path / f"{link}.pcap")
        shown = tshark(other, *decode, "-Y", "ipv6 && mqtt.msgtype == 3", *TOPICS)
        assert shown.split() == [TOPIC, TOPIC, "v6/large"], name
        reading = read_pcap(other)
        assert reading.problems == [], name
        assert [(m.topic, m.payload) for m in reading.messages] == expected, name
