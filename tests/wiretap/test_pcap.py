"""pcap files of real sessions, read back by tshark: MQTT in clear on one, only TLS on the other."""

from __future__ import annotations

import asyncio
import ssl
import struct
from pathlib import Path

import pytest

from iotsim_tui.errors import CaptureError
from iotsim_tui.wiretap import Eavesdrop
from iotsim_tui.wiretap.pcap import PcapSummary, write_pcap
from iotsim_tui.wiretap.store import CaptureStore, Chunk, Direction, End, EndKind
from tests.support.certs import client_context
from tests.support.mosquitto import RunningMosquitto
from tests.wiretap.conftest import TLSBroker
from tests.wiretap.sessions import (
    ALERT,
    SECOND_ALERT,
    TOPIC,
    expert_warnings,
    lab_session,
    settled,
    tshark,
)

PORTS = ("-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport")


def mqtt_rows(pcap: Path, port: int, *options: str) -> list[list[str]]:
    out = tshark(
        pcap,
        *options,
        "-Y",
        "mqtt.msgtype == 3",
        "-T",
        "fields",
        "-e",
        "mqtt.topic",
        "-e",
        "mqtt.msg",
    )
    return [line.split("\t") for line in out.splitlines() if line]


def as_text(field: str) -> str:
    """tshark prints a bytes field as hex (with or without colons)."""
    return bytes.fromhex(field.replace(":", "")).decode()


def test_the_file_is_libpcap_with_ethernet_frames(tmp_path: Path) -> None:
    store = CaptureStore()
    record = store.open(("127.0.0.1", 50000), ("127.0.0.1", 1883), 1_700_000_000.25)
    store.add_chunk(record, Chunk(1_700_000_000.5, Direction.TO_BROKER, b"x" * 3000))
    store.add_end(record, End(1_700_000_001.0, Direction.TO_BROKER, EndKind.RESET))
    summary = write_pcap(tmp_path / "one.pcap", store.records())
    raw = (tmp_path / "one.pcap").read_bytes()
    magic, major, minor, _, _, snaplen, linktype = struct.unpack_from("<IHHiIII", raw)
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, 1)
    assert snaplen >= 1514
    # SYN, SYN-ACK, ACK, 3 segments of at most 1460 bytes, the broker's ACK, RST.
    assert summary.packets == 8
    assert summary.connections == 1
    assert str(summary) == "8 packets of 1 connection"


def test_the_summary_reads_as_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    assert str(PcapSummary(path, 1, 1, 0)) == "1 packet of 1 connection"
    assert str(PcapSummary(path, 0, 0, 0)) == "0 packets of 0 connections"
    many = PcapSummary(path, 25, 3, 2)
    assert str(many) == "25 packets of 3 connections (2 cut short by the relay's memory limits)"


def test_an_unwritable_path_is_a_capture_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(CaptureError, match=r"cannot write the capture to .*file/x\.pcap"):
        write_pcap(blocker / "x.pcap", [])


@pytest.mark.slow
async def test_plain_capture_shows_the_publish_to_tshark(
    mosquitto: RunningMosquitto, tmp_path: Path
) -> None:
    async with Eavesdrop(target=(mosquitto.host, mosquitto.port)) as tap:
        await lab_session(tap)
        pcap = tmp_path / "captures" / "plain.pcap"
        summary = tap.write_pcap(pcap)
        (connection,) = tap.connections()
    assert summary.connections == 1
    decode = ("-d", f"tcp.port=={mosquitto.port},mqtt")
    rows = mqtt_rows(pcap, mosquitto.port, *decode)
    # Once from the device to the broker, once back to the subscribed device.
    assert [(topic, as_text(message)) for topic, message in rows] == [(TOPIC, ALERT)] * 2
    # The command docs/eavesdrop.md gives for the message as text (mqtt.msg is bytes: hex).
    as_shown = tshark(
        pcap, *decode, "-o", "mqtt.show_msg_as_text:TRUE", "-Y", "mqtt.msgtype == 3",
        "-T", "fields", "-e", "mqtt.topic", "-e", "mqtt.msg_text",
    )  # fmt: skip
    assert as_shown.splitlines() == [f"{TOPIC}\t{ALERT}"] * 2
    ports = tshark(pcap, "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0", *PORTS)
    assert ports.split() == [str(connection.client[1]), str(mosquitto.port)]
    assert expert_warnings(pcap, *decode) == []
    assert tshark(pcap, "-Y", "tcp.len > 1460") == ""


