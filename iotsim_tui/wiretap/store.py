"""What the relay keeps: each connection's bytes, in order, with timestamps, bounded in memory.

A connection's record is what a sniffer on the wire would have captured: every chunk of bytes
each side sent, when, and how each side stopped sending (FIN or reset). Caps on bytes and
chunks per connection and on connections kept stop a flood from eating memory; whatever does
not fit is counted, never silently lost.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TypeAlias

Address: TypeAlias = tuple[str, int]


class Direction(StrEnum):
    """Which way bytes travel on a connection."""

    TO_BROKER = "to_broker"
    """From the device to the broker."""
    TO_DEVICE = "to_device"
    """From the broker to the device."""

    @property
    def arrow(self) -> str:
        """A short arrow for a packet list: device on the left, broker on the right."""
        return "→" if self is Direction.TO_BROKER else "←"

    @property
    def label(self) -> str:
        """The direction in words."""
        return "device → broker" if self is Direction.TO_BROKER else "broker → device"

    @property
    def opposite(self) -> Direction:
        """The other direction on the same connection."""
        return Direction.TO_DEVICE if self is Direction.TO_BROKER else Direction.TO_BROKER


class EndKind(StrEnum):
    """How one side of a connection stopped sending."""

    FIN = "fin"
    """An orderly close of that side's sending half (the other side may still send)."""
    RESET = "reset"
    """The connection was reset (aborted) from that side."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes one side sent, as the relay read them in one go."""

    at: float
    """time.time() when the relay read them."""
    direction: Direction
    data: bytes


@dataclass(frozen=True, slots=True)
class End:
    """One side closed its sending half or reset the connection."""

    at: float
    direction: Direction
    kind: EndKind


Event: TypeAlias = Chunk | End


@dataclass(frozen=True, slots=True)
class Limits:
    """How much the relay keeps in memory."""

    bytes_per_connection: int = 16 * 1024 * 1024
    """Bytes kept per connection, both directions together; later bytes are counted only."""
    chunks_per_connection: int = 100_000
    """Chunks kept per connection (a flood of tiny writes costs memory per chunk too)."""
    connections: int = 1_000
    """Connections kept; beyond it the oldest closed ones (else the oldest) are dropped."""
    items: int = 20_000
    """Dissected items kept for the pane and for late subscribers."""
    subscriber_queue: int = 10_000
    """Items waiting for one subscriber; beyond it the oldest are dropped and counted."""
    decode_rate: float = 5_000.0
    """MQTT packets decoded per second, all connections together; more are only counted."""


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """A snapshot of one relayed connection, for lists and summaries."""

    id: int
    client: Address
    """The device's address and ephemeral port, as the relay saw it."""
    server: Address
    """The broker's address and port (the relay's target)."""
    started: float
    ended: float | None
    bytes_to_broker: int
    bytes_to_device: int
    protocol: str
    """"MQTT", "TLS", "Data" (neither), or "" before any byte."""
    dropped_bytes: int
    """Bytes relayed but not kept, because the connection hit its limits."""


@dataclass(slots=True)
class ConnectionRecord:
    """Everything kept about one relayed connection (mutated by the relay only)."""

    id: int
    client: Address
    server: Address
    started: float
    ended: float | None = None
    events: list[Event] = field(default_factory=list)
    sent: dict[Direction, int] = field(default_factory=lambda: dict.fromkeys(Direction, 0))
    kept_bytes: int = 0
    dropped_bytes: int = 0
    dropped_chunks: int = 0
    protocol: str = ""

    @property
    def truncated(self) -> bool:
        """True when some bytes were relayed but not kept."""
        return self.dropped_chunks > 0

    def info(self) -> ConnectionInfo:
        """A frozen snapshot of this record."""
        return ConnectionInfo(
            id=self.id,
            client=self.client,
            server=self.server,
            started=self.started,
            ended=self.ended,
            bytes_to_broker=self.sent[Direction.TO_BROKER],
            bytes_to_device=self.sent[Direction.TO_DEVICE],
            protocol=self.protocol,
            dropped_bytes=self.dropped_bytes,
        )


class CaptureStore:
    """Connections and their bytes, within `Limits`.

    Once a connection has hit a limit it keeps counting bytes but stores no more chunks, so
    what is kept stays a gap-free prefix of the stream (a pcap of it stays consistent).
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._records: OrderedDict[int, ConnectionRecord] = OrderedDict()
        self._next_id = 1
        self.dropped_connections = 0

    def open(self, client: Address, server: Address, at: float) -> ConnectionRecord:
        """Start the record of a new connection, dropping an old one when full."""
        while len(self._records) >= self.limits.connections:
            self._drop_oldest()
        record = ConnectionRecord(self._next_id, client, server, at)
        self._next_id += 1
        self._records[record.id] = record
        return record

    def add_chunk(self, record: ConnectionRecord, chunk: Chunk) -> None:
        """Count `chunk` and keep it unless the connection is over its limits."""
        size = len(chunk.data)
        record.sent[chunk.direction] += size
        if (
            record.truncated
            or record.kept_bytes + size > self.limits.bytes_per_connection
            or len(record.events) >= self.limits.chunks_per_connection
        ):
            record.dropped_bytes += size
            record.dropped_chunks += 1
            return
        record.kept_bytes += size
        record.events.append(chunk)

    def add_end(self, record: ConnectionRecord, end: End) -> None:
        """Note that one side stopped sending (kept even past the limits: it costs little)."""
        if not record.truncated:
            record.events.append(end)

    def close(self, record: ConnectionRecord, at: float) -> None:
        """Mark the connection as finished."""
        if record.ended is None:
            record.ended = at

    def records(self) -> list[ConnectionRecord]:
        """The kept connections, oldest first."""
        return list(self._records.values())

    def snapshot(self) -> list[ConnectionRecord]:
        """Copies of the kept connections as they are now, safe to read in another thread."""
        return [
            replace(r, events=list(r.events), sent=dict(r.sent)) for r in self._records.values()
        ]

    def get(self, connection_id: int) -> ConnectionRecord | None:
        """The record of one connection, if it is still kept."""
        return self._records.get(connection_id)

    def _drop_oldest(self) -> None:
        victim = next((r.id for r in self._records.values() if r.ended is not None), None)
        if victim is None:
            victim = next(iter(self._records))
        del self._records[victim]
        self.dropped_connections += 1
