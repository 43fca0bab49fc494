"""A raw MQTT client for byte-level tests: send exact bytes, read exact packets, see the close."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from typing import TypeVar

from iotsim_tui.protocol.codec import PacketReader, encode
from iotsim_tui.protocol.packets import (
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingResp,
    Publish,
    Subscribe,
    SubscriptionRequest,
    Will,
)
from iotsim_tui.protocol.properties import NO_PROPERTIES, Properties
from iotsim_tui.protocol.reasons import MQTTVersion

P = TypeVar("P")

TIMEOUT = 10.0
"""Generous: the machine running the tests is shared and loaded."""


class RawClient:
    """One TCP (or TLS) connection to a broker, driven byte by byte."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, version: int
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.version = version
        self._packets = PacketReader(version)
        self._ready: list[Packet] = []

    @classmethod
    async def open(
        cls, port: int, *, version: int = 5, context: ssl.SSLContext | None = None
    ) -> RawClient:
        """Open a connection to 127.0.0.1:port, sending nothing yet."""
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="localhost" if context else None
        )
        return cls(reader, writer, version)

    @classmethod
    async def connected(
        cls,
        port: int,
        client_id: str,
        *,
        version: int = 5,
        clean_start: bool = True,
        keepalive: int = 60,
        properties: Properties = NO_PROPERTIES,
        will: Will | None = None,
        username: str | None = None,
        password: bytes | None = None,
    ) -> tuple[RawClient, ConnAck]:
        """Open a connection, send CONNECT, and return the client with the CONNACK."""
        client = await cls.open(port, version=version)
        await client.send_packet(
            Connect(
                client_id,
                MQTTVersion(version),
                clean_start=clean_start,
                keepalive=keepalive,
                will=will,
                username=username,
                password=password,
                properties=properties,
            )
        )
        connack = await client.expect(ConnAck)
        return client, connack

    async def send(self, data: bytes) -> None:
        """Send raw bytes."""
        self.writer.write(data)
        await self.writer.drain()

    async def send_packet(self, packet: Packet) -> None:
        """Encode `packet` for this connection's version and send it."""
        await self.send(encode(packet, self.version))

    async def publish(
        self, topic: str, payload: bytes, qos: int = 0, *, retain: bool = False, packet_id: int = 0
    ) -> None:
        """Send a PUBLISH (packet id 1 by default for QoS > 0)."""
        packet_id = packet_id or (1 if qos else 0)
        await self.send_packet(Publish(topic, payload, qos, retain, packet_id=packet_id))

    async def subscribe(self, topic_filter: str, qos: int = 0, packet_id: int = 1) -> Packet:
        """SUBSCRIBE to one filter and return the SUBACK."""
        await self.send_packet(Subscribe(packet_id, (SubscriptionRequest(topic_filter, qos),)))
        return await self.next_packet()

    async def next_packet(self, wait: float = TIMEOUT) -> Packet:
        """The next packet from the broker; AssertionError if the connection closes first."""
        async with asyncio.timeout(wait):
            while not self._ready:
                data = await self.reader.read(65_536)
                assert data, "the broker closed the connection"
                self._ready.extend(self._packets.feed(data))
        return self._ready.pop(0)

    async def expect(self, kind: type[P], wait: float = TIMEOUT) -> P:
        """The next packet, which must be a `kind`."""
        packet = await self.next_packet(wait)
        assert isinstance(packet, kind), f"expected {kind.__name__}, got {packet!r}"
        return packet

    async def read_bytes(self, wait: float = TIMEOUT) -> bytes:
        """Everything the broker sends until it closes the connection."""
        chunks = []
        async with asyncio.timeout(wait):
            while True:
                try:
                    data = await self.reader.read(65_536)
                except ConnectionResetError:
                    break
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks)

    async def expect_closed(self, wait: float = TIMEOUT) -> bytes:
        """Wait until the broker closes the connection; return what it sent before closing."""
        return await self.read_bytes(wait)

    async def expect_disconnect(self, wait: float = TIMEOUT) -> Disconnect:
        """The broker sends DISCONNECT (MQTT 5) and then closes."""
        packet = await self.expect(Disconnect, wait)
        rest = await self.read_bytes(wait)
        assert rest == b"", f"bytes after DISCONNECT: {rest!r}"
        return packet

    async def nothing_before_pong(self) -> bool:
        """True when the answer to a PINGREQ sent now is the next packet to arrive.

        The broker answers a connection's packets in order and writes what one of them causes
        before reading the next: whatever it was going to send for what happened before (this
        client's packets, and other clients' packets it has acknowledged) comes first. A
        "nothing else arrives" check that waits for this instead of a fixed time cannot be
        fooled by a slow or stopped test.
        """
        await self.send(b"\xc0\x00")
        return isinstance(await self.next_packet(), PingResp)

    async def silent(self, seconds: float) -> bool:
        """True when nothing arrives for `seconds` (and the connection stays open)."""
        if self._ready:
            return False
        try:
            async with asyncio.timeout(seconds):
                data = await self.reader.read(65_536)
        except TimeoutError:
            return True
        self._ready.extend(self._packets.feed(data))
        return False

    async def close(self) -> None:
        """Close our side."""
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


@dataclass(frozen=True)
class Bytes:
    """Hand-made packets for what a codec refuses to write."""

    @staticmethod
    def connect(
        *,
        name: bytes = b"MQTT",
        level: int = 4,
        flags: int = 0x02,
        client_id: bytes = b"raw",
        payload_extra: bytes = b"",
        properties: bytes = b"\x00",
    ) -> bytes:
        """A CONNECT with every field given as bytes (properties only for level 5)."""
        body = len(name).to_bytes(2, "big") + name + bytes((level, flags)) + b"\x00\x3c"
        if level == 5:
            body += properties
        body += len(client_id).to_bytes(2, "big") + client_id + payload_extra
        return bytes((0x10,)) + _vbi(len(body)) + body

    @staticmethod
    def string(data: bytes) -> bytes:
        """An MQTT string/binary field: two length bytes, then the data."""
        return len(data).to_bytes(2, "big") + data

    @staticmethod
    def packet(first: int, body: bytes) -> bytes:
        """A packet from its first byte and body."""
        return bytes((first,)) + _vbi(len(body)) + body


def _vbi(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
