"""Errors raised while reading MQTT packets, carrying the reaction the spec asks for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotsim_tui.errors import IotsimError
from iotsim_tui.protocol.reasons import ConnectReturnCode, MQTTVersion, PacketType, ReasonCode

if TYPE_CHECKING:
    from iotsim_tui.protocol.packets import Packet


class ProtocolError(IotsimError):
    """A peer broke the MQTT rules; the connection must end.

    Attributes:
        reason_code: the MQTT 5.0 reason code to send (CONNACK before the session exists,
            DISCONNECT after), e.g. 0x81 Malformed Packet or 0x95 Packet too large.
        packet_type: the type of the offending packet, when the fixed header was readable.
        connack_return_code: for a CONNECT read as 3.1 or 3.1.1, the CONNACK return code to
            answer with before closing; None means close without any CONNACK.
        version: the protocol version the answer must use (None when not known yet).
    """

    title = "MQTT protocol error"

    def __init__(
        self,
        message: str,
        reason_code: ReasonCode = ReasonCode.PROTOCOL_ERROR,
        *,
        packet_type: PacketType | None = None,
        connack_return_code: ConnectReturnCode | None = None,
        version: MQTTVersion | None = None,
    ) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.packet_type = packet_type
        self.connack_return_code = connack_return_code
        self.version = version


class MalformedPacket(ProtocolError):
    """A packet could not be read, or broke a rule about its own contents.

    `decoded_before` holds the packets that `PacketReader.feed` decoded from the same call
    before this one: handle them first, then react to the error.
    """

    decoded_before: tuple[Packet, ...] = ()


class PacketTooLarge(MalformedPacket):
    """A fixed header announced a packet over the reader's maximum size (reason 0x95)."""


class UnsupportedProtocolVersion(MalformedPacket):
    """CONNECT asked for a protocol level this codec does not speak (reason 0x84).

    Answer with the 3.1.1 CONNACK return code 1 (`20 02 00 01`), which every client version
    understands, then close.
    """
