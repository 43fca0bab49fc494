"""Sans-IO MQTT codec: packets to bytes and back, with the spec's checks. No sockets here.

`encode(packet, version)` writes one packet. A `PacketReader` per direction of a connection
turns received bytes into packets: the broker feeds it what a socket read returned, the
eavesdrop dissector what the relay copied.
"""

from __future__ import annotations

from iotsim_tui.protocol.decoding import DECODERS, decode_publish
from iotsim_tui.protocol.encoding import ENCODERS
from iotsim_tui.protocol.errors import MalformedPacket, PacketTooLarge
from iotsim_tui.protocol.packets import Connect, Packet
from iotsim_tui.protocol.reasons import MQTTVersion, PacketType, ReasonCode
from iotsim_tui.protocol.wire import MAX_VBI, read_vbi

MAX_REMAINING_LENGTH = MAX_VBI
"""The largest remaining length a 4-byte variable byte integer can say."""

MAX_PACKET_SIZE = MAX_REMAINING_LENGTH + 5
"""The largest packet MQTT allows: fixed header byte, 4 length bytes, the rest."""

FixedHeader = tuple[int, int, int, int]
"""(packet type, flags, remaining length, header length) as read by `peek_header`."""

# Packet types whose fixed header flags are fixed (MQTT 5.0 table 2-2); PUBLISH's vary.
_FIXED_FLAGS: dict[int, int] = {t: 0 for t in PacketType if t is not PacketType.PUBLISH}
_FIXED_FLAGS.update({PacketType.PUBREL: 2, PacketType.SUBSCRIBE: 2, PacketType.UNSUBSCRIBE: 2})
_PUBLISH = PacketType.PUBLISH.value
_TYPE_NAMES = {t.value: t.name for t in PacketType}


def encode(packet: Packet, version: MQTTVersion | int) -> bytes:
    """Serialise one packet as `version` (properties and 5.0 reason codes only in 5.0).

    A CONNECT is written with its own `protocol_level`.

    Raises:
        ValueError: a value cannot be written (a string over 65,535 bytes, a packet over
            256 MiB, AUTH or a 5.0-only CONNACK reason in 3.1.1).
    """
    if type(version) is not MQTTVersion:
        version = MQTTVersion(version)
    return ENCODERS[type(packet)](packet, version)


def peek_header(buffer: bytes | bytearray | memoryview) -> FixedHeader | None:
    """Read the fixed header at the start of `buffer`, or None if it is not all there yet.

    Raises:
        MalformedPacket: the remaining length runs to a fifth byte, or is longer than it needs.
    """
    try:
        read = read_vbi(buffer, 1)
    except MalformedPacket as error:
        packet_type = buffer[0] >> 4
        raise MalformedPacket(
            f"{_TYPE_NAMES.get(packet_type, f'packet type {packet_type}')}: the remaining "
            f"length is {error}",
            ReasonCode.MALFORMED_PACKET,
            packet_type=PacketType(packet_type) if packet_type in _TYPE_NAMES else None,
        ) from None
    if read is None:
        return None
    first = buffer[0]
    return first >> 4, first & 0x0F, read[0], read[1] + 1


