"""The relay is transparent: same bytes both ways, half-close, resets and large payloads."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace

import pytest

from iotsim_tui.profiles.model import BrokerSettings, TLSSettings
from iotsim_tui.wiretap import Direction, Eavesdrop, Limits
from iotsim_tui.wiretap.store import Chunk, End, EndKind
from tests.support.ports import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Server:
    """A TCP server on loopback whose handler the test gives; it notes what it saw."""

    port: int
    received: bytearray = field(default_factory=bytearray)
    errors: list[BaseException] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[Server]:
    state = Server(port=0)

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, OSError) as exc:
            state.errors.append(exc)
        finally:
            writer.close()
            state.done.set()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN, as a crashing peer would."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def streams(tap: Eavesdrop, connection: int) -> dict[Direction, bytes]:
    record = tap.store.get(connection)
    assert record is not None
    out = {d: bytearray() for d in Direction}
    for event in record.events:
        if isinstance(event, Chunk):
            out[event.direction] += event.data
    return {d: bytes(b) for d, b in out.items()}


async def write_in_pieces(writer: asyncio.StreamWriter, data: bytes, rng: random.Random) -> None:
    pos = 0
    while pos < len(data):
        size = rng.randint(1, 70_000)
        writer.write(data[pos : pos + size])
        await writer.drain()
        pos += size


@pytest.mark.parametrize("size", [1, 4097, 1024 * 1024])
async def test_bytes_cross_unchanged_both_ways_and_are_recorded(size: int) -> None:
    rng = random.Random(size)
    up = rng.randbytes(size)
    down = rng.randbytes(size)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        send = asyncio.create_task(write_in_pieces(writer, down, rng))
        state.received += await reader.readexactly(size)
        await send
        writer.write_eof()
        assert await reader.read() == b""

    async with serve(handler) as state, Eavesdrop(target=("127.0.0.1", state.port)) as tap:
        reader, writer = await asyncio.open_connection(*tap.endpoint)
        send = asyncio.create_task(write_in_pieces(writer, up, rng))
        got = await asyncio.wait_for(reader.readexactly(size), 30)
        await send
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        await asyncio.wait_for(state.done.wait(), 10)

        assert got == down
        assert bytes(state.received) == up
        (info,) = tap.connections()
        assert (info.bytes_to_broker, info.bytes_to_device) == (size, size)
        assert info.server == ("127.0.0.1", state.port)
        assert streams(tap, info.id) == {Direction.TO_BROKER: up, Direction.TO_DEVICE: down}


async def test_a_connection_is_recorded_with_the_address_the_broker_sees() -> None:
    """The eavesdrop view, the pcap file and the broker console name a device alike."""
    seen: list[tuple[str, int]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("peername")[:2])
        await reader.read()

    async with serve(handler) as state, Eavesdrop(target=("127.0.0.1", state.port)) as tap:
        _, writer = await asyncio.open_connection(*tap.endpoint)
        device = writer.get_extra_info("sockname")[:2]
        writer.write(b"x")
        await writer.drain()
        for _ in range(500):
            if seen and tap.connections():
                break
            await asyncio.sleep(0.01)
        writer.close()
        (info,) = tap.connections()
        assert info.client == seen[0] != device


async def test_a_broker_that_stops_reading_slows_the_device_down() -> None:
    """Flow control: the relay stops reading from the device instead of buffering."""
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        while await reader.read(1 << 20):
            pass

    chunk = b"f" * (1 << 20)
    limit = 256  # MiB: far more than every socket buffer on the way can hold
    async with serve(handler) as state, Eavesdrop(target=("127.0.0.1", state.port)) as tap:
        _, writer = await asyncio.open_connection(*tap.endpoint)
        sent = 0
        while sent < limit:
            writer.write(chunk)
            try:
                await asyncio.wait_for(writer.drain(), 1.0)
            except TimeoutError:
                break
            sent += 1
        release.set()
        writer.close()
    # Kernel buffers on loopback hold some MiB; without flow control all 256 would go.
    assert sent < 64


async def test_half_close_is_passed_on_and_the_other_side_can_still_answer() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.read()  # until the device's FIN
        writer.write(b"answer to " + request)
        await writer.drain()

    async with serve(handler) as state, Eavesdrop(target=("127.0.0.1", state.port)) as tap:
        reader, writer = await asyncio.open_connection(*tap.endpoint)
        writer.write(b"question")
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 10) == b"answer to question"
        writer.close()
        await asyncio.wait_for(state.done.wait(), 10)
        await wait_until(lambda: tap.connections()[0].ended is not None)

        (record,) = tap.store.records()
        ends = [e for e in record.events if isinstance(e, End)]
        assert [(e.direction, e.kind) for e in ends] == [
            (Direction.TO_BROKER, EndKind.FIN),
            (Direction.TO_DEVICE, EndKind.FIN),
        ]


async def test_a_reset_from_the_device_resets_the_broker_side() -> None:
    arrived = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(5)
        arrived.set()
        await reader.read()

    async with serve(handler) as state, Eavesdrop(target=("127.0.0.1", state.port)) as tap:
        _, writer = await asyncio.open_connection(*tap.endpoint)
        writer.write(b"hello")
        await asyncio.wait_for(arrived.wait(), 10)
        reset(writer)
        await asyncio.wait_for(state.done.wait(), 10)
        assert len(state.errors) == 1
        assert isinstance(state.errors[0], ConnectionResetError)
        await wait_until(lambda: tap.connections()[0].ended is not None)
        assert any("[RST]" in item.summary for item in tap.items())


async def test_a_reset_from_the_broker_resets_the_device_side() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(5)
        reset(writer)

    async with serve(handler) as state, Eavesdrop(target=("127.0.0.1", state.port)) as tap:
        reader, writer = await asyncio.open_connection(*tap.endpoint)
        writer.write(b"hello")
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(), 10)
        writer.close()


async def test_a_broker_that_is_not_there_closes_the_device_at_once() -> None:
    async with Eavesdrop(target=("127.0.0.1", free_port())) as tap:
        reader, writer = await asyncio.open_connection(*tap.endpoint)
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        assert tap.connections() == []


async def test_memory_limits_count_what_they_drop_and_keep_a_prefix() -> None:
    payload = bytes(range(256)) * 40  # 10,240 bytes

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.received += await reader.read()

    limits = Limits(bytes_per_connection=4096, connections=2)
    async with serve(handler) as state, Eavesdrop(("127.0.0.1", state.port), limits=limits) as tap:
        for _ in range(3):
            state.done.clear()
            _, writer = await asyncio.open_connection(*tap.endpoint)
            for start in range(0, len(payload), 1024):
                writer.write(payload[start : start + 1024])
                await writer.drain()
            writer.write_eof()
            await asyncio.wait_for(state.done.wait(), 10)
            writer.close()
        await wait_until(lambda: all(c.ended for c in tap.connections()))
        infos = tap.connections()
    assert bytes(state.received) == payload * 3
    assert [c.id for c in infos] == [2, 3]
    assert tap.store.dropped_connections == 1
    for info in infos:
        kept = streams(tap, info.id)[Direction.TO_BROKER]
        assert info.bytes_to_broker == len(payload)
        assert len(kept) <= 4096
        assert payload.startswith(kept)
        assert info.dropped_bytes == len(payload) - len(kept)


async def test_subscribers_get_new_items_and_their_feed_ends_when_the_relay_closes() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with serve(handler) as state:
        tap = Eavesdrop(target=("127.0.0.1", state.port))
        await tap.start()
        feed = tap.subscribe()
        _, writer = await asyncio.open_connection(*tap.endpoint)
        writer.write(b"\x00garbage that is neither MQTT nor TLS")
        await writer.drain()
        first = await asyncio.wait_for(anext(feed), 10)
        second = await asyncio.wait_for(anext(feed), 10)
        assert first.protocol == "TCP"
        assert "connection opened" in first.summary
        assert second.protocol == "Data"
        assert second.summary == "Data, 37 bytes"
        assert second.data.startswith(b"\x00garbage")
        writer.close()
        await tap.close()
        rest = [item async for item in feed]
        assert all(item.protocol == "TCP" for item in rest)


async def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for `condition` to hold (the relay has no event for "connection record closed")."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def test_a_relay_for_a_network_broker_knows_its_port_and_key_log() -> None:
    tls = TLSSettings(enabled=True, key_log="captures/keys.log")
    assert Eavesdrop.for_broker(BrokerSettings(host="localhost")).target == ("localhost", 1883)
    secure = Eavesdrop.for_broker(BrokerSettings(tls=tls))
    assert (secure.target, secure.key_log) == (("127.0.0.1", 8883), "captures/keys.log")
    plain = Eavesdrop.for_broker(BrokerSettings(tls=replace(tls, enabled=False)))
    assert plain.key_log is None  # no TLS, no keys to log
