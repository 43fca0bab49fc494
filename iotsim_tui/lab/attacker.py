"""The attacker's MQTT client: raw packets over a socket, so every reason code is seen.

An attack wants what a library hides: the CONNACK's reason when it is refused, the SUBACK's
code for each filter, the PUBACK's reason for a write the broker denied. So the attacker
speaks MQTT 5 through the sans-IO codec of `iotsim_tui.protocol` over an asyncio stream.

It only ever connects to an `AttackTarget`: a listener of a bundled broker this process
started and that is still running, on a loopback address. Anything else is refused
(`TargetRefused`) before a socket is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

from iotsim_tui.errors import UsageError
from iotsim_tui.protocol.codec import PacketReader, encode
from iotsim_tui.protocol.packets import (
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    SubscriptionRequest,
)
from iotsim_tui.protocol.reasons import MQTTVersion, ReasonCode
from iotsim_tui.wiretap.mqtt import ATTACKER_PREFIX

__all__ = ["ATTACKER_PREFIX", "AttackTarget", "Attacker"]
"""Every attacker's client id starts with ATTACKER_PREFIX: the broker console and the eavesdrop
view mark it."""

if TYPE_CHECKING:
    from iotsim_tui.broker.process import BundledBroker

REPLY_TIMEOUT = 5.0
"""Seconds to wait for the broker's answer to one packet."""
MAX_KEPT = 500
"""Messages an attacker keeps at most (the rest are counted, not kept)."""


class TargetRefused(UsageError):
    """An attack was pointed at something other than a broker iotsim-tui started on loopback."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AttackTarget:
    """A listener of a bundled broker this process started: the only thing attacks reach."""

    broker: BundledBroker
    kind: str = "plain"
    """"plain" or "tls"."""

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of the listener, checked to be ours, running, and on loopback."""
        if not self.broker.running:
            raise TargetRefused(
                "the attack's broker is not running: attacks need a broker "
                "iotsim-tui started itself"
            )
        address = self.broker.listening.get(self.kind)
        if address is None:
            raise TargetRefused(f"the attack's broker has no {self.kind} listener")
        if not is_loopback(address[0]):
            raise TargetRefused(
                f"{address[0]} is not a loopback address: attacks only run against a broker "
                "iotsim-tui started on this machine's loopback"
            )
        return address


@dataclass(frozen=True, slots=True)
class Received:
    """One message the attacker received."""

    topic: str
    payload: bytes
    retain: bool
    at: float


@dataclass
class Inbox:
    """What an attacker's subscriptions brought in: the first messages kept, all counted."""

    kept: list[Received] = field(default_factory=list)
    count: int = 0
    news: asyncio.Event = field(default_factory=asyncio.Event)
    counted: bytes | None = None
    """A payload whose arrivals `hits` counts (the flood's)."""
    hits: int = 0

    def add(self, message: Received) -> None:
        self.count += 1
        if message.payload == self.counted:
            self.hits += 1
        if len(self.kept) < MAX_KEPT:
            self.kept.append(message)
        self.news.set()


