"""Wire primitives (MQTT 5.0 s1.5): integers, variable byte integers, strings, binary data."""

from __future__ import annotations

import struct

from iotsim_tui.protocol.errors import MalformedPacket
from iotsim_tui.protocol.reasons import ReasonCode
from iotsim_tui.words import counted

MAX_VBI = 268_435_455
"""The largest value a variable byte integer holds (four bytes)."""

MAX_STRING_BYTES = 65_535

U16 = struct.Struct(">H")
U32 = struct.Struct(">I")

_SMALL_VBI = [bytes((n,)) for n in range(128)]


def encode_vbi(value: int) -> bytes:
    """Encode a variable byte integer (1 to 4 bytes)."""
    if value < 128:
        return _SMALL_VBI[value]
    if value > MAX_VBI:
        raise ValueError(f"{value} does not fit a variable byte integer (at most {MAX_VBI})")
    out = bytearray()
    while True:
        digit = value & 0x7F
        value >>= 7
        if value:
            out.append(digit | 0x80)
        else:
            out.append(digit)
            return bytes(out)


def read_vbi(
    buffer: bytes | bytearray | memoryview, start: int, end: int = -1
) -> tuple[int, int] | None:
    """The variable byte integer at `buffer[start:end]` (`end` -1: the buffer's end), as
    (value, bytes used); None when it is cut short there (wait for more bytes).

    The one reader of variable byte integers: remaining lengths, property lengths, property
    values. Callers on a hot path read a one-byte value (below 0x80) themselves first.

    Raises:
        MalformedPacket: a fifth byte (four is the most) or a longer encoding than the value
            needs (MQTT 5.0 s1.5.5); its message reads on after "the <field> is".
    """
    if end < 0:
        end = len(buffer)
    value = 0
    shift = 0
    position = start
    while position < end:
        byte = buffer[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if not byte and shift:
                raise MalformedPacket(
                    "a variable byte integer not in its shortest form", ReasonCode.MALFORMED_PACKET
                )
            return value, position - start
        shift += 7
        if shift == 28:
            raise MalformedPacket(
                "a variable byte integer longer than 4 bytes", ReasonCode.MALFORMED_PACKET
            )
    return None


def encode_string(text: str) -> bytes:
    """A UTF-8 encoded string with its two-byte length in front."""
    data = text.encode("utf-8")
    if len(data) > MAX_STRING_BYTES:
        raise ValueError(f"a string of {len(data)} bytes exceeds MQTT's {MAX_STRING_BYTES}")
    return U16.pack(len(data)) + data


def encode_binary(data: bytes) -> bytes:
    """Binary data with its two-byte length in front."""
    if len(data) > MAX_STRING_BYTES:
        raise ValueError(f"binary data of {len(data)} bytes exceeds MQTT's {MAX_STRING_BYTES}")
    return U16.pack(len(data)) + data


def decode_text(data: bytes | bytearray | memoryview, where: str) -> str:
    """Decode UTF-8 as MQTT allows it: no invalid sequences, surrogates or U+0000.

    `where` names the packet and field for the error message, e.g. "PUBLISH: topic name".
    """
    try:
        text = str(data, "utf-8")
    except UnicodeDecodeError:
        try:
            str(data, "utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise MalformedPacket(
                f"{where} is not valid UTF-8", ReasonCode.MALFORMED_PACKET
            ) from None
        raise MalformedPacket(
            f"{where} contains a UTF-16 surrogate (U+D800 to U+DFFF), which MQTT forbids",
            ReasonCode.MALFORMED_PACKET,
        ) from None
    if "\x00" in text:
        raise MalformedPacket(
            f"{where} contains the null character U+0000", ReasonCode.MALFORMED_PACKET
        )
    return text


def ends_early(missing: int, what: str) -> str:
    """The problem of a field cut short by the remaining length."""
    return f"the remaining length ends {counted(missing, 'byte')} before the end of the {what}"


class Cursor:
    """Reads the fields of one packet body in order, failing with the packet and field name."""

    __slots__ = ("data", "end", "name", "pos")

    def __init__(self, data: memoryview, name: str, pos: int = 0) -> None:
        self.data = data
        self.name = name
        self.pos = pos
        self.end = len(data)

    def fail(
        self, problem: str, reason: ReasonCode = ReasonCode.MALFORMED_PACKET
    ) -> MalformedPacket:
        """An error about this packet (the caller raises it)."""
        return MalformedPacket(f"{self.name}: {problem}", reason)

    def remaining(self) -> int:
        """Bytes not read yet."""
        return self.end - self.pos

    def _need(self, count: int, what: str) -> None:
        if self.pos + count > self.end:
            raise self.fail(ends_early(self.pos + count - self.end, what))

    def u8(self, what: str) -> int:
        """One byte."""
        self._need(1, what)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u16(self, what: str) -> int:
        """A two-byte big-endian integer."""
        self._need(2, what)
        (value,) = U16.unpack_from(self.data, self.pos)
        self.pos += 2
        return int(value)

    def u32(self, what: str) -> int:
        """A four-byte big-endian integer."""
        self._need(4, what)
        (value,) = U32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(value)

    def vbi(self, what: str) -> int:
        """A variable byte integer (`read_vbi`); more than four bytes is malformed."""
        pos = self.pos
        if pos < self.end and self.data[pos] < 0x80:  # one byte: nearly every length and id
            self.pos = pos + 1
            return self.data[pos]
        try:
            read = read_vbi(self.data, pos, self.end)
        except MalformedPacket as error:
            raise self.fail(f"the {what} is {error}") from None
        if read is None:
            raise self.fail(ends_early(1, what))
        value, used = read
        self.pos = pos + used
        return value

    def binary(self, what: str) -> bytes:
        """Two-byte length, then that many bytes."""
        length = self.u16(what)
        self._need(length, what)
        start = self.pos
        self.pos += length
        return self.data[start : self.pos].tobytes()

    def string(self, what: str) -> str:
        """A UTF-8 encoded string (two-byte length, then the text)."""
        length = self.u16(what)
        self._need(length, what)
        start = self.pos
        self.pos += length
        return decode_text(self.data[start : self.pos], f"{self.name}: {what}")

    def rest(self) -> bytes:
        """Everything not read yet."""
        start, self.pos = self.pos, self.end
        return self.data[start:].tobytes()

    def expect_end(self) -> None:
        """Fail when bytes are left after the last field."""
        extra = self.end - self.pos
        if extra:
            raise self.fail(f"{counted(extra, 'unexpected byte')} after the last field")
