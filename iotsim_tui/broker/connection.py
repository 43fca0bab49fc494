"""One client connection: framing and the MQTT state machine (what it sends: `outbox.py`).

An `asyncio.Protocol` rather than streams: bytes are framed as they arrive, a packet is only
kept once its fixed header says it fits, and replies to one read are written together.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, cast

from iotsim_tui.broker.limits import PublishRate
from iotsim_tui.broker.outbox import Outbox
from iotsim_tui.broker.tls import TLS_HANDSHAKE_RECORD, common_name, not_connect_reason
from iotsim_tui.broker.wire import (
    PAYLOAD_FORMAT_INVALID,
    Message,
    WireError,
    decode_publish,
    read_plain_qos0,
)
from iotsim_tui.protocol.codec import PacketReader, encode
from iotsim_tui.protocol.errors import MalformedPacket, ProtocolError, UnsupportedProtocolVersion
from iotsim_tui.protocol.packets import (
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PubAck,
    PubComp,
    PubRec,
    PubRel,
    Subscribe,
    Unsubscribe,
)
from iotsim_tui.protocol.properties import Properties
from iotsim_tui.protocol.reasons import ReasonCode
from iotsim_tui.protocol.wire import read_vbi

if TYPE_CHECKING:
    from iotsim_tui.broker.server import Broker, Listener

log = logging.getLogger("iotsim_tui.broker")

CONNECT_TIMEOUT = 10.0
"""Seconds a new connection may take to send CONNECT."""
_UNSUPPORTED_VERSION_CONNACK = b"\x20\x02\x00\x01"
_PINGRESP = b"\xd0\x00"


class Connection(Outbox):
    """The broker's side of one network connection: reading, and the MQTT state machine."""

    __slots__ = (
        "_held",
        "_needed",
        "address",
        "aliases_in",
        "buffer",
        "certificate_name",
        "client_id",
        "connected_since",
        "deadline",
        "host",
        "keepalive",
        "last_seen",
        "listener",
        "publish_rate",
        "receive_quota",
        "send_will",
        "tls",
        "username",
        "will",
        "will_delay",
    )

    def __init__(self, broker: Broker, listener: Listener) -> None:
        super().__init__(broker)
        self.listener = listener
        self.address = "?"
        self.host = "?"
        """The client's IP address, without the port."""
        self.certificate_name: str | None = None
        """The common name (CN) of the client's certificate, when it presented one."""
        self.publish_rate: PublishRate | None = None
        self.buffer: bytearray | None = None
        """The start of a packet not all there yet (made only then)."""
        self.client_id = ""
        self.username: str | None = None
        self.connected_since = 0.0
        self.tls: dict[str, str] | None = None
        self.keepalive = 0
        self.last_seen = self.loop.time()
        self.will: Message | None = None
        self.will_delay = 0
        self.send_will = True
        """False once a DISCONNECT with reason 0x00 (every 3.1.1 DISCONNECT) arrives."""
        self.receive_quota = broker.config.receive_maximum
        self.aliases_in: dict[int, str] | None = None
        """Topic aliases the client set (made when it sets the first)."""
        self.deadline = 0.0
        """Loop time by which the client must send CONNECT, then its next packet (keepalive)."""
        self._held = False
        """True while CONNECT waits for its password check: later packets wait too."""
        self._needed = 0
        """Bytes the buffered partial packet needs before it is worth parsing again."""

    # -- asyncio callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport: asyncio's, or uvloop's (which does not subclass asyncio's).
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if peer:
            host, port = peer[0], peer[1]
            self.host = host
            self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            cipher = ssl_object.cipher()
            self.tls = {
                "version": ssl_object.version() or "",
                "cipher": cipher[0] if cipher else "",
            }
            self.certificate_name = common_name(transport.get_extra_info("peercert"))
        high = self.broker.config.write_buffer_limit
        self.transport.set_write_buffer_limits(high=high, low=high // 4)
        self.broker.deadlines.watch(self, self.loop.time() + CONNECT_TIMEOUT)
        self.broker.connection_opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.broker.deadlines.forget(self)
        self.buffer = None
        self._out = None
        self._out_size = 0
        if exc is not None and not self.closing:
            self.close_reason = f"connection lost: {exc}"
        self.closing = True
        self.broker.connection_closed(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        broker = self.broker
        if broker.persistence is not None and self.session is not None:
            broker.persistence.touch(self.session)  # what it sends may change its session
        self.last_seen = self.loop.time()
        end = len(data)
        broker.stats.bytes_received += end
        if self._held:
            self._keep(data)
            return
        limit = broker.config.max_packet_size
        buffer = self.buffer
        if buffer:
            buffer += data
            if len(buffer) < self._needed:
                return  # the packet being read is not all there yet; parse it once it is
            data = bytes(buffer)
            end = len(data)
            self.buffer = None
        elif (
            end > 1
            and data[0] == 0x30
            and data[1] == end - 2 < 0x80
            and end <= limit
            and self.version
        ):
            # One QoS 0 PUBLISH, whole, in one read: what a device sends once a second.
            try:
                self.on_publish(0x30, data, 0, 2, end)
            except ProtocolError as error:
                self.protocol_violation(error.reason_code, str(error))
            return
        self._needed = 0
        position = 0
        try:
            while position < end and not self.closing and not self._held:
                first = data[position]
                if not self.version and (first >> 4 != 1 or first == TLS_HANDSHAKE_RECORD):
                    # 0x16 would read as a CONNECT with bad flags: it is a TLS ClientHello.
                    self.close(None, not_connect_reason(first))
                    return
                if position + 1 < end and data[position + 1] < 0x80:
                    length, used = data[position + 1], 1  # most packets: one length byte
                else:
                    try:
                        header = read_vbi(data, position + 1)
                    except MalformedPacket as error:
                        raise MalformedPacket(
                            f"the remaining length is {error}", error.reason_code
                        ) from None
                    if header is None:
                        break
                    length, used = header
                total = 1 + used + length
                if total > limit:
                    self._too_large(total)
                    return
                if end - position < total:
                    self._needed = total
                    break
                begin = position
                position += total
                if first >> 4 == 3 and self.version:
                    self.on_publish(first, data, begin, begin + 1 + used, position)
                elif first == 0x40 and length == 2 and self.version:
                    # A plain PUBACK, as common as QoS 1 messages: read here, not by the codec
                    # (packet id 0, a protocol error, still goes to the codec).
                    packet_id = (data[begin + 2] << 8) | data[begin + 3]
                    if packet_id:
                        self._acknowledged(packet_id, 1)
                    else:
                        self.on_packet(first, data[begin:position])
                elif first == 0xC0 and length == 0 and self.version:
                    self.write(_PINGRESP)  # PINGREQ, every keepalive of every client
                else:
                    self.on_packet(first, data[begin:position])
        except ProtocolError as error:  # from the fast path of PUBLISH, or WireError
            self.protocol_violation(error.reason_code, str(error))
            return
        if position < end and not self.closing:
            self._keep(data[position:])

    def _keep(self, data: bytes) -> None:
        """Keep `data` for the next read (a packet cut short, or reading held)."""
        if self.buffer is None:
            self.buffer = bytearray(data)
        else:
            self.buffer += data

    # -- incoming packets -------------------------------------------------------------------

    def on_packet(self, first: int, raw: bytes) -> None:
        """Decode a packet other than PUBLISH with the codec and act on it."""
        packet_type = first >> 4
        if packet_type == 0:
            self.protocol_violation(ReasonCode.MALFORMED_PACKET, "packet type 0 is reserved")
            return
        if self.version and packet_type in (1, 2, 9, 11, 13):
            what = "a second CONNECT" if packet_type == 1 else "a server-only packet"
            self.protocol_violation(ReasonCode.PROTOCOL_ERROR, f"the client sent {what}")
            return
        # `raw` is one whole packet: a reader made for it keeps no state worth a reader per
        # connection (most packets after CONNECT are PUBLISH, PUBACK and PINGREQ, read above).
        reader = PacketReader(self.version or None, self.broker.config.max_packet_size)
        try:
            packets = reader.feed(raw)
        except UnsupportedProtocolVersion as error:
            self.write(_UNSUPPORTED_VERSION_CONNACK)
            self.close(None, f"refused: {error}")
            return
        except MalformedPacket as error:
            if not self.version:
                self._refuse_connect(error)
            else:
                self.protocol_violation(error.reason_code, str(error))
            return
        for packet in packets:
            self.dispatch(packet)

    def dispatch(self, packet: Packet) -> None:
        """Act on one decoded packet."""
        if isinstance(packet, Connect):
            self.broker.connect(self, packet)
        elif isinstance(packet, PingReq):
            self.write(_PINGRESP)
        elif isinstance(packet, PubAck):
            self._acknowledged(packet.packet_id, 1)
        elif isinstance(packet, PubRec):
            self._received(packet)
        elif isinstance(packet, PubComp):
            self._acknowledged(packet.packet_id, 2)
        elif isinstance(packet, PubRel):
            self._released(packet.packet_id)
        elif isinstance(packet, Subscribe):
            self.broker.subscribe(self, packet)
        elif isinstance(packet, Unsubscribe):
            self.broker.unsubscribe(self, packet)
        elif isinstance(packet, Disconnect):
            self._client_disconnect(packet)
        elif isinstance(packet, Auth):
            self.protocol_violation(
                ReasonCode.PROTOCOL_ERROR, "AUTH without an authentication method in CONNECT"
            )

    def on_publish(self, first: int, data: bytes, begin: int, start: int, end: int) -> None:
        """Check, route and acknowledge the PUBLISH at `data[begin:end]` (body from `start`)."""
        broker = self.broker
        if first == 0x30:  # QoS 0, not retained: most telemetry, routed as the bytes it came in
            plain = read_plain_qos0(data, start, end, self.version)
            session = self.session
            if plain is not None and session is not None and session.access is None:
                broker.stats.messages_received += 1
                topic, payload = plain
                broker.router.forward(
                    topic, data, begin, payload, end, self.version, self.client_id
                )
                if self.publish_rate is not None:
                    self._count_rate()
                return
        incoming = decode_publish(first & 0x0F, data, start, end, self.version)
        broker.stats.messages_received += 1
        topic = incoming.topic
        if incoming.topic_alias:
            topic = self._resolve_alias(incoming.topic_alias, topic)
        qos = incoming.qos
        packet_id = incoming.packet_id
        session = self.session
        assert session is not None
        if qos == 2:
            if packet_id in session.awaiting_release:
                self.acknowledge(encode(PubRec(packet_id), self.version))  # a resend: route it once
                return
            if len(session.awaiting_release) >= self.receive_quota:
                raise WireError(ReasonCode.RECEIVE_MAXIMUM_EXCEEDED, "Receive Maximum exceeded")
        reason = 0
        access = session.access
        if topic.startswith("$SYS"):
            reason = ReasonCode.NOT_AUTHORIZED  # only the broker writes its statistics
        elif access is not None and not access.can_write(topic):
            reason = ReasonCode.NOT_AUTHORIZED
            broker.stats.denied += 1
            log.debug("refused PUBLISH of %s to %r (ACL)", self.client_id, topic)
        elif incoming.utf8_payload and not _is_utf8(incoming.payload):
            if not qos:
                raise WireError(PAYLOAD_FORMAT_INVALID, "payload is not UTF-8 as announced")
            reason = ReasonCode.PAYLOAD_FORMAT_INVALID
        if not reason:
            expiry = incoming.message_expiry
            message = Message(
                topic,
                incoming.payload,
                qos,
                incoming.retain,
                incoming.properties,
                None if expiry is None else self.loop.time() + expiry,
                self.client_id,
            )
            if first == 0x30 and not incoming.topic_alias and expiry is None:
                message.reuse_packet(self.version, data[begin:end])
            if (
                self.version == 5
                and incoming.retain
                and incoming.payload
                and broker.retained.full_for(topic)
            ):
                broker.retained.store(message)  # refused: counted and logged there
                broker.stats.dropped += 1
                reason = ReasonCode.QUOTA_EXCEEDED
            elif not broker.publish(message) and self.version == 5:
                reason = ReasonCode.NO_MATCHING_SUBSCRIBERS
        if qos == 1:
            if reason:
                self.acknowledge(encode(PubAck(packet_id, ReasonCode(reason)), self.version))
            else:
                self.acknowledge(b"\x40\x02" + packet_id.to_bytes(2, "big"))
        elif qos == 2:
            if reason < 0x80:
                session.awaiting_release.add(packet_id)
            self.acknowledge(encode(PubRec(packet_id, ReasonCode(reason)), self.version))
        if self.publish_rate is not None:
            self._count_rate()

    def _count_rate(self) -> None:
        assert self.publish_rate is not None
        wait = self.publish_rate.take()
        if wait > 0:  # over the rate: read nothing more from it for a while
            self.hold()
            self.loop.call_later(wait, self.release)

    def limit_publish_rate(self, rate: float) -> None:
        """Read at most `rate` PUBLISH packets a second from this client (0: no limit)."""
        self.publish_rate = PublishRate(rate) if rate > 0 else None

    def _resolve_alias(self, alias: int, topic: str) -> str:
        if alias > self.broker.config.topic_alias_maximum:
            raise WireError(ReasonCode.TOPIC_ALIAS_INVALID, "Topic Alias over our maximum")
        if topic:
            if self.aliases_in is None:
                self.aliases_in = {}
            self.aliases_in[alias] = topic
            return topic
        known = self.aliases_in.get(alias) if self.aliases_in is not None else None
        if known is None:
            raise WireError(ReasonCode.PROTOCOL_ERROR, "Topic Alias not set before use")
        return known

    def _released(self, packet_id: int) -> None:
        session = self.session
        assert session is not None
        reason = ReasonCode.SUCCESS
        if packet_id in session.awaiting_release:
            session.awaiting_release.discard(packet_id)
        elif self.version == 5:
            reason = ReasonCode.PACKET_IDENTIFIER_NOT_FOUND
        self.write(encode(PubComp(packet_id, reason), self.version))

    def _client_disconnect(self, packet: Disconnect) -> None:
        expiry = packet.properties.session_expiry_interval
        session = self.session
        if expiry is not None and session is not None:
            if session.expiry_interval == 0 and expiry != 0:
                self.protocol_violation(
                    ReasonCode.PROTOCOL_ERROR,
                    "DISCONNECT set a Session Expiry Interval after CONNECT set none",
                )
                return
            session.expiry_interval = min(expiry, self.broker.config.max_session_expiry)
        # Only a normal disconnection (0x00) discards the will (MQTT 5.0 s3.1.2.5); 0x04 asks for
        # it, and so does any error reason a client gives.
        self.send_will = packet.reason_code != ReasonCode.NORMAL_DISCONNECTION
        reason = f"client sent DISCONNECT (reason 0x{packet.reason_code:02X})"
        self.close(None, reason if packet.reason_code else "client sent DISCONNECT")

    def close(self, reason_code: int | None, why: str) -> None:
        """End the connection (DISCONNECT first in 5.0) and forget any partial packet."""
        self.buffer = None
        super().close(reason_code, why)

    def hold(self) -> None:
        """Stop reading until `release` (CONNECT is being checked off the event loop)."""
        self._held = True
        if self.transport is not None:
            self.transport.pause_reading()

    def release(self) -> None:
        """Read again, starting with whatever arrived behind CONNECT."""
        self._held = False
        if self.closing or self.transport is None:
            return
        self.transport.resume_reading()
        if self.buffer:
            self._needed = 0
            self.data_received(b"")

    def refuse(self, reason: ReasonCode, why: str, properties: Properties | None = None) -> None:
        """Answer CONNECT with a failure CONNACK in the client's protocol version, then close."""
        self.write(encode(ConnAck(False, reason, properties or Properties()), self.version))
        self.version = 0  # no DISCONNECT after a refused CONNECT
        self.close(None, f"refused: {why}")

    def _refuse_connect(self, error: MalformedPacket) -> None:
        if error.version == 5:
            self.write(encode(ConnAck(False, error.reason_code), 5))
        elif error.connack_return_code is not None and error.version is not None:
            self.write(encode(ConnAck(False, error.connack_return_code), error.version))
        self.close(None, f"refused CONNECT: {error}")

    def _too_large(self, size: int) -> None:
        why = (
            f"a packet of {size} bytes is over the maximum of {self.broker.config.max_packet_size}"
        )
        if not self.version:
            self.close(None, f"refused: {why}")
        else:
            self.close(ReasonCode.PACKET_TOO_LARGE, why)

    def start_keepalive(self, keepalive: int) -> None:
        """Close the connection when the client stays silent for 1.5x its keepalive."""
        self.keepalive = keepalive
        if keepalive:
            self.broker.deadlines.watch(self, self.last_seen + keepalive * 1.5)
        else:
            self.broker.deadlines.forget(self)

    def watched(self, now: float) -> bool:
        """Past `deadline` (`keepalive.DeadlineWatch`): close the connection if it has not sent
        CONNECT, or stayed silent for 1.5 keepalives; else True, with the next deadline."""
        if self.closing:
            return False
        if not self.version:
            self.close(None, f"no CONNECT within {CONNECT_TIMEOUT:g} s")
            return False
        if not self.keepalive:
            return False
        limit = self.keepalive * 1.5
        silent = now - self.last_seen
        if silent >= limit:
            self.close(ReasonCode.KEEP_ALIVE_TIMEOUT, f"silent for {silent:.1f} s (keepalive)")
            return False
        self.deadline = self.last_seen + limit
        return True


def _is_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
