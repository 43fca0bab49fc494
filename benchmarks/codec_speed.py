"""PUBLISH parse and encode speed of the codec, side by side with paho-mqtt's, same run.

    python benchmarks/codec_speed.py [--repeats 5] [--messages 20000] [--no-write]

Decoding: a stream of PUBLISH packets is cut into 64 KiB reads (what a socket read returns
under load) and fed to `PacketReader`; the reference frames the same reads with a plain
loop and decodes each body with paho-mqtt's `_packet.decode_publish`, the parser the
devices' client runs. paho checks less (topics stay bytes: no UTF-8, U+0000 or wildcard
checks), so it is a fair floor to be compared with, not a like-for-like validator.

Encoding: `encode(Publish(...), version)` against paho's `Client._send_publish` with its
send queue replaced by a function that returns the bytes (paho is handed an already
encoded topic; we encode it).

Each figure is the median of `--repeats` rounds; within a round the two alternate. The
results replace the `codec_speed` section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import _common
from paho.mqtt import _packet as paho_packet
from paho.mqtt.client import Client, MQTTv5, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties as PahoProperties

from iotsim_tui.protocol.codec import PacketReader, encode
from iotsim_tui.protocol.packets import MQTTVersion, Publish
from iotsim_tui.protocol.properties import Properties

READ_SIZE = 65_536
TELEMETRY = b'{"temperature": 21.5, "humidity": 40}'


@dataclass(frozen=True)
class Workload:
    """One kind of PUBLISH, in one protocol version."""

    name: str
    version: MQTTVersion
    packet: Publish


WORKLOADS = [
    Workload("QoS 0, 3.1.1, 38 B", MQTTVersion.V311, Publish("devices/TS1/telemetry", TELEMETRY)),
    Workload(
        "QoS 1, 3.1.1, 38 B",
        MQTTVersion.V311,
        Publish("devices/TS1/telemetry", TELEMETRY, 1, packet_id=42),
    ),
    Workload(
        "QoS 1, 5.0, 38 B, no properties",
        MQTTVersion.V5,
        Publish("devices/TS1/telemetry", TELEMETRY, 1, packet_id=42),
    ),
    Workload(
        "QoS 1, 5.0, 38 B, 2 properties",
        MQTTVersion.V5,
        Publish(
            "devices/TS1/telemetry",
            TELEMETRY,
            1,
            packet_id=42,
            properties=Properties(message_expiry_interval=60, user_properties=(("unit", "C"),)),
        ),
    ),
    Workload(
        "QoS 0, 3.1.1, 4 KiB",
        MQTTVersion.V311,
        Publish("devices/TS1/firmware", bytes(range(256)) * 16),
    ),
]


def _reads(workload: Workload, count: int) -> list[bytes]:
    stream = encode(workload.packet, workload.version) * count
    return [stream[i : i + READ_SIZE] for i in range(0, len(stream), READ_SIZE)]


def decode_ours(reads: list[bytes], version: MQTTVersion) -> int:
    """Messages parsed by `PacketReader`."""
    reader = PacketReader(version)
    parsed = 0
    for data in reads:
        parsed += len(reader.feed(data))
    return parsed


def decode_paho(reads: list[bytes], version: MQTTVersion) -> int:
    """Messages parsed by a plain framing loop and paho's PUBLISH decoder."""
    protocol = MQTTv5 if version == MQTTVersion.V5 else MQTTv311
    decode = paho_packet.decode_publish
    buffer = bytearray()
    parsed = 0
    for data in reads:
        buffer += data
        pos = 0
        size = len(buffer)
        while size - pos >= 2:
            length = 0
            shift = 0
            index = pos + 1
            while True:
                byte = buffer[index]
                length |= (byte & 0x7F) << shift
                index += 1
                if not byte & 0x80:
                    break
                shift += 7
            end = index + length
            if end > size:
                break
            decode(buffer[pos], bytes(buffer[index:end]), protocol)
            parsed += 1
            pos = end
        del buffer[:pos]
    return parsed


def encode_ours(workload: Workload, count: int) -> int:
    """Messages written by `encode`."""
    packet, version = workload.packet, workload.version
    for _ in range(count):
        encode(packet, version)
    return count


class _NoSocket:
    """Stands in for paho's socket: nothing is sent, and closing it does nothing."""

    def close(self) -> None:
        """Nothing to close."""


