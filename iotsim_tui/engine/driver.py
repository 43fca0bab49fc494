"""One socket driver for every device of a simulation: reads, writes and keepalive.

aiomqtt gives each client a task that wakes every second for paho's keepalive, and hands
each outgoing packet to the event loop with `call_soon_threadsafe` and a writer registration:
a wake-up of the loop, two epoll changes and an extra turn per message. With ten thousand
devices that was most of the engine's work. The driver takes over those socket callbacks of
paho for the engine's clients: one reader per socket; packets written straight to the socket
once per turn of the loop (a writer is registered only when the socket is full); and one timer
that walks the connections for keepalive, each one every few seconds rather than every second.

QoS 0 publishes skip paho's per-message bookkeeping (a message info with its lock, and a
reason code and properties for an `on_publish` nobody needs at QoS 0): `send_packet` writes the
encoded PUBLISH to the socket at once, or queues it behind paho's packets to keep their order.
Telemetry encodes its topic once (`Qos0Frame`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

from paho.mqtt.client import MQTT_ERR_SUCCESS, PUBLISH, MQTTMessageInfo
from paho.mqtt.client import Client as PahoClient

from iotsim_tui.protocol.encoding import encode_publish
from iotsim_tui.protocol.packets import Publish
from iotsim_tui.protocol.properties import NO_PROPERTIES, Properties
from iotsim_tui.protocol.reasons import MQTTVersion
from iotsim_tui.protocol.wire import U16, encode_vbi

TICK = 1.0
"""Seconds between turns of the keepalive timer (each turn visits one bucket of connections)."""
MAX_BUCKETS = 5
"""A connection's keepalive is checked at least every this many ticks."""

OnError = Callable[[BaseException], None]


class Link:
    """One paho client as the driver sees it (paho hands it back as the callbacks' userdata)."""

    __slots__ = ("bucket", "dirty", "fd", "heard", "on_error", "paho", "writing")

    def __init__(self, paho: PahoClient, on_error: OnError) -> None:
        self.paho = paho
        self.on_error = on_error
        """Called when reading or writing raises (paho's own errors end the connection)."""
        self.fd = -1
        self.dirty = False
        """Waiting in the driver's list of connections with packets to write."""
        self.writing = False
        """A writer is registered (the socket was full, or nothing was read yet)."""
        self.heard = False
        """The broker has sent something on this connection."""
        self.bucket: set[Link] | None = None


