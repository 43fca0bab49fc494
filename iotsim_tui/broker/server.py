"""The broker: listeners, sessions, routing of messages to subscribers, wills and retained messages.

    broker = Broker(BrokerConfig(port=0))
    await broker.start()          # broker.ports == {"plain": 53211}
    ...
    await broker.stop()

Everything runs on one event loop; nothing here blocks it except what is bounded by
configuration (queues, retained messages, write buffers).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import ssl
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from uuid import uuid4

from iotsim_tui.broker.config import BrokerConfig
from iotsim_tui.broker.connection import Connection
from iotsim_tui.broker.gate import Gate
from iotsim_tui.broker.keepalive import DeadlineWatch
from iotsim_tui.broker.limits import LoginGuard
from iotsim_tui.broker.routing import Router
from iotsim_tui.broker.sessions import Session
from iotsim_tui.broker.stats import BrokerStats, SysFeed
from iotsim_tui.broker.tls import TLSProtocol
from iotsim_tui.broker.wire import Message
from iotsim_tui.errors import BrokerError
from iotsim_tui.protocol.codec import encode
from iotsim_tui.protocol.packets import (
    ConnAck,
    Connect,
    Subscribe,
    Unsubscribe,
)
from iotsim_tui.protocol.properties import NO_PROPERTIES, Properties, encode_properties
from iotsim_tui.protocol.reasons import ReasonCode
from iotsim_tui.protocol.wire import read_vbi

if TYPE_CHECKING:
    from iotsim_tui.broker.persistence import Persistence

log = logging.getLogger("iotsim_tui.broker")

SESSION_NEVER_EXPIRES = 0xFFFFFFFF
TLS_HANDSHAKE_TIMEOUT = 10


class PortInUse(BrokerError):
    """A listener's port is taken by another program."""

    exit_code = 3


@dataclass(eq=False)
class Listener:
    """One listening socket: plain TCP or TLS."""

    name: str
    """'plain' or 'tls'."""
    port: int
    context: ssl.SSLContext | None = None
    server: asyncio.Server | None = field(default=None, repr=False)