def _bytes_of_packet(
    command: int, packet: bytearray, mid: int, qos: int, info: Any = None
) -> bytearray:
    return packet


def _paho_encoder(workload: Workload) -> Callable[[], Any]:
    v5 = workload.version == MQTTVersion.V5
    client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTv5 if v5 else MQTTv311)
    # paho builds a packet only with a socket, then queues it: hand the bytes back instead.
    vars(client).update(_sock=_NoSocket(), _packet_queue=_bytes_of_packet)
    packet = workload.packet
    properties = None
    if v5 and not packet.properties.is_empty():
        properties = PahoProperties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.MessageExpiryInterval = packet.properties.message_expiry_interval
        properties.UserProperty = list(packet.properties.user_properties)
    topic = packet.topic.encode()
    send = client._send_publish
    args = (packet.packet_id, topic, packet.payload, packet.qos, packet.retain, packet.dup)
    return lambda: send(*args, None, properties)


def encode_paho(workload: Workload, count: int) -> int:
    """Messages written by paho's client."""
    build = _paho_encoder(workload)
    for _ in range(count):
        build()
    return count


def _rate(run: Callable[[], int]) -> float:
    start = time.perf_counter()
    done = run()
    return done / (time.perf_counter() - start)


def check_same_bytes() -> None:
    """Both encoders write the same bytes, and both decoders read ours: same work measured."""
    for workload in WORKLOADS:
        ours = encode(workload.packet, workload.version)
        theirs = bytes(_paho_encoder(workload)())
        if ours != theirs:
            sys.exit(f"{workload.name}: encodings differ\n ours {ours!r}\n paho {theirs!r}")
        reads = _reads(workload, 3)
        if decode_ours(reads, workload.version) != 3 or decode_paho(reads, workload.version) != 3:
            sys.exit(f"{workload.name}: a decoder missed packets")


def main() -> int:
    """Run every workload, print a table, and write it to docs/performance.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    args = parser.parse_args()
    check_same_bytes()
    rows = []
    for workload in WORKLOADS:
        reads = _reads(workload, args.messages)
        rates: dict[str, list[float]] = {key: [] for key in ("dec", "dec_ref", "enc", "enc_ref")}
        runs = {
            "dec": partial(decode_ours, reads, workload.version),
            "dec_ref": partial(decode_paho, reads, workload.version),
            "enc": partial(encode_ours, workload, args.messages),
            "enc_ref": partial(encode_paho, workload, args.messages),
        }
        for _ in range(args.repeats):
            for key, run in runs.items():
                rates[key].append(_rate(run))
        medians = {key: _common.median(values) for key, values in rates.items()}
        rows.append((workload.name, medians))
        print(
            f"{workload.name:34} decode {medians['dec']:>10,.0f}/s "
            f"(paho {medians['dec_ref']:>10,.0f}/s, x{medians['dec'] / medians['dec_ref']:.2f})  "
            f"encode {medians['enc']:>10,.0f}/s "
            f"(paho {medians['enc_ref']:>10,.0f}/s, x{medians['enc'] / medians['enc_ref']:.2f})",
            flush=True,
        )
    report = _report(rows, args)
    if not args.no_write:
        _common.write_section("codec_speed", report)
    return 0


def _report(rows: list[tuple[str, dict[str, float]]], args: argparse.Namespace) -> str:
    lines = [
        "## Codec: PUBLISH parse and encode (`benchmarks/codec_speed.py`)",
        "",
        f"{_common.today()}; {_common.machine()}; load average {os.getloadavg()[0]:.1f} "
        "(other work shares the machine: the ratios are steadier than the absolute figures).",
        f"Median of {args.repeats} rounds of {args.messages:,} messages; reads of "
        f"{READ_SIZE // 1024} KiB. Reference: paho-mqtt's PUBLISH decoder and encoder, same run.",
        "",
        "| PUBLISH | parse msg/s | paho msg/s | ratio | encode msg/s | paho msg/s | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in rows:
        lines.append(
            f"| {name} | {m['dec']:,.0f} | {m['dec_ref']:,.0f} | {m['dec'] / m['dec_ref']:.2f} "
            f"| {m['enc']:,.0f} | {m['enc_ref']:,.0f} | {m['enc'] / m['enc_ref']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
