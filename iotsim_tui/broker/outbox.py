"""What the broker sends one client: batched writes, flow control, and bounds for slow readers.

Everything written during one turn of the event loop goes out in one `transport.write`. QoS 1
and 2 messages respect the client's Receive Maximum and wait in the session's bounded queue;
QoS 0 messages to a client that does not keep up are dropped (and counted) past
`write_buffer_limit`, and a client whose backlog passes `write_buffer_disconnect` is cut off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from iotsim_tui.broker.sessions import Delivery, Session
from iotsim_tui.broker.wire import Message
from iotsim_tui.protocol.codec import encode
from iotsim_tui.protocol.packets import Disconnect, PubRec, PubRel
from iotsim_tui.protocol.reasons import ReasonCode

if TYPE_CHECKING:
    from iotsim_tui.broker.server import Broker

log = logging.getLogger("iotsim_tui.broker")

_FLUSH_AT = 64 * 1024
"""Bytes gathered for one client after which they are written without waiting for the turn."""


class Outbox(asyncio.Protocol):
    """The sending half of a client connection; `Connection` adds the reading half.

    Both halves list their attributes in `__slots__`: with ten thousand idle clients, an
    instance dict of ~40 keys (too many for CPython to share the keys between instances) was
    ~1.5 KB per connection. An attribute not listed still works, kept in a dict made only then.
    """

    __slots__ = (
        "__dict__",
        "_flush_scheduled",
        "_out",
        "_out_size",
        "_paused",
        "_waiting_room",
        "aliases_out",
        "broker",
        "client_alias_max",
        "client_max_packet",
        "close_reason",
        "closing",
        "dropped",
        "loop",
        "lost",
        "send_quota",
        "session",
        "transport",
        "version",
    )

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.version = 0
        """The protocol level from CONNECT; 0 until CONNECT has been accepted."""
        self.session: Session | None = None
        self.closing = False
        self.close_reason = "connection lost"
        self.send_quota = broker.config.max_inflight
        """QoS 1/2 messages in flight to the client at most: its Receive Maximum, or ours."""
        self.client_max_packet = 0
        """The client's Maximum Packet Size; 0 for no limit."""
        self.client_alias_max = 0
        self.aliases_out: dict[str, int] | None = None
        """Topic aliases we set towards the client (made for a client that allows them)."""
        self.dropped = 0
        self.lost = False
        """True once the transport has reported the connection lost."""
        self._out: list[bytes] | None = None
        """What waits for the end of this turn of the loop (made only then)."""
        self._out_size = 0
        """Bytes in `_out`, not yet handed to the transport."""
        self._flush_scheduled = False
        self._paused = False
        self._waiting_room: list[Callable[[], None]] | None = None
        """Called once the client reads again and its queue has room (`when_room`)."""

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self.session is not None and not self.closing:
            self.pump()
        self._wake()

    def has_room(self) -> bool:
        """True when more can be sent now: the client keeps up and its queue is half empty."""
        session = self.session
        return (
            not self._paused
            and not self._over_limit()
            and (session is None or session.queued < max(session.queue_limit // 2, 1))
        )

    def when_room(self, callback: Callable[[], None]) -> None:
        """Call `callback` once `has_room` (now, or when the client has read and acknowledged)."""
        if self.has_room():
            callback()
        elif not self.closing:
            if self._waiting_room is None:
                self._waiting_room = []
            self._waiting_room.append(callback)

    def _wake(self) -> None:
        if self._waiting_room and not self.closing and self.has_room():
            callbacks = self._waiting_room
            self._waiting_room = None
            for callback in callbacks:
                callback()

    def deliver(self, delivery: Delivery) -> None:
        """Send a message to this client now, or queue it when flow control says wait."""
        session = self.session
        assert session is not None
        if delivery.qos == 0:
            if self._over_limit():
                self._drop("it reads too slowly")
                return
            self._send(delivery, 0)
            return
        if session.queued or len(session.inflight) >= self.send_quota or self._paused:
            if not session.enqueue(delivery):
                self.broker.queue_overflow(session)
            return
        packet_id = session.next_packet_id()
        session.inflight[packet_id] = delivery
        self._send(delivery, packet_id)

    def acknowledge(self, data: bytes) -> None:
        """Send a PUBACK or PUBREC now, or with persistence "sync" once the message is on disk."""
        persistence = self.broker.persistence
        if persistence is not None and persistence.sync:
            persistence.after_commit(self, data)
        else:
            self.write(data)

    def send_qos0(self, message: Message, retain: bool) -> None:
        """Send a QoS 0 message that needs no per-client properties (the fast path)."""
        if self.client_alias_max or (self.version == 5 and message.expires_at is not None):
            self.deliver(Delivery(message, 0, retain))
            return
        if self._over_limit():
            self._drop("it reads too slowly")
            return
        data = message.qos0_packet(self.version, retain)
        if self.client_max_packet and len(data) > self.client_max_packet:
            self._drop("over its maximum packet size")
            return
        self.broker.stats.messages_sent += 1
        self.write(data)

    def send_packet(self, packet: bytes) -> None:
        """Send a QoS 0 PUBLISH as it is (built for this client's protocol version, with no
        alias or subscription identifier to add): the fast path of routing."""
        waiting = self._out_size
        if self._paused and self.transport is not None:
            waiting += self.transport.get_write_buffer_size()
        broker = self.broker
        if waiting >= broker.config.write_buffer_limit:
            self._drop("it reads too slowly")
        elif self.client_max_packet and len(packet) > self.client_max_packet:
            self._drop("over its maximum packet size")
        else:
            broker.stats.messages_sent += 1
            self.write(packet)

    def _drop(self, why: str) -> None:
        """Count a message not delivered to this client; log the first and every 10,000th."""
        self.dropped += 1
        self.broker.stats.dropped += 1
        if self.dropped == 1 or self.dropped % 10_000 == 0:
            name = self.session.client_id if self.session is not None else "?"
            log.warning("dropping messages to %s (%s): %d so far", name, why, self.dropped)

    def _over_limit(self) -> bool:
        """True when more than `write_buffer_limit` bytes wait for this client."""
        waiting = self._out_size
        if self._paused and self.transport is not None:
            waiting += self.transport.get_write_buffer_size()
        return waiting >= self.broker.config.write_buffer_limit

    def pump(self) -> None:
        """Send queued messages while the flow-control window and the socket allow."""
        session = self.session
        if session is None or self.closing:
            return
        if self.broker.persistence is not None:
            self.broker.persistence.touch(session)
        if not session.queued:
            if self._waiting_room:
                self._wake()
            return
        now = self.loop.time()
        queue = session.queue
        while queue and len(session.inflight) < self.send_quota and not self._paused:
            delivery = session.dequeue()
            if delivery.message.expired(now):
                continue
            packet_id = session.next_packet_id()
            session.inflight[packet_id] = delivery
            self._send(delivery, packet_id)
        if self._waiting_room:
            self._wake()

    def _acknowledged(self, packet_id: int, qos: int) -> None:
        session = self.session
        assert session is not None
        delivery = session.inflight.get(packet_id)
        # An unsolicited or mismatched acknowledgement is ignored (nothing to complete).
        if delivery is None or delivery.qos != qos or (qos == 2 and not delivery.released):
            return
        del session.inflight[packet_id]
        self.pump()

    def _received(self, packet: PubRec) -> None:
        session = self.session
        assert session is not None
        delivery = session.inflight.get(packet.packet_id)
        if delivery is None or delivery.qos != 2:
            if self.version == 5:
                reason = ReasonCode.PACKET_IDENTIFIER_NOT_FOUND
                self.write(encode(PubRel(packet.packet_id, reason), self.version))
            return
        if packet.reason_code.is_error:
            del session.inflight[packet.packet_id]  # the receiver refused it: the exchange ends
            self.pump()
            return
        delivery.released = True
        self.write(encode(PubRel(packet.packet_id), self.version))

    def resend_inflight(self) -> None:
        """After a session resumes: PUBLISH again with DUP, or PUBREL, everything in flight."""
        session = self.session
        assert session is not None
        for packet_id, delivery in list(session.inflight.items()):
            if delivery.released:
                self.write(encode(PubRel(packet_id), self.version))
            else:
                self._send(delivery, packet_id, dup=True)

    def _send(self, delivery: Delivery, packet_id: int, *, dup: bool = False) -> None:
        message = delivery.message
        alias = 0
        send_topic = True
        aliases = self.aliases_out
        if self.client_alias_max:
            if aliases is None:
                aliases = self.aliases_out = {}
            alias = aliases.get(message.topic, 0)
            if alias:
                send_topic = False
            elif len(aliases) < self.client_alias_max:
                alias = aliases[message.topic] = len(aliases) + 1
        data = message.encode(
            self.version,
            delivery.qos,
            delivery.retain,
            packet_id,
            dup,
            now=self.loop.time(),
            subscription_ids=delivery.subscription_ids if self.version == 5 else (),
            alias=alias,
            send_topic=send_topic,
        )
        if self.client_max_packet and len(data) > self.client_max_packet:
            # MQTT 5.0 s3.1.2.11.4: discard as if delivered; never send an oversized packet.
            self._drop("over its maximum packet size")
            if packet_id and self.session is not None:
                self.session.inflight.pop(packet_id, None)
            if alias and send_topic and aliases is not None:
                del aliases[message.topic]
            return
        self.broker.stats.messages_sent += 1
        self.write(data)

    # -- writing and closing ----------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue bytes to send; everything queued during one loop iteration goes out together."""
        if self.closing:
            return
        out = self._out
        if out is None:
            self._out = [data]
        else:
            out.append(data)
        self._out_size += len(data)
        if self._out_size >= _FLUSH_AT:
            self.flush()  # a burst: hand it to the socket now rather than hold it all
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Hand the queued bytes to the transport in one write."""
        self._flush_scheduled = False
        out = self._out
        self._out = None
        self._out_size = 0
        transport = self.transport
        if not out or transport is None or transport.is_closing():
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        if self._waiting_room:
            self.loop.call_soon(self._wake)
        transport.write(data)
        broker = self.broker
        broker.stats.bytes_sent += len(data)
        if transport.get_write_buffer_size() > broker.config.write_buffer_disconnect:
            self.close_reason = "too slow to read what it subscribed to"
            self.closing = True
            transport.abort()

    def close(self, reason_code: int | None, why: str) -> None:
        """End the connection, first sending DISCONNECT with `reason_code` to an MQTT 5 client."""
        if self.closing:
            return
        if reason_code is not None and self.version == 5:
            self.write(encode(Disconnect(ReasonCode(reason_code)), 5))
        self.flush()
        self.close_reason = why
        self.closing = True
        if self.transport is not None:
            self.transport.close()
            # A client that stopped reading never lets the close finish: cut it after a while,
            # so that it counts as gone (will published, session detached).
            self.loop.call_later(self.broker.config.close_timeout, self._abort_if_open)

    def _abort_if_open(self) -> None:
        transport = self.transport
        if transport is not None and not self.lost:
            self.close_reason += f"; cut after {self.broker.config.close_timeout:g} s unread"
            transport.abort()

    def protocol_violation(self, reason_code: int, why: str) -> None:
        """React to a broken rule: DISCONNECT with the reason (5.0) or just close (3.1.1)."""
        self.close(reason_code, f"protocol error: {why}")
