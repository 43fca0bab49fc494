"""Turn a capture (pcap, as the eavesdrop view writes it) into a recording.

Only MQTT in clear can be read: each TCP connection whose client side starts with CONNECT is
put back together in sequence order and read by the codec; every PUBLISH the client sent
becomes a message of the recording, at the time of the segment that completed it. TLS
connections and other protocols are counted and skipped. TCP over IPv4 and IPv6 (a capture
on loopback of devices that use ::1) is read. Ethernet (what the eavesdrop view and most
sniffers write), Linux cooked (v1 and v2, `-i any`) and raw IP captures are read, in either
byte order, with micro- or nanosecond times.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from iotsim_tui.protocol.codec import PacketReader
from iotsim_tui.protocol.errors import MalformedPacket
from iotsim_tui.protocol.packets import Publish
from iotsim_tui.traffic.recording import RecordedMessage, RecordingError

MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6 = 1, 101, 228, 229
LINKTYPE_SLL, LINKTYPE_SLL2 = 113, 276
LINK_TYPES = (
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_SLL,
    LINKTYPE_SLL2,
)
ETHERTYPE_IPV4, ETHERTYPE_IPV6 = b"\x08\x00", b"\x86\xdd"
TCP = 6
IPV6_OPTION_HEADERS = (0, 43, 60)
"""IPv6 extension headers walked past to reach TCP: hop-by-hop, routing, destination."""
FlowKey = tuple[bytes, int, bytes, int]


@dataclass(slots=True)
class PcapReading:
    """What a capture gave: the messages, and what could not be read as MQTT in clear."""

    messages: list[RecordedMessage] = field(default_factory=list)
    connections: int = 0
    """Connections read as MQTT."""
    skipped: int = 0
    """Connections that are not MQTT in clear (TLS, another protocol)."""
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Flow:
    next_seq: int | None = None
    reader: PacketReader | None = None
    undecided: bool = True
    broken: bool = False
    aliases: dict[int, str] = field(default_factory=dict)


def read_pcap(path: Path) -> PcapReading:
    """Read the MQTT messages clients published in the capture at `path`.

    Raises RecordingError when the file is not a pcap or ends in the middle of a frame.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RecordingError(f"cannot read the capture {path}: {error.strerror}") from None
    reading = PcapReading()
    flows: dict[FlowKey, _Flow] = {}
    for when, segment in _tcp_segments(path, data):
        key, seq, flags, payload = segment
        flow = flows.setdefault(key, _Flow())
        if flags & 0x02:  # SYN
            flow.next_seq = (seq + 1) & 0xFFFFFFFF
            continue
        if not payload or flow.broken:
            continue
        if flow.next_seq is None:
            flow.next_seq = seq  # the capture started after the handshake
        offset = (flow.next_seq - seq) & 0xFFFFFFFF
        if offset >= len(payload):
            continue  # a retransmission of bytes already read
        if offset > 0x7FFFFFFF:
            flow.broken = True
            reading.problems.append(f"{_name(key)}: bytes missing from the capture")
            continue
        payload = payload[offset:]
        flow.next_seq = (flow.next_seq + len(payload)) & 0xFFFFFFFF
        _feed(reading, key, flow, when, payload)
    reading.messages.sort(key=lambda message: message.time)
    return reading


def _feed(reading: PcapReading, key: FlowKey, flow: _Flow, when: float, data: bytes) -> None:
    if flow.undecided:
        flow.undecided = False
        if data[0] != 0x10:  # not a CONNECT: the broker's side, TLS, or not MQTT
            flow.broken = True
            if data[0] != 0x20:  # a CONNACK starts the broker's side of an MQTT connection
                reading.skipped += 1
            return
        flow.reader = PacketReader(version=None)
        reading.connections += 1
    assert flow.reader is not None
    try:
        packets = flow.reader.feed(data)
    except MalformedPacket as error:
        packets = list(error.decoded_before)
        flow.broken = True
        reading.problems.append(f"{_name(key)}: {error.message}; the rest is skipped")
    for packet in packets:
        if isinstance(packet, Publish):
            message = _message(packet, flow, when)
            if message is not None:
                reading.messages.append(message)