class Broker:
    """An MQTT 3.1.1 and 5.0 broker on the running event loop."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        self.stats = BrokerStats()
        self.router = Router(self.sessions, self.stats, config.max_retained)
        self.subscriptions = self.router.subscriptions
        self.retained = self.router.retained
        self.listeners: list[Listener] = []
        self.feed = SysFeed(self)
        self.gate = Gate(self)
        self.deadlines = DeadlineWatch()
        """When each connection must send CONNECT, then its next packet (keepalive)."""
        self.stopping = False
        self.persistence: Persistence | None = None
        """Writes sessions and retained messages to disk, unless persistence is off."""

    @property
    def ports(self) -> dict[str, int]:
        """The port each listener is bound to, by listener name ('plain', 'tls')."""
        return {listener.name: listener.port for listener in self.listeners}

    async def start(self) -> None:
        """Load certificates and passwords, then open every listener.

        Raises:
            PortInUse: a port is taken.
            BrokerError: certificates or the password file are unusable.
        """
        config = self.config
        self.gate.load()
        if config.persistence != "off":
            from iotsim_tui.broker.persistence import Persistence

            self.persistence = self.router.persistence = Persistence(self)
            await self.persistence.open()
        wanted: list[Listener] = []
        if config.port is not None:
            wanted.append(Listener("plain", config.port))
        if config.tls_port is not None:
            from iotsim_tui.broker.tls import server_context

            assert config.certs is not None
            context = server_context(
                config.certs,
                require_client_cert=config.require_client_cert,
                version=config.tls_version,
            )
            wanted.append(Listener("tls", config.tls_port, context))
        loop = asyncio.get_running_loop()
        try:
            for listener in wanted:
                listener.server = await self._listen(loop, listener)
                self.listeners.append(listener)
        except BaseException:
            self._close_listeners()
            if self.persistence is not None:
                await self.persistence.close()
            raise
        self.stats.started = time.time()
        self.feed.start()

    async def _listen(self, loop: asyncio.AbstractEventLoop, listener: Listener) -> asyncio.Server:
        host = self.config.bind
        try:
            server = await loop.create_server(
                lambda: self._protocol(loop, listener), host, listener.port, backlog=1024
            )
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(f"port {listener.port} on {host} is already in use") from None
            raise BrokerError(
                f"cannot listen on {host}:{listener.port}: {error.strerror}"
            ) from None
        listener.port = server.sockets[0].getsockname()[1]
        return server

    def _protocol(
        self, loop: asyncio.AbstractEventLoop, listener: Listener
    ) -> asyncio.BaseProtocol:
        connection = Connection(self, listener)
        if listener.context is None:
            return connection
        # What `create_server(ssl=...)` builds, made here so that a failed handshake (no
        # client certificate, a foreign CA) is logged and its alert reaches the client.
        return TLSProtocol(
            loop,
            connection,
            listener.context,
            None,  # type: ignore[arg-type]  # no waiter: asyncio accepts None; typeshed says not
            server_side=True,
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
        )

    def _close_listeners(self) -> None:
        for listener in self.listeners:
            if listener.server is not None:
                listener.server.close()

    async def stop(self) -> None:
        """Stop listening, close every connection and end every session.

        Connections are closed without a DISCONNECT from the client, so by the spec (MQTT 5.0
        s3.1.2.5) their wills are published, to the clients still connected at that moment,
        before anyone is disconnected. With persistence, sessions and their delayed wills are
        written to disk rather than ended.
        """
        self.stopping = True
        for listener in self.listeners:
            if listener.server is not None:
                listener.server.close()
        self.feed.stop()
        self.gate.close()
        self.deadlines.stop()
        connections = [c for c in self.connections if c.session is not None]
        for connection in connections:
            if connection.will is not None and connection.send_will:
                self._publish_will(connection.will)
                connection.will = None
        for connection in list(self.connections):
            connection.close(ReasonCode.SERVER_SHUTTING_DOWN, "broker shutting down")
        if self.persistence is not None:  # before the timers that say when sessions end go
            await self.persistence.close()
        for session in list(self.sessions.values()):
            session.cancel_timers()
            if session.pending_will is not None and self.persistence is None:
                self._publish_will(session.pending_will)
                session.pending_will = None
        self.sessions.clear()
        for listener in self.listeners:
            if listener.server is not None:
                await listener.server.wait_closed()
        self.listeners.clear()
        stats = self.stats
        log.info(
            "stopped: %d messages received, %d sent, %d dropped",
            stats.messages_received,
            stats.messages_sent,
            stats.dropped,
        )

    def reload(self) -> None:
        """Read the password file and the ACL again (SIGHUP, as mosquitto does)."""
        self.gate.reload()

    @property
    def logins(self) -> LoginGuard:
        """The bounds on password checks, and their counters."""
        return self.gate.logins

    def subscriptions_of(self, client_id: str) -> list[str]:
        """The filters a client's session subscribes to; empty when it has no session."""
        session = self.sessions.get(client_id)
        return list(session.subscriptions) if session is not None else []

    # -- connections --------------------------------------------------------------------------

    def connection_opened(self, connection: Connection) -> None:
        """A socket was accepted (TLS: after its handshake)."""
        self.connections.add(connection)
        log.debug("accepted %s on %s", connection.address, connection.listener.name)

    def connection_closed(self, connection: Connection) -> None:
        """The socket of `connection` is gone: log it and let go of its session."""
        self.connections.discard(connection)
        if connection.session is not None:
            if self.stopping:  # its will is out already and every session ends: nothing to keep
                connection.session.connection = None
                connection.session = None
            else:
                self._detach(connection)
            dropped = (
                f"; {connection.dropped} message(s) to it dropped" if connection.dropped else ""
            )
            log.info(
                "disconnect %s (%s): %s%s",
                connection.client_id,
                connection.address,
                connection.close_reason,
                dropped,
            )
            self.stats.connected -= 1
            self.feed.changed()
        elif connection.close_reason.startswith("refused"):
            log.info("%s from %s", connection.close_reason, connection.address)
        elif connection.close_reason.startswith("connection lost"):
            # Port probes (a supervisor waiting for the port) connect and leave: not news.
            log.debug("closed %s before CONNECT: %s", connection.address, connection.close_reason)
        else:
            log.info("closed %s before CONNECT: %s", connection.address, connection.close_reason)

    def connect(self, connection: Connection, packet: Connect) -> None:
        """Check a CONNECT (`gate.py`); accept it when it passes."""
        self.gate.connect(connection, packet)

    def accept(self, connection: Connection, packet: Connect) -> None:
        """Start or resume the client's session and answer CONNACK (the CONNECT passed)."""
        config = self.config
        version = connection.version
        properties = packet.properties
        client_id = packet.client_id
        if config.use_username_as_clientid and packet.username is not None:
            client_id = packet.username
        assigned = None
        if not client_id:
            client_id = f"auto-{uuid4().hex}"
            assigned = client_id if version == 5 else None
        if packet.will is not None and self.gate.may_write(
            client_id, packet.username, packet.will.topic
        ):  # as mosquitto does, a will the ACL forbids is dropped, the client accepted
            will = packet.will
            connection.will = _message(
                will.topic, will.payload, will.qos, will.retain, will.properties, client_id
            )
            connection.will_delay = will.properties.will_delay_interval or 0
        # Session expiry: 3.1.1 persistent sessions last as long as the longest we allow.
        if version == 5:
            requested = properties.session_expiry_interval or 0
        else:
            requested = 0 if packet.clean_start else SESSION_NEVER_EXPIRES
        expiry = min(requested, config.max_session_expiry)
        old = self.sessions.get(client_id)
        if old is not None and old.connection is not None:
            previous = old.connection
            previous.close(ReasonCode.SESSION_TAKEN_OVER, "taken over by a new connection")
            self._detach(previous, keep_session=not packet.clean_start)
            log.info("disconnect %s (%s): taken over", client_id, previous.address)
            self.stats.connected -= 1
            old = self.sessions.get(client_id)
        present = old is not None and not packet.clean_start
        if old is not None and not present:
            self._end_session(old)
        session = (
            old
            if present and old is not None
            else Session(client_id, config.max_queued_messages, config.max_queued_bytes)
        )
        self.gate.set_access(session, packet.username)
        session.cancel_timers()
        session.pending_will = None  # back before its will delay: the will is not sent
        session.expiry_interval = expiry
        session.connection = connection
        self.sessions[client_id] = session
        connection.session = session
        connection.client_id = client_id
        connection.username = packet.username
        connection.connected_since = time.time()
        keepalive = packet.keepalive
        server_keepalive = None
        if version == 5:
            if properties.receive_maximum is not None:
                connection.send_quota = min(properties.receive_maximum, config.max_inflight)
            connection.client_max_packet = properties.maximum_packet_size or 0
            connection.client_alias_max = properties.topic_alias_maximum or 0
            limit = config.max_keepalive  # 0: no limit, as in mosquitto
            if limit and (keepalive > limit or (keepalive == 0 and limit < 65_535)):
                keepalive = server_keepalive = limit
        ack_properties = NO_PROPERTIES
        if version == 5:
            ack_properties = Properties(
                session_expiry_interval=expiry if expiry != requested else None,
                receive_maximum=config.receive_maximum,
                topic_alias_maximum=config.topic_alias_maximum,
                maximum_packet_size=config.max_packet_size,
                assigned_client_identifier=assigned,
                server_keep_alive=server_keepalive,
            )
        connection.write(encode(ConnAck(present, ReasonCode.SUCCESS, ack_properties), version))
        connection.start_keepalive(keepalive)
        connection.limit_publish_rate(config.max_publish_rate)
        self.stats.connected += 1
        tls = connection.tls
        log.info(
            "connect %s from %s on %s port %d (MQTT %s%s%s)",
            client_id,
            connection.address,
            connection.listener.name,
            connection.listener.port,
            "5" if version == 5 else "3.1.1" if version == 4 else "3.1",
            f", {tls['version']}" if tls else "",
            f", user {packet.username!r}" if packet.username is not None else "",
        )
        self.feed.changed()
        if self.persistence is not None:
            self.persistence.touch(session)
        if present:
            connection.resend_inflight()
            connection.pump()

    def _detach(self, connection: Connection, *, keep_session: bool = True) -> None:
        """Part a closing connection from its session: will, session expiry."""
        session = connection.session
        if session is None:
            return
        connection.session = None
        session.connection = None
        will = connection.will if connection.send_will else None
        connection.will = None
        if session.expiry_interval == 0 or not keep_session:
            if will is not None:
                self._publish_will(will)
            self._end_session(session)
            return
        loop = asyncio.get_running_loop()
        if will is not None:
            if connection.will_delay == 0:
                self._publish_will(will)
            else:
                session.pending_will = will
                delay = min(connection.will_delay, session.expiry_interval)
                session.will_timer = loop.call_later(delay, self._delayed_will, session)
        session.expiry_timer = loop.call_later(
            session.expiry_interval, self._expire_session, session
        )
        if self.persistence is not None:
            self.persistence.touch(session)

    def _delayed_will(self, session: Session) -> None:
        session.will_timer = None
        if session.pending_will is not None:
            self._publish_will(session.pending_will)
            session.pending_will = None
        if self.persistence is not None:
            self.persistence.touch(session)

    def _expire_session(self, session: Session) -> None:
        if self.sessions.get(session.client_id) is session and session.connection is None:
            log.debug("session %s expired", session.client_id)
            self._end_session(session)

    def _end_session(self, session: Session) -> None:
        if self.persistence is not None:
            self.persistence.ended(session)
        session.cancel_timers()
        if session.pending_will is not None:
            self._publish_will(session.pending_will)
            session.pending_will = None
        self.subscriptions.remove_all(session.client_id, list(session.subscriptions))
        session.subscriptions.clear()
        session.queue.clear()
        session.inflight.clear()
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]
        self.feed.changed()

    def _publish_will(self, will: Message) -> None:
        if will.expires_at is not None:  # here: the will's expiry interval, started now
            will = replace(
                will, expires_at=time.monotonic() + will.expires_at, _parts=None, _qos0=None
            )
        self.publish(will)

    # -- messages -----------------------------------------------------------------------------

    def publish(self, message: Message) -> bool:
        """Route `message` to every matching subscription; False when nobody subscribed."""
        return self.router.publish(message)

    def queue_overflow(self, session: Session) -> None:
        """A session's queue was full: count it, and say so in the log now and then."""
        self.router.queue_overflow(session)

    def subscribe(self, connection: Connection, packet: Subscribe) -> None:
        """Add subscriptions, answer SUBACK, send the retained messages they ask for."""
        self.router.subscribe(connection, packet)
        self.feed.changed()

    def unsubscribe(self, connection: Connection, packet: Unsubscribe) -> None:
        """Drop subscriptions and answer UNSUBACK."""
        self.router.unsubscribe(connection, packet)
        self.feed.changed()


def _message(
    topic: str, payload: bytes, qos: int, retain: bool, properties: Properties, sender: str | None
) -> Message:
    """A will as a message, keeping the properties a PUBLISH may forward.

    Its Message Expiry Interval is kept, in seconds, in `expires_at` until it is published
    (see `Broker._publish_will`), when the countdown starts.
    """
    if properties.is_empty():
        return Message(topic, payload, qos, retain, b"", None, sender)
    expiry = properties.message_expiry_interval
    forwarded = replace(properties, will_delay_interval=None, message_expiry_interval=None)
    raw = encode_properties(forwarded)
    header = read_vbi(raw, 0)
    assert header is not None
    seconds = None if expiry is None else float(expiry)
    return Message(topic, payload, qos, retain, raw[header[1] :], seconds, sender)
