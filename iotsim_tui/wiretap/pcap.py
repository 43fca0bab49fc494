"""Write relayed connections as a pcap file that Wireshark and tshark open without warnings.

The relay sees a byte stream, not packets, so the framing is synthesised: Ethernet, IP
and TCP headers with a SYN / SYN-ACK / ACK handshake, sequence and acknowledgement numbers
that add up both ways, segments of at most one MSS, an ACK for what the other side sent,
FIN or RST at the end, and correct checksums. Addresses and ports are the real ones (the
device's ephemeral port, and the broker's 1883 or 8883), so Wireshark's MQTT and TLS
dissectors engage on their own. A connection over IPv6 (a broker on ::1) is written as IPv6;
a host name the relay could not resolve to an address is written as 127.0.0.1.
"""

from __future__ import annotations

import heapq
import ipaddress
import os
import struct
import sys
import tempfile
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from iotsim_tui.errors import CaptureError
from iotsim_tui.wiretap.store import Address, Chunk, ConnectionRecord, Direction, End, EndKind
from iotsim_tui.words import counted

MAGIC = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
SNAPLEN = 65535
MSS = 1460
MSS_IPV6 = 1440
"""The largest TCP payload in a 1500-byte IPv4 or IPv6 packet (IPv6's header is 20 bytes more)."""
WINDOW = 65535
WINDOW_SHIFT = 7
"""Window scale offered in SYN and SYN-ACK: 65535 << 7 is about 8 MiB, plenty for a chunk."""
DEVICE_MAC = bytes.fromhex("020000000001")
BROKER_MAC = bytes.fromhex("020000000002")

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
Frame = tuple[float, int, bytes]
"""(time, order, Ethernet frame); order keeps frames of one instant in the order made."""


@dataclass(frozen=True, slots=True)
class PcapSummary:
    """What a pcap file holds."""

    path: Path
    packets: int
    connections: int
    truncated: int
    """Connections whose capture stops early because they hit the relay's memory limits."""

    def __str__(self) -> str:
        """'11 packets of 1 connection', and how many were cut short when some were."""
        text = f"{counted(self.packets, 'packet')} of {counted(self.connections, 'connection')}"
        if self.truncated:
            text += f" ({self.truncated} cut short by the relay's memory limits)"
        return text


