"""Routing: subscriptions and retained messages, and which session gets which message how.

Delivered QoS is the lower of the published and the granted QoS; a client whose subscriptions
overlap gets one copy, at the highest granted QoS, with every matching subscription identifier.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from iotsim_tui.broker.retained import RetainedStore
from iotsim_tui.broker.sessions import Delivery, Session
from iotsim_tui.broker.stats import BrokerStats
from iotsim_tui.broker.subscriptions import Subscription, SubscriptionTree
from iotsim_tui.broker.wire import Message
from iotsim_tui.protocol.codec import encode
from iotsim_tui.protocol.packets import RetainHandling, SubAck, Subscribe, UnsubAck, Unsubscribe
from iotsim_tui.protocol.reasons import ReasonCode
from iotsim_tui.protocol.topics import (
    SHARE_PREFIX,
    TopicError,
    matched_filter,
    validate_topic_filter,
)

if TYPE_CHECKING:
    from iotsim_tui.broker.connection import Connection
    from iotsim_tui.broker.persistence import Persistence

log = logging.getLogger("iotsim_tui.broker")


class Router:
    """The subscription tree and retained store, and delivery to sessions."""

    def __init__(self, sessions: dict[str, Session], stats: BrokerStats, max_retained: int) -> None:
        self.sessions = sessions
        self.stats = stats
        self.subscriptions = SubscriptionTree()
        self.retained = RetainedStore(max_retained)
        self.persistence: Persistence | None = None

    def publish(self, message: Message) -> bool:
        """Route `message` to every matching subscription; False when nobody subscribed."""
        if message.retain:
            self.retained.store(message)
            if self.persistence is not None:
                self.persistence.retain(message)
        matches = self.subscriptions.match(message.topic)
        if not matches:
            return False
        return self._route(message, matches)

    def forward(
        self,
        topic: str,
        packet: bytes,
        begin: int,
        payload: int,
        end: int,
        version: int,
        sender: str,
    ) -> bool:
        """Route a QoS 0, not retained PUBLISH without properties, `packet[begin:end]`, whose
        payload starts at `payload`; False when nobody subscribed.

        A subscriber of the sender's protocol version that needs nothing of its own gets the
        packet as it came; a message object is only made for anyone else.
        """
        matches = self.subscriptions.match(topic)
        if not matches:
            return False
        if len(matches) == 1:
            sub = matches[0]
            if sub.no_local and sub.client_id == sender:
                return True
            session = self.sessions.get(sub.client_id)
            connection = session.connection if session is not None else None
            if (
                connection is not None
                and connection.version == version
                and not sub.identifier
                and not connection.client_alias_max
            ):
                if session is not None and not _may_read(session, topic):
                    return True
                connection.send_packet(packet[begin:end])
                return True
        message = Message(topic, packet[payload:end], 0, False, b"", None, sender)
        message.reuse_packet(version, packet[begin:end])
        return self._route(message, matches)

    def _route(self, message: Message, matches: list[Subscription]) -> bool:
        if len(matches) == 1:
            sub = matches[0]
            if sub.no_local and sub.client_id == message.sender:
                return True
            if not sub.identifier and not (sub.qos and message.qos):
                session = self.sessions.get(sub.client_id)
                connection = session.connection if session is not None else None
                if connection is not None:  # the common case, kept lean: QoS 0 to one client
                    if session is not None and not _may_read(session, message.topic):
                        return True
                    connection.send_qos0(message, message.retain and sub.retain_as_published)
                    return True
            ids: tuple[int, ...] = (sub.identifier,) if sub.identifier else ()
            self._deliver(sub.client_id, message, sub.qos, sub.retain_as_published, ids)
            return True
        # One copy per client: the highest granted QoS, every subscription identifier.
        targets: dict[str, tuple[int, bool, tuple[int, ...]]] = {}
        for sub in matches:
            if sub.no_local and sub.client_id == message.sender:
                continue
            ids = (sub.identifier,) if sub.identifier else ()
            known = targets.get(sub.client_id)
            if known is not None:
                qos, rap, known_ids = known
                ids = known_ids + ids
                sub_qos = max(qos, sub.qos)
                targets[sub.client_id] = (sub_qos, rap or sub.retain_as_published, ids)
            else:
                targets[sub.client_id] = (sub.qos, sub.retain_as_published, ids)
        for client_id, (qos, rap, all_ids) in targets.items():
            self._deliver(client_id, message, qos, rap, all_ids)
        return True

    def _deliver(
        self, client_id: str, message: Message, qos: int, rap: bool, ids: tuple[int, ...]
    ) -> None:
        session = self.sessions.get(client_id)
        if session is None or not _may_read(session, message.topic):
            return
        qos = min(qos, message.qos)
        delivery = Delivery(message, qos, message.retain and rap, ids)
        if qos and self.persistence is not None:
            self.persistence.touch(session)
        connection = session.connection
        if connection is not None:
            connection.deliver(delivery)
        elif qos and not session.enqueue(delivery):
            self.queue_overflow(session)

    def subscribe(self, connection: Connection, packet: Subscribe) -> None:
        """Add subscriptions, answer SUBACK, then send the retained messages they ask for.

        Retained messages are found lazily in the topic tree and sent a slice per turn of the
        event loop (`RetainedSender`), so a SUBSCRIBE that matches many never holds up others.
        """
        session = connection.session
        assert session is not None
        version = connection.version
        identifiers = packet.properties.subscription_identifiers
        identifier = identifiers[0] if identifiers else None
        codes: list[ReasonCode] = []
        wanted: list[tuple[str, int, tuple[int, ...]]] = []
        access = session.access
        for request in packet.subscriptions:
            topic_filter = request.topic_filter
            try:
                validate_topic_filter(topic_filter)
            except TopicError:
                codes.append(
                    ReasonCode.TOPIC_FILTER_INVALID
                    if version == 5
                    else ReasonCode.UNSPECIFIED_ERROR
                )
                continue
            shared = topic_filter.startswith(SHARE_PREFIX)
            if shared and request.no_local:
                connection.protocol_violation(
                    ReasonCode.PROTOCOL_ERROR, "No Local on a shared subscription"
                )
                return
            if access is not None and not access.can_subscribe(matched_filter(topic_filter)):
                # 3.1.1 has one failure code, 0x80, which is UNSPECIFIED_ERROR's value.
                codes.append(
                    ReasonCode.NOT_AUTHORIZED if version == 5 else ReasonCode.UNSPECIFIED_ERROR
                )
                log.info("refused subscription of %s to %r (ACL)", session.client_id, topic_filter)
                continue
            existed = topic_filter in session.subscriptions
            subscription = Subscription(
                session.client_id,
                topic_filter,
                request.qos,
                request.no_local,
                request.retain_as_published,
                int(request.retain_handling),
                identifier,
            )
            self.subscriptions.add(subscription)
            session.subscriptions[topic_filter] = subscription
            codes.append(ReasonCode(request.qos))
            handling = request.retain_handling
            if shared or handling == RetainHandling.DO_NOT_SEND:
                continue
            if handling == RetainHandling.SEND_IF_NEW_SUBSCRIPTION and existed:
                continue
            wanted.append((topic_filter, request.qos, (identifier,) if identifier else ()))
        connection.write(encode(SubAck(packet.packet_id, tuple(codes)), version))
        if wanted:
            RetainedSender(self.retained, connection, wanted).start()

    def unsubscribe(self, connection: Connection, packet: Unsubscribe) -> None:
        """Drop subscriptions and answer UNSUBACK."""
        session = connection.session
        assert session is not None
        codes: list[ReasonCode] = []
        for topic_filter in packet.topic_filters:
            if session.subscriptions.pop(topic_filter, None) is not None:
                self.subscriptions.remove(session.client_id, topic_filter)
                codes.append(ReasonCode.SUCCESS)
            else:
                codes.append(ReasonCode.NO_SUBSCRIPTION_EXISTED)
        connection.write(encode(UnsubAck(packet.packet_id, tuple(codes)), connection.version))

    def queue_overflow(self, session: Session) -> None:
        """A session's queue was full: count it, and say so in the log now and then."""
        self.stats.dropped += 1
        if session.dropped == 1 or session.dropped % 1000 == 0:
            log.warning(
                "queue of %s is full (%d messages): %d message(s) dropped so far",
                session.client_id,
                session.queue_limit,
                session.dropped,
            )


