"""Reading the broker's data file back: the records replayed, then the state put into the broker;
and `Track`, what the file holds about one session.

Times in the file are wall-clock times (the broker's own clock is monotonic and starts again
with each process), so a session's expiry and a delayed will count the time the broker was
down: a session that expired meanwhile ends at start, publishing its will.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from iotsim_tui.broker.sessions import Delivery, Session
from iotsim_tui.broker.store_log import Record, read_batches
from iotsim_tui.broker.subscriptions import Subscription
from iotsim_tui.broker.wire import Message

if TYPE_CHECKING:
    from iotsim_tui.broker.persistence import Persistence


class Track:
    """What the data file holds about one session.

    A delivery's entry is [delivery, dno, packet_id, released]. The queue is mirrored in order,
    so that a commit compares only its ends with the session's queue: messages leave a queue at
    the front (sent, or expired) and join it at the back.
    """

    __slots__ = ("inflight", "meta", "queued", "session")

    def __init__(self, session: Session) -> None:
        self.session = session
        self.meta: tuple[Any, ...] | None = None
        self.inflight: dict[int, list[Any]] = {}
        """id(delivery) -> entry, for the deliveries sent and not yet acknowledged."""
        self.queued: deque[list[Any]] = deque()
        """The entries of the queued deliveries, in the session's queue order."""

    def __len__(self) -> int:
        return len(self.inflight) + len(self.queued)

    def entries(self) -> Iterator[list[Any]]:
        """Every delivery entry."""
        yield from self.inflight.values()
        yield from self.queued


def session_meta(session: Session) -> tuple[Any, ...]:
    """What a session record depends on, cheap to compare with the last one written."""
    return (
        session.expiry_interval,
        session.expiry_timer,
        tuple(session.subscriptions.values()),
        tuple(sorted(session.awaiting_release)),
        session.pending_will,
        session.will_timer,
    )


class Loaded:
    """The state the records of a data file add up to."""

    def __init__(self) -> None:
        self.sessions: dict[str, tuple[Any, ...]] = {}
        self.deliveries: dict[str, dict[int, list[Any]]] = {}
        self.messages: dict[int, tuple[Any, ...]] = {}
        self.retained: dict[str, int] = {}

    def read(self, data: bytes) -> tuple[int, str] | None:
        """Replay every good batch of `data`; (offset, why) of the first bad one, if any."""
        if not data:
            return None
        for offset, batch in read_batches(data):
            if isinstance(batch, str):
                return offset, batch
            try:
                for record in batch:
                    self.apply(record)
            except (ValueError, TypeError, KeyError, IndexError):
                return offset, "a batch holds a record that makes no sense"
        return None

    def apply(self, record: Record) -> None:
        """Replay one record; errors (KeyError, ValueError, ...) mean the data is damaged."""
        kind = record[0]
        if kind == "Q":
            _, client_id, dno, mno, qos, retain, ids, packet_id, released = record
            self.deliveries[client_id][dno] = [mno, qos, retain, ids, packet_id, released]
        elif kind == "P":
            _, client_id, dno, packet_id, released = record
            entry = self.deliveries[client_id][dno]
            entry[4] = packet_id
            entry[5] = released
        elif kind == "D":
            del self.deliveries[record[1]][record[2]]
        elif kind == "M":
            self.messages[record[1]] = tuple(record[2:9])
        elif kind == "S":
            _, client_id, expiry, expires, subscriptions, awaiting, will = record
            self.sessions[client_id] = (expiry, expires, subscriptions, awaiting, will)
            self.deliveries.setdefault(client_id, {})
        elif kind == "E":
            self.sessions.pop(record[1], None)
            self.deliveries.pop(record[1], None)
        elif kind == "R":
            self.retained[record[1]] = record[2]
        elif kind == "r":
            self.retained.pop(record[1], None)
        else:
            raise ValueError(f"unknown record {kind!r}")


def install(persistence: Persistence, loaded: Loaded) -> None:
    """Put the loaded sessions and retained messages into the broker, with their timers."""
    broker = persistence.broker
    loop = persistence.loop
    now_wall = time.time()
    now = loop.time()
    built: dict[int, Message] = {}
    persistence.next_mno = max(loaded.messages, default=0)
    persistence.next_dno = max(
        (max(found, default=0) for found in loaded.deliveries.values()), default=0
    )

    def message(mno: int) -> Message:
        found = built.get(mno)
        if found is None:
            topic, payload, qos, retain, properties, expires, sender = loaded.messages[mno]
            monotonic = None if expires is None else now + expires - now_wall
            found = built[mno] = Message(topic, payload, qos, retain, properties, monotonic, sender)
            persistence.messages[id(found)] = [found, mno, 0]
        persistence.messages[id(found)][2] += 1
        return found

    for topic, mno in loaded.retained.items():
        if mno not in loaded.messages:
            continue
        retained = message(mno)
        if retained.expired(now):
            persistence.unref(retained)
            continue
        broker.retained.store(retained)
        persistence.retained[topic] = retained

    queue_limit = broker.config.max_queued_messages
    for client_id, (expiry, expires, subscriptions, awaiting, will) in loaded.sessions.items():
        session = Session(client_id, queue_limit)
        session.expiry_interval = expiry
        for topic_filter, qos, no_local, rap, handling, identifier in subscriptions:
            subscription = Subscription(
                client_id, topic_filter, qos, no_local, rap, handling, identifier
            )
            session.subscriptions[topic_filter] = subscription
            broker.subscriptions.add(subscription)
        if awaiting:
            session.awaiting_release.update(awaiting)
        track = Track(session)
        deliveries = loaded.deliveries.get(client_id, {})
        for dno in sorted(deliveries):
            mno, qos, retain, ids, packet_id, released = deliveries[dno]
            if mno not in loaded.messages:
                continue
            delivery = Delivery(message(mno), qos, retain, tuple(ids), released)
            entry = [delivery, dno, packet_id, released]
            if packet_id:
                session.inflight[packet_id] = delivery
                track.inflight[id(delivery)] = entry
            else:
                session.queue.append(delivery)
                track.queued.append(entry)
        # Connected when the broker stopped: the session's expiry starts now.
        remaining = expiry if expires is None else expires - now_wall
        session.expiry_timer = loop.call_later(
            max(0.0, remaining),
            broker._expire_session,
            session,
        )
        if will is not None:
            topic, payload, qos, retain, properties, will_expiry, sender, due = will
            session.pending_will = Message(
                topic, payload, qos, retain, properties, will_expiry, sender
            )
            delay = remaining if due is None else due - now_wall
            session.will_timer = loop.call_later(
                max(0.0, delay),
                broker._delayed_will,
                session,
            )
        # A session connected when the broker stopped is written again with its expiry time.
        track.meta = session_meta(session) if expires is not None else None
        persistence.tracks[client_id] = track
        broker.sessions[client_id] = session
        if track.meta is None:
            persistence.touch(session)