class SocketDriver:
    """Drives the sockets of paho clients on the event loop that runs a simulation.

    Args:
        keepalive: The network's MQTT keepalive, in seconds: connections are visited at least
            four times per keepalive (and at most every `TICK`), so PINGREQs go out in time.
    """

    def __init__(self, keepalive: int) -> None:
        count = int(min(MAX_BUCKETS, max(1, keepalive // 4))) if keepalive > 0 else MAX_BUCKETS
        self._buckets: list[set[Link]] = [set() for _ in range(count)]
        self._next_bucket = 0
        self._tick_index = 0
        self._open = 0
        self._timer: asyncio.TimerHandle | None = None
        self._dirty: list[Link] = []
        self._flush_handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0

    def attach(self, paho: PahoClient, on_error: OnError) -> None:
        """Take over the socket callbacks of `paho` (before it connects)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.get_ident()
        paho.user_data_set(Link(paho, on_error))
        paho.on_socket_open = self._opened
        paho.on_socket_close = self._closed
        paho.on_socket_register_write = self._want_write
        paho.on_socket_unregister_write = self._written

    def close(self) -> None:
        """Stop the keepalive timer and forget pending writes (the simulation is over)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._dirty.clear()

    # -- paho's callbacks (usually on the loop; from a connecting thread under TLS) --------------

    def _call(self, function: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        if threading.get_ident() == self._thread:
            function(*args)
        else:
            self._loop.call_soon_threadsafe(function, *args)

    def _opened(self, paho: PahoClient, link: Link, sock: Any) -> None:
        self._call(self._register, link, sock.fileno())

    def _closed(self, paho: PahoClient, link: Link, sock: Any) -> None:
        self._call(self._unregister, link)

    def _want_write(self, paho: PahoClient, link: Link, sock: Any) -> None:
        self._call(self._mark_dirty, link)

    def _written(self, paho: PahoClient, link: Link, sock: Any) -> None:
        self._call(self._stop_writer, link)

    # -- on the loop --------------------------------------------------------------------------

    def _register(self, link: Link, fd: int) -> None:
        assert self._loop is not None
        link.fd = fd
        link.heard = False
        self._loop.add_reader(fd, self._readable, link)
        bucket = self._buckets[self._next_bucket]
        self._next_bucket = (self._next_bucket + 1) % len(self._buckets)
        bucket.add(link)
        link.bucket = bucket
        self._open += 1
        if self._timer is None:
            self._timer = self._loop.call_later(TICK, self._tick)

    def _unregister(self, link: Link) -> None:
        assert self._loop is not None
        if link.fd < 0:
            return
        self._loop.remove_reader(link.fd)
        self._stop_writer(link)
        if link.bucket is not None:
            link.bucket.discard(link)
            link.bucket = None
        link.fd = -1
        self._open -= 1

    def _mark_dirty(self, link: Link) -> None:
        if link.dirty:
            return
        link.dirty = True
        self._dirty.append(link)
        if self._flush_handle is None:
            assert self._loop is not None
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        # Runs outside paho's callbacks: writing from inside one (a command's response sent
        # from on_message) would take paho's callback lock twice.
        assert self._loop is not None
        self._flush_handle = None
        dirty, self._dirty = self._dirty, []
        for link in dirty:
            link.dirty = False
            # Until the broker has said something (CONNACK), CONNECT waits for a writable
            # socket as aiomqtt would have it: under TLS 1.3 a broker that wants a client
            # certificate sends its alert after the handshake, and a CONNECT written at once
            # can make it reset the connection before the alert is read.
            if link.fd < 0 or (link.heard and not self._write(link)):
                continue
            if link.paho.want_write() and not link.writing and link.fd >= 0:
                link.writing = True
                self._loop.add_writer(link.fd, self._writable, link)

    def _write(self, link: Link) -> bool:
        try:
            link.paho.loop_write()
        except Exception as error:  # handed to the device, as aiomqtt does
            self._failed(link, error)
            return False
        return True

    def _writable(self, link: Link) -> None:
        self._write(link)

    def _stop_writer(self, link: Link) -> None:
        if link.writing:
            link.writing = False
            assert self._loop is not None
            self._loop.remove_writer(link.fd)

    def _readable(self, link: Link) -> None:
        link.heard = True
        paho = link.paho
        try:
            paho.loop_read()
            sock = paho.socket()
            # An SSL socket may hold decrypted bytes the kernel no longer signals.
            while sock is not None and hasattr(sock, "pending") and sock.pending() > 0:
                paho.loop_read()
                sock = paho.socket()
        except Exception as error:  # handed to the device, as aiomqtt does
            self._failed(link, error)

    def _failed(self, link: Link, error: BaseException) -> None:
        link.on_error(error)
        sock = link.paho.socket()
        if isinstance(sock, socket.socket):
            # paho then reads the end of the stream and ends the connection its usual way.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _tick(self) -> None:
        assert self._loop is not None
        self._timer = None
        bucket = self._buckets[self._tick_index % len(self._buckets)]
        self._tick_index += 1
        for link in list(bucket):
            # A lost connection ends there: paho closes the socket and reports it.
            if link.paho.loop_misc() != MQTT_ERR_SUCCESS:
                self._unregister(link)
        if self._open > 0:
            self._timer = self._loop.call_later(TICK, self._tick)


def send_qos0(
    paho: PahoClient,
    topic: str,
    payload: bytes,
    retain: bool,
    version: int,
    properties: Properties = NO_PROPERTIES,
) -> bool:
    """Publish at QoS 0 on a connected client; False when it is not connected.

    `version` is the protocol level (4 for 3.1.1, 5); `properties` are sent on 5 only.
    """
    if version != MQTTVersion.V5:
        properties = NO_PROPERTIES
    publish = Publish(topic, payload, retain=retain, properties=properties)
    packet = encode_publish(publish, MQTTVersion(version))
    return send_packet(paho, packet)


class Qos0Frame:
    """QoS 0 PUBLISH packets to one topic, with the bytes that never change encoded once.

    Telemetry publishes to the same topic every time: only the length and payload differ.
    """

    __slots__ = ("_first", "_fixed", "retain")

    def __init__(
        self, name: bytes, retain: bool, version: int, properties: bytes = b"\x00"
    ) -> None:
        self.retain = retain
        self._first = b"\x31" if retain else b"\x30"
        # The topic, then (MQTT 5) the encoded properties; QoS 0 has no packet id.
        self._fixed = (
            U16.pack(len(name)) + name + (properties if version == MQTTVersion.V5 else b"")
        )

    @classmethod
    def for_topic(
        cls, topic: str, qos: int, retain: bool, version: int, properties: bytes = b"\x00"
    ) -> Qos0Frame | None:
        """The frame for telemetry to `topic`; None at QoS 1/2 (or a topic MQTT cannot carry,
        which the general way reports). `properties`: encoded MQTT 5 properties."""
        name = topic.encode("utf-8")
        if qos != 0 or len(name) > 0xFFFF:
            return None
        return cls(name, retain, version, properties)

    def packet(self, payload: bytes) -> bytes:
        """The whole PUBLISH packet carrying `payload`."""
        fixed = self._fixed
        return b"".join((self._first, encode_vbi(len(fixed) + len(payload)), fixed, payload))


def send_packet(paho: PahoClient, packet: bytes) -> bool:
    """Write an encoded QoS 0 PUBLISH on a connected client; False when it is not connected.

    The packet goes straight to the socket when paho has nothing waiting to be written;
    otherwise, or for what the socket did not take, it joins paho's queue (paho's writer
    sends the rest in order).
    """
    sock = paho._sock
    if sock is None or not paho.is_connected():
        return False
    sent = 0
    if not paho._out_packet:
        try:
            sent = sock.send(packet)
        except (BlockingIOError, InterruptedError):
            sent = 0  # an SSL socket that wants to write: nothing went out
        except OSError:
            return False  # paho's own publish meets the same error and ends the connection
    if sent < len(packet):
        paho._out_packet.append(
            {
                "command": PUBLISH,
                "mid": 0,
                "qos": 0,
                "pos": sent,
                "to_process": len(packet) - sent,
                "packet": packet,
                "info": MQTTMessageInfo(0),  # paho marks it published once written
            }
        )
        paho._call_socket_register_write()
    return True