def _message(packet: Publish, flow: _Flow, when: float) -> RecordedMessage | None:
    properties = packet.properties
    topic = packet.topic
    alias = properties.topic_alias
    if alias is not None:
        if topic:
            flow.aliases[alias] = topic
        topic = flow.aliases.get(alias, "")
        properties = replace(properties, topic_alias=None)
    if not topic:
        return None
    properties = replace(properties, subscription_identifiers=())
    return RecordedMessage(when, topic, packet.payload, packet.qos, packet.retain, properties)


def _name(key: FlowKey) -> str:
    return f"{_end(key[0], key[1])} -> {_end(key[2], key[3])}"


def _end(address: bytes, port: int) -> str:
    ip = ipaddress.ip_address(address)
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


Segment = tuple[FlowKey, int, int, bytes]


def _tcp_segments(path: Path, data: bytes) -> Iterator[tuple[float, Segment]]:
    if len(data) < 24 or data[:4] not in MAGICS:
        raise RecordingError(f"{path} is not a pcap capture (pcapng is not read: save as pcap)")
    order, unit = MAGICS[data[:4]]
    link = struct.unpack(order + "I", data[20:24])[0] & 0xFFFF
    if link not in LINK_TYPES:
        raise RecordingError(
            f"{path}: link type {link} is not read (Ethernet, Linux cooked or raw IP only)"
        )
    pos, number = 24, 0
    while pos < len(data):
        number += 1
        if pos + 16 > len(data):
            raise RecordingError(f"{path}: frame {number} is cut short (the file is truncated)")
        seconds, fraction, kept, _ = struct.unpack(order + "IIII", data[pos : pos + 16])
        frame = data[pos + 16 : pos + 16 + kept]
        if len(frame) < kept:
            raise RecordingError(f"{path}: frame {number} is cut short (the file is truncated)")
        pos += 16 + kept
        segment = _segment(frame, link)
        if segment is not None:
            yield seconds + fraction * unit, segment


def _segment(frame: bytes, link: int) -> Segment | None:
    packet = _ip_packet(frame, link)
    if packet is None:
        return None
    if packet[0] >> 4 == 4:
        found = _ipv4_tcp(packet)
    elif packet[0] >> 4 == 6:
        found = _ipv6_tcp(packet)
    else:
        return None
    if found is None:
        return None
    source, target, tcp = found
    if len(tcp) < 20:
        return None
    source_port, target_port, seq = struct.unpack("!HHI", tcp[:8])
    offset = (tcp[12] >> 4) * 4
    return (source, source_port, target, target_port), seq, tcp[13], tcp[offset:]


def _ip_packet(frame: bytes, link: int) -> bytes | None:
    """The IP packet a frame carries, or None when it carries something else."""
    if link == LINKTYPE_ETHERNET:
        kind, start = frame[12:14], 14
    elif link == LINKTYPE_SLL:
        kind, start = frame[14:16], 16
    elif link == LINKTYPE_SLL2:
        kind, start = frame[0:2], 20
    else:
        return frame if frame else None  # raw IP: the version nibble tells which
    if kind not in (ETHERTYPE_IPV4, ETHERTYPE_IPV6) or len(frame) <= start:
        return None
    return frame[start:]


def _ipv4_tcp(ip: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(source, target, TCP segment) of an IPv4 packet carrying TCP."""
    if len(ip) < 20 or ip[9] != TCP:
        return None
    header = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    return ip[12:16], ip[16:20], ip[header:total]


def _ipv6_tcp(ip: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(source, target, TCP segment) of an IPv6 packet carrying TCP, past option headers."""
    if len(ip) < 40:
        return None
    length = struct.unpack("!H", ip[4:6])[0]
    following, end = ip[6], 40 + length
    position = 40
    while following in IPV6_OPTION_HEADERS and position + 8 <= end:
        following, position = ip[position], position + (ip[position + 1] + 1) * 8
    if following != TCP:
        return None  # a fragment, or no TCP
    return ip[8:24], ip[24:40], ip[position:end]