# tshark names the type of a TLS 1.3 record "opaque_type": its real type is encrypted too.
APPLICATION_DATA = {
    ssl.TLSVersion.TLSv1_2: "tls.record.content_type == 23",
    ssl.TLSVersion.TLSv1_3: "tls.record.opaque_type == 23",
}


@pytest.mark.slow
@pytest.mark.parametrize("version", list(APPLICATION_DATA), ids=["tls1.2", "tls1.3"])
async def test_tls_capture_shows_only_records_to_tshark(
    tls_broker: TLSBroker, tmp_path: Path, version: ssl.TLSVersion
) -> None:
    context = client_context(tls_broker.certs)
    context.maximum_version = version
    async with Eavesdrop(target=(tls_broker.host, tls_broker.port)) as tap:
        await lab_session(tap, message=SECOND_ALERT, tls_context=context)
        pcap = tmp_path / "tls.pcap"
        tap.write_pcap(pcap)
    decode = ("-d", f"tcp.port=={tls_broker.port},tls")
    application = tshark(pcap, *decode, "-Y", APPLICATION_DATA[version])
    assert application.count("Application Data") >= 4
    assert tshark(pcap, *decode, "-Y", "mqtt") == ""
    assert SECOND_ALERT.encode() not in pcap.read_bytes()
    assert expert_warnings(pcap, *decode) == []


@pytest.mark.slow
async def test_a_key_log_lets_tshark_decrypt_the_tls_capture(
    tls_broker: TLSBroker, tmp_path: Path
) -> None:
    key_log = tmp_path / "keys.log"
    context = client_context(tls_broker.certs)
    context.keylog_filename = str(key_log)
    async with Eavesdrop(target=(tls_broker.host, tls_broker.port), key_log=str(key_log)) as tap:
        await lab_session(tap, message=SECOND_ALERT, tls_context=context)
        pcap = tmp_path / "tls.pcap"
        tap.write_pcap(pcap)
    assert "CLIENT_TRAFFIC_SECRET_0" in key_log.read_text()
    decode = (
        "-d",
        f"tcp.port=={tls_broker.port},tls",
        "-d",
        f"tls.port=={tls_broker.port},mqtt",
        "-o",
        f"tls.keylog_file:{key_log}",
    )
    rows = mqtt_rows(pcap, tls_broker.port, *decode)
    assert [(topic, as_text(message)) for topic, message in rows] == [(TOPIC, SECOND_ALERT)] * 2


@pytest.mark.slow
async def test_tls_1_2_capture_decrypts_with_its_key_log_too(
    tls_broker: TLSBroker, tmp_path: Path
) -> None:
    key_log = tmp_path / "keys.log"
    context = client_context(tls_broker.certs)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.keylog_filename = str(key_log)
    async with Eavesdrop(target=(tls_broker.host, tls_broker.port)) as tap:
        await lab_session(tap, tls_context=context)
        pcap = tmp_path / "tls12.pcap"
        tap.write_pcap(pcap)
    assert "CLIENT_RANDOM" in key_log.read_text()
    decode = ("-d", f"tcp.port=={tls_broker.port},tls", "-d", f"tls.port=={tls_broker.port},mqtt")
    keys = ("-o", f"tls.keylog_file:{key_log}")
    assert tshark(pcap, *decode, "-Y", "mqtt") == ""
    rows = mqtt_rows(pcap, tls_broker.port, *decode, *keys)
    assert [(topic, as_text(message)) for topic, message in rows] == [(TOPIC, ALERT)] * 2


@pytest.mark.slow
async def test_a_large_transfer_is_split_at_the_mss_and_adds_up(tmp_path: Path) -> None:
    size = 1024 * 1024
    payload = bytes(range(256)) * (size // 256)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(size))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, Eavesdrop(target=("127.0.0.1", port)) as tap:
        reader, writer = await asyncio.open_connection(*tap.endpoint)
        writer.write(payload)
        assert await asyncio.wait_for(reader.readexactly(size), 30) == payload
        writer.close()
        await settled(tap)
        pcap = tmp_path / "large.pcap"
        tap.write_pcap(pcap)
    lengths = tshark(pcap, "-T", "fields", "-e", "tcp.dstport", "-e", "tcp.len")
    sent = {str(port): 0, str(tap.connections()[0].client[1]): 0}
    for line in lengths.splitlines():
        dport, length = line.split("\t")
        assert int(length) <= 1460
        sent[dport] += int(length)
    assert sorted(sent.values()) == [size, size]
    assert expert_warnings(pcap) == []
