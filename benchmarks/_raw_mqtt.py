"""MQTT 3.1.1 by hand over blocking sockets, for the broker benchmarks: exact packets,
nothing a client library would add or hide (reconnects, retries, its own acknowledgements).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from _common import HOST

from iotsim_tui.protocol.wire import read_vbi

WINDOW = 100
"""QoS 1 messages a publisher keeps in flight."""


def _vbi(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def connect_packet(client_id: str, *, clean: bool) -> bytes:
    body = _string("MQTT") + bytes((4, 0x02 if clean else 0x00)) + b"\x00\x00"
    body += _string(client_id)
    return b"\x10" + _vbi(len(body)) + body


def publish_packet(topic: str, payload: bytes, qos: int, packet_id: int, retain: bool) -> bytes:
    body = _string(topic) + (packet_id.to_bytes(2, "big") if qos else b"") + payload
    return bytes((0x30 | qos << 1 | retain,)) + _vbi(len(body)) + body


def subscribe_packet(topic_filter: str, qos: int) -> bytes:
    body = b"\x00\x01" + _string(topic_filter) + bytes((qos,))
    return b"\x82" + _vbi(len(body)) + body


def split_packets(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Take the whole packets off the front of `buffer`: (first byte, body)."""
    found = []
    position, size = 0, len(buffer)
    while position + 2 <= size:
        length = read_vbi(buffer, position + 1)
        if length is None:
            break
        value, used = length
        start = position + 1 + used
        if start + value > size:
            break
        found.append((buffer[position], bytes(buffer[start : start + value])))
        position = start + value
    del buffer[:position]
    return found


def connect(port: int, client_id: str, *, clean: bool) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(client_id, clean=clean))
    connack = b""
    while len(connack) < 4:
        chunk = sock.recv(4 - len(connack))
        if not chunk:
            raise ConnectionError("closed before CONNACK")
        connack += chunk
    if connack[0] != 0x20 or connack[3] != 0:
        raise ConnectionError(f"CONNACK refused: {connack.hex()}")
    return sock


def subscribe_offline(port: int, client_id: str, topic_filter: str) -> None:
    """A persistent session subscribed at QoS 1, then gone (DISCONNECT)."""
    sock = connect(port, client_id, clean=False)
    sock.sendall(subscribe_packet(topic_filter, 1))
    buffer = bytearray()
    while not any(first == 0x90 for first, _ in split_packets(buffer)):
        buffer += sock.recv(65536)
    sock.sendall(b"\xe0\x00")
    sock.close()


def publish_qos1(
    port: int,
    count: int,
    topic: str,
    on_ack: Callable[[int], bool] | None = None,
    rate: float = 0.0,
) -> tuple[set[int], float]:
    """Send `count` QoS 1 messages, WINDOW in flight, at most `rate` a second (0: no limit);
    (numbers acknowledged, seconds).

    `on_ack(acknowledged)` may return True to stop (the broker was killed); a lost connection
    ends the run too.
    """
    if count > 65535:
        raise ValueError("one packet id per message: at most 65,535 messages")
    sock = connect(port, "bench-publisher", clean=True)
    acked: set[int] = set()
    sent = 0
    buffer = bytearray()
    started = time.perf_counter()
    stop = False
    if rate:
        sock.settimeout(0.005)
    try:
        while len(acked) < count and not stop:
            burst = []
            due = int((time.perf_counter() - started) * rate) if rate else count
            while sent < min(count, due) and sent - len(acked) < WINDOW:
                sent += 1
                burst.append(publish_packet(topic, b"%d" % sent, 1, sent, False))
            if burst:
                sock.sendall(b"".join(burst))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            buffer += chunk
            for first, body in split_packets(buffer):
                if first == 0x40:
                    acked.add(int.from_bytes(body[:2], "big"))  # packet id = message number
                    if on_ack is not None and on_ack(len(acked)):
                        stop = True
                        break
    except OSError:
        pass
    finally:
        sock.close()
    return acked, time.perf_counter() - started


def collect(port: int, client_id: str, idle: float = 2.0, limit: float = 60.0) -> set[int]:
    """Come back to a persistent session and take every message it has (acknowledging each)."""
    sock = connect(port, client_id, clean=False)
    sock.settimeout(idle)
    got: set[int] = set()
    buffer = bytearray()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            break
        if not chunk:
            break
        buffer += chunk
        acks = []
        for first, body in split_packets(buffer):
            if first >> 4 == 3:
                topic_end = 2 + int.from_bytes(body[:2], "big")
                qos = (first >> 1) & 3
                payload = body[topic_end + (2 if qos else 0) :]
                if qos:
                    acks.append(b"\x40\x02" + body[topic_end : topic_end + 2])
                got.add(int(payload))
        if acks:
            sock.sendall(b"".join(acks))
    sock.close()
    return got
