"""What the eavesdrop view lists: one dissected item per packet or record seen on the wire."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from iotsim_tui.wiretap.store import Direction

ITEM_DATA_BYTES = 4096
"""Bytes of a packet kept with its item for the hex view; `WireItem.size` is the full size."""


@dataclass(frozen=True, slots=True)
class Field:
    """One named value of a dissected item, as a sniffer would show it."""

    name: str
    value: str
    exposed: bool = False
    """True for secrets a sniffer reads in clear (user name, password): the view marks them."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """A packet or record as a dissector understood it, before it is placed on a connection."""

    protocol: str
    """"MQTT", "TLS" or "Data"."""
    summary: str
    fields: tuple[Field, ...]
    data: bytes
    """The packet's bytes (at most ITEM_DATA_BYTES of them)."""
    size: int
    """The packet's full size in bytes."""


@dataclass(frozen=True, slots=True)
class WireItem:
    """One line of the eavesdrop view: a packet or record on one connection."""

    connection: int
    at: float
    """time.time() when its last byte went through the relay."""
    direction: Direction
    protocol: str
    summary: str
    fields: tuple[Field, ...]
    data: bytes
    size: int

    @property
    def exposed(self) -> bool:
        """True when the item carries a secret readable by anyone on the path."""
        return any(f.exposed for f in self.fields)


class DecodeBudget:
    """How many packets a second the dissectors may decode, all connections together.

    Forwarding and dissecting share one event loop: past this rate packets are framed and
    counted but not decoded, so a flood cannot stall the relay (or the app around it).
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate
        self._last = clock()

    def take(self) -> bool:
        """True when one more packet may be decoded now."""
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


def decoded(protocol: str, summary: str, data: bytes | bytearray, *fields: Field) -> Decoded:
    """A `Decoded` holding at most ITEM_DATA_BYTES of `data`."""
    return Decoded(protocol, summary, tuple(fields), bytes(data[:ITEM_DATA_BYTES]), len(data))


def hexdump(data: bytes, *, width: int = 16) -> list[str]:
    """Lines of offset, hex and printable text, like a sniffer's packet bytes pane."""
    lines = []
    for offset in range(0, len(data), width):
        row = data[offset : offset + width]
        hex_part = " ".join(f"{b:02x}" for b in row)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)
        lines.append(f"{offset:04x}  {hex_part:<{width * 3 - 1}}  {text}")
    return lines


def preview(data: bytes, limit: int = 80) -> str:
    """A one-line text preview of a payload: UTF-8 when it is text, else a hex start."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        shown = data[: limit // 2].hex(" ")
        return shown + (" …" if len(data) > limit // 2 else "")
    if not text.isprintable():
        text = "".join(c if c.isprintable() else "." for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
