"""Sans-IO MQTT codec: packets to bytes and back, with the spec's checks. No sockets here."""

from __future__ import annotations

from iotsim_tui.protocol.packets import Packet
from iotsim_tui.protocol.reasons import MQTTVersion

MAX_REMAINING_LENGTH = 268_435_455
"""The largest remaining length a 4-byte variable byte integer can say."""

MAX_PACKET_SIZE = MAX_REMAINING_LENGTH + 5
"""The largest packet MQTT allows: fixed header byte, 4 length bytes, the rest."""

FixedHeader = tuple[int, int, int, int]
"""(packet type, flags, remaining length, header length) as read by `peek_header`."""


def encode(packet: Packet, version: MQTTVersion | int) -> bytes:
    """Serialise one packet as `version` (properties and 5.0 reason codes only in 5.0).

    A CONNECT is written with its own `protocol_level`.
    """
    raise NotImplementedError


def peek_header(buffer: bytes | bytearray | memoryview) -> FixedHeader | None:
    """Read the fixed header at the start of `buffer`, or None if it is not all there yet.

    Raises:
        MalformedPacket: the remaining length runs to a fifth byte.
    """
    raise NotImplementedError


class PacketReader:
    """Turns a byte stream into packets, as many as are complete, never more than allowed.

    A server-side reader starts with `version=None` and learns it from CONNECT; a client or
    the eavesdrop dissector sets it. A packet whose fixed header announces more than
    `max_packet_size` bytes is refused before any of its body is kept.
    """

    def __init__(
        self, version: MQTTVersion | int | None = None, max_packet_size: int = MAX_PACKET_SIZE
    ) -> None:
        self.version = MQTTVersion(version) if version is not None else None
        self.max_packet_size = max_packet_size

    def feed(self, data: bytes) -> list[Packet]:
        """Add received bytes; return every packet now complete, in order.

        Raises:
            MalformedPacket: a packet broke the rules; its `reason_code` (and
                `connack_return_code` for CONNECT) says how to answer before closing.
        """
        raise NotImplementedError