def _may_read(session: Session, topic: str) -> bool:
    access = session.access
    return access is None or access.can_read(topic)


class RetainedSender:
    """Sends one SUBSCRIBE's retained messages a slice at a time, yielding to the event loop.

    Each slice takes at most `SLICE_MESSAGES` messages or `SLICE_SECONDS`, so other clients
    wait at most that long, whatever the subscription matches. A client that reads slowly gets
    the rest as it reads (nothing is dropped for its slowness). It stops when the connection
    closes or leaves its session.
    """

    SLICE_MESSAGES = 500
    SLICE_SECONDS = 0.002

    def __init__(
        self,
        retained: RetainedStore,
        connection: Connection,
        wanted: list[tuple[str, int, tuple[int, ...]]],
    ) -> None:
        self.connection = connection
        self.session = connection.session
        self._pending = iter(
            (message, qos, ids)
            for topic_filter, qos, ids in wanted
            for message in retained.match_steps(topic_filter)
        )

    def start(self) -> None:
        """Send the first slice now, then the rest on later turns of the loop."""
        self._slice()

    def _slice(self) -> None:
        connection = self.connection
        session = self.session
        if connection.closing or session is None or connection.session is not session:
            return
        if not connection.has_room():
            connection.when_room(self._slice)  # a slow reader: go on when it has read
            return
        loop = connection.loop
        deadline = time.perf_counter() + self.SLICE_SECONDS
        for count, (message, qos, ids) in enumerate(self._pending, start=1):
            if message is None:  # a long search with nothing found yet
                pass
            elif _may_read(session, message.topic):
                connection.deliver(Delivery(message, min(message.qos, qos), True, ids))
            if not connection.has_room():
                connection.when_room(self._slice)
                return
            if count >= self.SLICE_MESSAGES or time.perf_counter() >= deadline:
                loop.call_soon(self._slice)
                return