def write_pcap(path: Path, records: Iterable[ConnectionRecord]) -> PcapSummary:
    """Write `records` to `path` (atomically); raises CaptureError naming the path."""
    records = list(records)
    frames = heapq.merge(*(_frames(r) for r in records))
    packets = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(struct.pack("<IHHiIII", MAGIC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
                for at, _, frame in frames:
                    seconds = int(at)
                    micros = min(round((at - seconds) * 1_000_000), 999_999)
                    out.write(struct.pack("<IIII", seconds, micros, len(frame), len(frame)))
                    out.write(frame)
                    packets += 1
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CaptureError(f"cannot write the capture to {path}: {exc.strerror or exc}") from exc
    truncated = sum(1 for r in records if r.truncated)
    return PcapSummary(path, packets, len(records), truncated)


class _Flow:
    """The TCP state of one connection's two ends while its frames are made."""

    def __init__(self, record: ConnectionRecord) -> None:
        client, server = _ip_pair(record.client, record.server)
        self.addr = {
            Direction.TO_BROKER: (client, record.client[1]),
            Direction.TO_DEVICE: (server, record.server[1]),
        }
        self.ipv6 = len(client) == 16
        self.mss = MSS_IPV6 if self.ipv6 else MSS
        self.mac = {Direction.TO_BROKER: DEVICE_MAC, Direction.TO_DEVICE: BROKER_MAC}
        # Initial sequence numbers: fixed per connection so the same capture gives the same file.
        self.seq = {
            Direction.TO_BROKER: (record.id * 0x9E3779B1) & 0xFFFFFFFF,
            Direction.TO_DEVICE: (record.id * 0x85EBCA6B + 0x7F4A7C15) & 0xFFFFFFFF,
        }
        self.ip_id = {Direction.TO_BROKER: record.id * 1000 & 0xFFFF, Direction.TO_DEVICE: 0}
        self.order = 0
        self.last = record.started

    def segment(self, at: float, sender: Direction, flags: int, payload: bytes = b"") -> Frame:
        """One frame from `sender`, advancing its sequence number past what it carries."""
        receiver = sender.opposite
        options = b""
        if flags & SYN:
            options = struct.pack("!BBHBBBB", 2, 4, self.mss, 1, 3, 3, WINDOW_SHIFT)
        ack_number = self.seq[receiver] if flags & ACK else 0
        src, sport = self.addr[sender]
        dst, dport = self.addr[receiver]
        tcp = _tcp(src, dst, sport, dport, self.seq[sender], ack_number, flags, options, payload)
        self.seq[sender] = (
            self.seq[sender] + len(payload) + (1 if flags & (SYN | FIN) else 0)
        ) & 0xFFFFFFFF
        if self.ipv6:
            ip, ethertype = _ipv6_header(src, dst, len(tcp)), b"\x86\xdd"
        else:
            self.ip_id[sender] = (self.ip_id[sender] + 1) & 0xFFFF
            ip, ethertype = _ipv4_header(src, dst, len(tcp), self.ip_id[sender]), b"\x08\x00"
        frame = self.mac[receiver] + self.mac[sender] + ethertype + ip + tcp
        self.last = max(self.last, at)
        self.order += 1
        return (self.last, self.order, frame)


def _frames(record: ConnectionRecord) -> Iterator[Frame]:
    flow = _Flow(record)
    yield flow.segment(record.started, Direction.TO_BROKER, SYN)
    yield flow.segment(record.started, Direction.TO_DEVICE, SYN | ACK)
    yield flow.segment(record.started, Direction.TO_BROKER, ACK)
    events = record.events
    for index, event in enumerate(events):
        if isinstance(event, Chunk):
            data = event.data
            for start in range(0, len(data), flow.mss):
                last = start + flow.mss >= len(data)
                flags = ACK | (PSH if last else 0)
                yield flow.segment(event.at, event.direction, flags, data[start : start + flow.mss])
            following = events[index + 1] if index + 1 < len(events) else None
            replies = isinstance(following, Chunk) and following.direction is not event.direction
            if data and not replies:
                yield flow.segment(event.at, event.direction.opposite, ACK)
        elif isinstance(event, End):
            if event.kind is EndKind.RESET:
                yield flow.segment(event.at, event.direction, RST | ACK)
                return
            yield flow.segment(event.at, event.direction, FIN | ACK)
            yield flow.segment(event.at, event.direction.opposite, ACK)


def _ip_pair(client: Address, server: Address) -> tuple[bytes, bytes]:
    """Both ends' addresses, packed, of one family: IPv6 (16 bytes) when either end is IPv6
    (an IPv4 end then as ::ffff:a.b.c.d), else IPv4 (4 bytes)."""
    ends = (_packed(client), _packed(server))
    if all(len(end) == 4 for end in ends):
        return ends
    mapped = [end if len(end) == 16 else b"\x00" * 10 + b"\xff\xff" + end for end in ends]
    return mapped[0], mapped[1]


def _packed(address: Address) -> bytes:
    """An address as 4 bytes (IPv4, or IPv4-mapped IPv6) or 16 (IPv6); 127.0.0.1 for a name."""
    try:
        ip = ipaddress.ip_address(address[0].partition("%")[0])  # no zone: "fe80::1%lo"
    except ValueError:
        return bytes([127, 0, 0, 1])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.packed
    return ip.packed


def _ipv6_header(src: bytes, dst: bytes, payload_length: int) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, payload_length, 6, 64, src, dst)


def _ipv4_header(src: bytes, dst: bytes, payload_length: int, ident: int) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + payload_length, ident, 0x4000, 64, 6, 0, src, dst
    )
    return header[:10] + struct.pack("!H", _checksum(header)) + header[12:]


def _tcp(
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    options: bytes,
    payload: bytes,
) -> bytes:
    offset = (20 + len(options)) // 4
    header = struct.pack("!HHIIHHHH", sport, dport, seq, ack, offset << 12 | flags, WINDOW, 0, 0)
    segment = header + options + payload
    if len(src) == 16:
        pseudo = src + dst + struct.pack("!I3xB", len(segment), 6)
    else:
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(segment))
    checksum = _checksum(pseudo + segment)
    return segment[:16] + struct.pack("!H", checksum) + segment[18:]


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): ones' complement of the ones' complement sum."""
    if len(data) % 2:
        data += b"\x00"
    words = array("H", data)
    if sys.byteorder == "little":
        words.byteswap()
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
