"""The eavesdrop relay: a TCP relay on loopback that sees exactly what a sniffer would.

Devices connect to `Eavesdrop.endpoint` instead of the broker; each connection is forwarded
byte for byte to the real broker, both ways, as soon as bytes arrive (TCP_NODELAY, no
buffering beyond the transports' own). Half-closes are passed on with a FIN, resets with a
reset, and a slow reader slows the sender down (flow control) instead of growing memory.
TLS stays end to end between device and broker: the relay never holds a key, so under TLS it
records ciphertext only. Every chunk is recorded with its time and direction (bounded, see
`Limits`) and dissected into `WireItem`s for the eavesdrop view. What it shares with the
impostor (the loopback port, the items and their feeds, the pcap) is `loopback.LoopbackRelay`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable

from iotsim_tui.errors import CaptureError
from iotsim_tui.profiles.model import BrokerSettings
from iotsim_tui.wiretap.dissect import ConnectionDissector
from iotsim_tui.wiretap.items import DecodeBudget, WireItem
from iotsim_tui.wiretap.loopback import LoopbackRelay
from iotsim_tui.wiretap.store import (
    Address,
    Chunk,
    ConnectionInfo,
    ConnectionRecord,
    Direction,
    End,
    EndKind,
    Limits,
)

log = logging.getLogger(__name__)


class Eavesdrop(LoopbackRelay):
    """A recording relay in front of one broker address.

    Use it as an async context manager::

        async with Eavesdrop(target=("127.0.0.1", 1883)) as tap:
            connect_devices_to(tap.endpoint)
            feed = tap.subscribe()          # an async iterator of WireItem
            ...
            tap.write_pcap("captures/net.pcap")
    """

    name = "the eavesdrop relay"

    def __init__(
        self,
        target: Address,
        *,
        limits: Limits | None = None,
        key_log: str | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        super().__init__(target, limits=limits)
        # `target` may be assigned another (the network switched to TLS on 8883): new
        # connections go there, and the capture keeps both.
        self.key_log = key_log
        """The TLS key log file the devices write, if any (the view says so in a banner)."""
        self.connect_timeout = connect_timeout
        self.budget = DecodeBudget(self.store.limits.decode_rate)
        self._links: set[_Link] = set()
        self._connecting: set[asyncio.Task[None]] = set()

    @classmethod
    def for_broker(cls, broker: BrokerSettings, *, limits: Limits | None = None) -> Eavesdrop:
        """A relay in front of a network's broker, knowing its TLS key log (for the banner)."""
        key_log = broker.tls.key_log if broker.tls.enabled else None
        return cls((broker.host, broker.effective_port), limits=limits, key_log=key_log)

    async def _listen(self, host: str) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: _DeviceSide(self), host, 0, reuse_address=True)

    async def _end_connections(self) -> None:
        for task in list(self._connecting):
            task.cancel()
        for link in list(self._links):
            link.close_both()

    def connections(self) -> list[ConnectionInfo]:
        """Every kept connection, oldest first."""
        return [record.info() for record in self.store.records()]


class _Link:
    """One relayed connection: the device's socket, the broker's, and what was seen."""

    def __init__(self, tap: Eavesdrop, device: asyncio.Transport) -> None:
        self.tap = tap
        self.device = device
        self.broker: asyncio.Transport | None = None
        self.record: ConnectionRecord | None = None
        self.dissector: ConnectionDissector | None = None
        self.eof: set[Direction] = set()
        self.lost: set[Direction] = set()
        self.aborting = False

    def transport_for(self, direction: Direction) -> asyncio.Transport | None:
        """The socket that bytes going `direction` are written to."""
        return self.broker if direction is Direction.TO_BROKER else self.device

    def source_of(self, direction: Direction) -> asyncio.Transport | None:
        """The socket that bytes going `direction` are read from."""
        return self.device if direction is Direction.TO_BROKER else self.broker

    def observe(self, chunk: Chunk) -> None:
        record, dissector = self.record, self.dissector
        if record is None or dissector is None:
            return
        self.tap.store.add_chunk(record, chunk)
        self._dissect(record, dissector, lambda: dissector.feed(chunk))

    def end(self, direction: Direction, kind: EndKind) -> None:
        record, dissector = self.record, self.dissector
        if record is None or dissector is None:
            return
        end = End(time.time(), direction, kind)
        self.tap.store.add_end(record, end)
        self._dissect(record, dissector, lambda: dissector.end(end))

    def _dissect(
        self,
        record: ConnectionRecord,
        dissector: ConnectionDissector,
        step: Callable[[], list[WireItem]],
    ) -> None:
        try:
            items = step()
        except Exception:
            # A dissector bug must never break a device's connection: the bytes were
            # already forwarded; only the view misses this part.
            log.exception("dissecting connection %d failed", record.id)
            return
        record.protocol = dissector.protocol
        self.tap.publish(items)

    def half_closed(self, direction: Direction) -> None:
        """The sender of `direction` sent a FIN: pass it on, and close once both did."""
        self.eof.add(direction)
        self.end(direction, EndKind.FIN)
        target = self.transport_for(direction)
        if target is not None and target.can_write_eof() and not target.is_closing():
            target.write_eof()
        if len(self.eof) == 2:
            self.close_both()

    def lost_side(self, direction: Direction, exc: Exception | None) -> None:
        """The socket that sends `direction` is gone; reset or close the other one."""
        self.lost.add(direction)
        # Once both sides sent FIN the exchange is over; an error while closing (ENOTCONN
        # from a peer that already went away) is not a reset of a live connection.
        if exc is not None and not self.aborting and len(self.eof) < 2:
            self.end(direction, EndKind.RESET)
            self.abort_both()
        elif not self.aborting:
            self.close_both()
        if len(self.lost) == 2 or (self.broker is None and direction is Direction.TO_BROKER):
            self.finish()

    def close_both(self) -> None:
        for transport in (self.device, self.broker):
            if transport is not None and not transport.is_closing():
                transport.close()

    def abort_both(self) -> None:
        """Reset both sockets (SO_LINGER 0 makes the close send RST, like the peer did)."""
        self.aborting = True
        for transport in (self.device, self.broker):
            if transport is None:
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()

    def finish(self) -> None:
        if self.record is not None:
            self.tap.store.close(self.record, time.time())
        self.tap._links.discard(self)