class PacketReader:
    """Turns a byte stream into packets, as many as are complete, never more than allowed.

    A server-side reader starts with `version=None`: the first packet must then be CONNECT,
    whose protocol level sets `version`. A client or the eavesdrop dissector sets it. A packet
    whose fixed header announces more than `max_packet_size` bytes (whole packet, header
    included, as MQTT 5.0 counts it) is refused before any of its body is kept; the reader
    then skips that packet's bytes, so a dissector may go on reading (`feed(b"")` reads what
    was already received after it). After any other error the stream cannot be trusted, and
    every later `feed` raises the same error again.
    """

    def __init__(
        self, version: MQTTVersion | int | None = None, max_packet_size: int = MAX_PACKET_SIZE
    ) -> None:
        self.version: MQTTVersion | None = MQTTVersion(version) if version is not None else None
        self.max_packet_size = max_packet_size
        self._buffer = bytearray()
        self._skip = 0
        self._leftover = b""
        self._broken: MalformedPacket | None = None

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a packet."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Packet]:
        """Add received bytes; return every packet now complete, in order.

        Raises:
            MalformedPacket: a packet broke the rules; its `reason_code` (and
                `connack_return_code` for CONNECT) says how to answer before closing, and
                `decoded_before` holds the good packets that came before it in this call.
        """
        if self._broken is not None:
            raise self._broken
        if self._skip:
            skipped = min(self._skip, len(data))
            self._skip -= skipped
            data = data[skipped:]
        buffer = self._buffer
        if buffer:
            buffer += data
            source: bytes | bytearray | memoryview = buffer
        else:
            source = data
        packets: list[Packet] = []
        view = memoryview(source)
        try:
            pos = self._decode_all(view, packets)
        except MalformedPacket as error:
            error.decoded_before = tuple(packets)
            if error.version is None:
                error.version = self.version
            # The traceback still holds views of the old buffer, so it cannot be resized.
            self._buffer = bytearray(self._leftover)
            self._leftover = b""
            if not isinstance(error, PacketTooLarge):
                self._broken = error
            raise
        view.release()
        if source is buffer:
            del buffer[:pos]
        elif pos < len(source):
            buffer += source[pos:]
        return packets

    def _decode_all(self, view: memoryview, packets: list[Packet]) -> int:
        """Decode whole packets from `view` into `packets`; return the bytes consumed."""
        pos = 0
        size = len(view)
        version = self.version
        while size - pos >= 2:
            first = view[pos]
            length = view[pos + 1]
            if length < 0x80:
                header = 2
            else:
                peeked = peek_header(view[pos : pos + 5])
                if peeked is None:
                    break
                length, header = peeked[2], peeked[3]
            total = header + length
            if total > self.max_packet_size:
                if size - pos >= total:
                    self._leftover = view[pos + total :].tobytes()
                else:
                    self._skip = total - (size - pos)
                raise self._too_large(first, total)
            if size - pos < total:
                break
            body = view[pos + header : pos + total]
            if first >> 4 == _PUBLISH and version is not None:
                try:
                    packets.append(decode_publish(first & 0x0F, body, version))
                except MalformedPacket as error:
                    error.packet_type = PacketType.PUBLISH
                    raise
            else:
                packets.append(self._decode(first, body))
                version = self.version
            pos += total
        return pos

    def _too_large(self, first: int, total: int) -> PacketTooLarge:
        name = _TYPE_NAMES.get(first >> 4, f"packet type {first >> 4}")
        return PacketTooLarge(
            f"{name}: a packet of {total:,} bytes exceeds the maximum packet size of "
            f"{self.max_packet_size:,} bytes",
            ReasonCode.PACKET_TOO_LARGE,
            packet_type=PacketType(first >> 4) if first >> 4 in _TYPE_NAMES else None,
            version=self.version,
        )

    def _decode(self, first: int, body: memoryview) -> Packet:
        packet_type = first >> 4
        flags = first & 0x0F
        version = self.version
        try:
            if not packet_type or (packet_type == PacketType.AUTH and version != MQTTVersion.V5):
                raise MalformedPacket(
                    "packet type 0 is reserved"
                    if not packet_type
                    else "AUTH (packet type 15) exists only in MQTT 5.0",
                    ReasonCode.MALFORMED_PACKET,
                )
            name = _TYPE_NAMES[packet_type]
            expected = _FIXED_FLAGS.get(packet_type)
            if expected is not None and flags != expected:
                raise MalformedPacket(
                    f"{name}: the fixed header flags must be {expected:04b}, not {flags:04b}",
                    ReasonCode.MALFORMED_PACKET,
                )
            if version is None:
                if packet_type != PacketType.CONNECT:
                    raise MalformedPacket(
                        f"{name}: the first packet on a connection must be CONNECT",
                        ReasonCode.PROTOCOL_ERROR,
                    )
                packet = DECODERS[packet_type](flags, body, MQTTVersion.V311)
                assert isinstance(packet, Connect)
                self.version = packet.protocol_level
                return packet
            return DECODERS[packet_type](flags, body, version)
        except MalformedPacket as error:
            if error.packet_type is None and packet_type in _TYPE_NAMES:
                error.packet_type = PacketType(packet_type)
            raise