class ConnectRefused(Exception):
    """The broker refused the attacker's CONNECT (or closed the connection instead)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Attacker:
    """One attacker connection: `async with Attacker(target, "x") as attacker:`.

    Raises `ConnectRefused` from `__aenter__` when the broker says no.
    """

    def __init__(
        self,
        target: AttackTarget,
        name: str,
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.target = target
        self.client_id = client_id if client_id is not None else ATTACKER_PREFIX + name
        self._username = username
        self._password = password
        self._tls = tls
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._packets = PacketReader(MQTTVersion.V5)
        self._replies: dict[tuple[type[Packet], int], asyncio.Future[Packet]] = {}
        self._task: asyncio.Task[None] | None = None
        self._next_id = 0
        self.inbox = Inbox()
        self.closed = asyncio.Event()
        self.connack: ConnAck | None = None

    async def __aenter__(self) -> Attacker:
        if self.connack is None:
            await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> ConnAck:
        """Open the connection and log in; returns the CONNACK, raises ConnectRefused."""
        host, port = self.target.address
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    host, port, ssl=self._tls, server_hostname=host if self._tls else None
                ),
                REPLY_TIMEOUT,
            )
        except (OSError, TimeoutError) as error:
            raise ConnectRefused(f"the connection failed: {error}") from None
        self._reader, self._writer = reader, writer
        password = self._password.encode() if self._password is not None else None
        connect = Connect(
            client_id=self.client_id,
            protocol_level=MQTTVersion.V5,
            keepalive=60,
            username=self._username,
            password=password,
        )
        writer.write(encode(connect, MQTTVersion.V5))
        first = await self._read_one()
        if not isinstance(first, ConnAck):
            await self.close()
            raise ConnectRefused("the broker closed the connection without a CONNACK")
        self.connack = first
        if first.reason_code != 0:
            await self.close()
            raise ConnectRefused(connack_text(first))
        self._task = asyncio.create_task(self._read_loop(), name=f"attacker {self.client_id}")
        return first

    async def _read_one(self) -> Packet | None:
        assert self._reader is not None
        deadline = time.monotonic() + REPLY_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            try:
                data = await asyncio.wait_for(self._reader.read(65536), max(left, 0.01))
            except (OSError, TimeoutError, ssl.SSLError):
                return None
            if not data:
                return None
            packets = self._packets.feed(data)
            if packets:
                first, rest = packets[0], packets[1:]
                for packet in rest:
                    self._take(packet)
                return first

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                for packet in self._packets.feed(data):
                    self._take(packet)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            self.closed.set()
            self.inbox.news.set()
            for future in self._replies.values():
                if not future.done():
                    future.cancel()

    def _take(self, packet: Packet) -> None:
        if isinstance(packet, Publish):
            self.inbox.add(Received(packet.topic, packet.payload, packet.retain, time.monotonic()))
            if packet.qos == 1 and self._writer is not None:
                self._writer.write(encode(PubAck(packet.packet_id), MQTTVersion.V5))
            return
        packet_id = getattr(packet, "packet_id", None)
        if packet_id is not None:
            future = self._replies.pop((type(packet), packet_id), None)
            if future is not None and not future.done():
                future.set_result(packet)

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    async def _ask(self, packet: Packet, reply: type[Packet], packet_id: int) -> Packet | None:
        assert self._writer is not None
        future: asyncio.Future[Packet] = asyncio.get_running_loop().create_future()
        self._replies[(reply, packet_id)] = future
        self._writer.write(encode(packet, MQTTVersion.V5))
        try:
            return await asyncio.wait_for(future, REPLY_TIMEOUT)
        except (TimeoutError, asyncio.CancelledError):
            return None

    async def subscribe(self, filters: Iterable[str]) -> dict[str, int | None]:
        """Subscribe (QoS 1); each filter -> the SUBACK's code (None: no answer)."""
        wanted = tuple(filters)
        packet_id = self._packet_id()
        packet = Subscribe(packet_id, tuple(SubscriptionRequest(f, qos=1) for f in wanted))
        answer = await self._ask(packet, SubAck, packet_id)
        if not isinstance(answer, SubAck):
            return dict.fromkeys(wanted)
        return {f: int(code) for f, code in zip(wanted, answer.reason_codes, strict=False)}

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> int | None:
        """Publish; for QoS 1 the PUBACK's reason code (None: no answer), for QoS 0 0."""
        if qos == 0:
            assert self._writer is not None
            self._writer.write(encode(Publish(topic, payload, retain=retain), MQTTVersion.V5))
            return 0
        packet_id = self._packet_id()
        packet = Publish(topic, payload, qos=1, retain=retain, packet_id=packet_id)
        answer = await self._ask(packet, PubAck, packet_id)
        return int(answer.reason_code) if isinstance(answer, PubAck) else None

    def write_raw(self, data: bytes) -> None:
        """Queue bytes already encoded (the flood's pre-built PUBLISH packets)."""
        assert self._writer is not None
        self._writer.write(data)

    async def drain(self) -> None:
        """Wait until the socket takes what was written (TCP's flow control)."""
        if self._writer is not None:
            await self._writer.drain()

    async def ping(self) -> None:
        """Send PINGREQ (keeps a quiet connection alive)."""
        if self._writer is not None:
            self._writer.write(encode(PingReq(), MQTTVersion.V5))

    async def close(self) -> None:
        """Say DISCONNECT (when connected) and close."""
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):
                if self.connack is not None and self.connack.reason_code == 0:
                    writer.write(encode(Disconnect(), MQTTVersion.V5))
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), 1.0)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.closed.set()


def connack_text(connack: ConnAck) -> str:
    """A refused CONNACK in plain words: `CONNACK 0x87 not authorized`."""
    return f"CONNACK {code_text(int(connack.reason_code))}"


def code_text(code: int | None) -> str:
    """A reason code as `0x87 not authorized`; None as `no answer`."""
    if code is None:
        return "no answer"
    try:
        name = ReasonCode(code).name.lower().replace("_", " ")
    except ValueError:
        name = "unknown"
    return f"0x{code:02X} {name}"