class _Side(asyncio.Protocol):
    """One socket of a relayed connection; what it reads is written to the other socket."""

    reads: Direction

    def __init__(self) -> None:
        self.link: _Link | None = None

    def data_received(self, data: bytes) -> None:
        assert self.link is not None
        target = self.link.transport_for(self.reads)
        if target is not None:
            target.write(data)
        self.link.observe(Chunk(time.time(), self.reads, data))

    def eof_received(self) -> bool:
        assert self.link is not None
        self.link.half_closed(self.reads)
        return True  # keep the other half open: the peer may still send

    def pause_writing(self) -> None:
        # This socket cannot take more: stop reading from the one that feeds it.
        if self.link is not None:
            source = self.link.source_of(self.reads.opposite)
            if source is not None and not source.is_closing():
                source.pause_reading()

    def resume_writing(self) -> None:
        if self.link is not None:
            source = self.link.source_of(self.reads.opposite)
            if source is not None and not source.is_closing():
                source.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.link.lost_side(self.reads, exc)


class _DeviceSide(_Side):
    reads = Direction.TO_BROKER

    def __init__(self, tap: Eavesdrop) -> None:
        super().__init__()
        self.tap = tap

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()  # until the broker side is connected
        _no_delay(transport)
        self.link = _Link(self.tap, transport)
        self.tap._links.add(self.link)
        task = asyncio.get_running_loop().create_task(self._connect(self.link))
        self.tap._connecting.add(task)
        task.add_done_callback(self.tap._connecting.discard)

    async def _connect(self, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.tap.target
        try:
            transport, _ = await asyncio.wait_for(
                loop.create_connection(lambda: _BrokerSide(link), host, port),
                self.tap.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            log.info("eavesdrop relay cannot reach the broker at %s:%d: %s", host, port, exc)
            link.abort_both()
            return
        if link.device.is_closing():
            transport.close()
            return
        assert isinstance(transport, asyncio.Transport)
        _no_delay(transport)
        link.broker = transport
        client = _client_address(transport, link.device)
        server = _server_address(transport, self.tap.target)
        now = time.time()
        link.record = self.tap.store.open(client, server, now)
        link.dissector = ConnectionDissector(link.record.id, client, server, budget=self.tap.budget)
        self.tap.publish(link.dissector.opened(now))
        link.device.resume_reading()


class _BrokerSide(_Side):
    reads = Direction.TO_DEVICE

    def __init__(self, link: _Link) -> None:
        super().__init__()
        self.link = link


def _no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _client_address(transport: asyncio.Transport, device: asyncio.BaseTransport) -> Address:
    """The device's address as the broker sees it: the relay's end of the broker connection.

    A sniffer on the way to the broker, and the broker's own list of clients, see this
    address; the device's socket to the relay is an artefact of listening in.
    """
    own = transport.get_extra_info("sockname") or device.get_extra_info("peername")
    return (str(own[0]), int(own[1]))


def _server_address(transport: asyncio.Transport, target: Address) -> Address:
    """The broker's address as connected (a host name in the target becomes its address)."""
    peer = transport.get_extra_info("peername")
    if peer:
        return (str(peer[0]), int(peer[1]))
    return target


__all__ = ["CaptureError", "Eavesdrop"]
