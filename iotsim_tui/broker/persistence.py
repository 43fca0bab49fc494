"""Durable state: persistent sessions and retained messages written to the broker's data file.

Modes (config `persistence`): "off" keeps everything in memory; "periodic" writes what changed
every `autosave_interval` seconds, like mosquitto's autosave; "sync" acknowledges a QoS 1/2
PUBLISH (PUBACK, PUBREC) only once what it changed is on disk. Sync commits in groups: every
change made during one turn of the event loop, and during the write before it, goes to disk
with one fsync.

What is written: sessions that outlive their connection (3.1.1 clean session 0, 5.0 session
expiry), with their subscriptions, their queued and in-flight QoS 1/2 messages (packet ids, and
whether PUBREL was sent), the QoS 2 packet ids awaiting PUBREL, and a pending delayed will; and
retained messages. The broker says which sessions may have changed (`touch`) and which ended;
at each commit the changed sessions are compared with what the file holds, and only the
difference is appended (`store_log.py`). When the file has grown to twice its last full
rewrite, it is rewritten with the current state alone (compaction).

Records, as tuples (mno: message number, dno: delivery number):
    ("S", client_id, expiry_interval, expires_at_wall | None, subscriptions, awaiting, will)
    ("E", client_id)                                       the session ended
    ("M", mno, topic, payload, qos, retain, properties, expires_at_wall | None, sender)
    ("Q", client_id, dno, mno, qos, retain, subscription_ids, packet_id, released)
    ("P", client_id, dno, packet_id, released)             sent (packet id), or PUBREL sent
    ("D", client_id, dno)                                  acknowledged, expired or dropped
    ("R", topic, mno) / ("r", topic)                       retained message set / cleared
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from itertools import islice
from typing import TYPE_CHECKING, Any

from iotsim_tui.broker.persist_load import Loaded, Track, install, session_meta
from iotsim_tui.broker.store_log import Damage, LogFile, Record, encode_batch, keep_aside
from iotsim_tui.broker.wire import Message
from iotsim_tui.errors import BrokerError

if TYPE_CHECKING:
    from iotsim_tui.broker.outbox import Outbox
    from iotsim_tui.broker.server import Broker
    from iotsim_tui.broker.sessions import Delivery, Session

log = logging.getLogger("iotsim_tui.broker")

MODES = ("off", "periodic", "sync")
COMPACT_AT = 256 * 1024
"""The data file is rewritten once it is over this size and twice its size after the last
rewrite (or at start)."""
_SNAPSHOT_BATCH = 2000


class Persistence:
    """Writes the broker's durable state; `open` reads it back into the broker first."""

    def __init__(self, broker: Broker) -> None:
        config = broker.config
        assert config.persistence_location is not None
        self.broker = broker
        self.mode = config.persistence
        self.sync = self.mode == "sync"
        self.interval = config.autosave_interval
        self.file = LogFile(config.persistence_location)
        self.damage: Damage | None = None
        """What was wrong with the data file at start, if anything."""
        self.commits = 0
        self.tracks: dict[str, Track] = {}
        self.messages: dict[int, list[Any]] = {}
        """id(message) -> [message, mno, references] for every message the file holds."""
        self.retained: dict[str, Message] = {}
        """The retained messages the file holds, by topic."""
        self.next_mno = 0
        self.next_dno = 0
        self.loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="broker-state")
        self._dirty: set[Session] = set()
        self._ended: list[Record] = []
        self._retained_changes: dict[str, Message | None] = {}
        self._acks: list[tuple[Outbox, bytes]] = []
        self._scheduled = False
        self._writing: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._snapshot_size = 0
        self._failing = False
        self._closed = False

    # -- start --------------------------------------------------------------------------------

    async def open(self) -> None:
        """Read the data file into the broker (sessions, retained), then start writing."""
        started = time.perf_counter()
        try:
            self.file.lock()
            data = await self.loop.run_in_executor(self._executor, self.file.read)
        except OSError as error:
            raise BrokerError(
                f"cannot use the data folder {self.file.folder}: {error.strerror or error}"
            ) from None
        loaded = Loaded()
        damaged = loaded.read(data)
        install(self, loaded)
        if damaged is not None:
            offset, why = damaged
            kept = keep_aside(self.file.path)
            self.damage = Damage(self.file.path, offset, len(data), kept, why)
            log.warning("%s", self.damage.describe())
        await self.loop.run_in_executor(self._executor, self.file.open)
        if damaged is not None:
            batches = self._snapshot()
            await self.loop.run_in_executor(self._executor, self.file.rewrite, batches)
        else:
            self._snapshot_size = self.file.size
        log.info(
            "state restored from %s in %.2f s: %d session(s), %d queued or in-flight "
            "message(s), %d retained message(s); persistence %s",
            self.file.path,
            time.perf_counter() - started,
            len(self.tracks),
            sum(len(track) for track in self.tracks.values()),
            len(self.retained),
            self.mode if self.sync else f"{self.mode}, every {self.interval:g} s",
        )
        if not self.sync:
            self._timer = self.loop.call_later(self.interval, self._tick)

    # -- what the broker tells us -------------------------------------------------------------

    def touch(self, session: Session) -> None:
        """`session` may have changed: compare it with the file at the next commit."""
        self._dirty.add(session)
        if self.sync and not self._scheduled:
            self._schedule()

    def ended(self, session: Session) -> None:
        """`session` is over: its record goes at the next commit."""
        self._dirty.discard(session)
        track = self.tracks.get(session.client_id)
        if track is not None and track.session is session:
            self._forget(session.client_id, track, self._ended)
            if self.sync and not self._scheduled:
                self._schedule()

    def retain(self, message: Message) -> None:
        """A retained message was set (or cleared, with an empty payload)."""
        if message.topic.startswith("$SYS"):
            return  # the broker's own statistics: written afresh after a restart
        self._retained_changes[message.topic] = message if message.payload else None
        if self.sync and not self._scheduled:
            self._schedule()

    def after_commit(self, outbox: Outbox, data: bytes) -> None:
        """Send `data` (an acknowledgement) to `outbox` once the current changes are on disk."""
        self._acks.append((outbox, data))
        if not self._scheduled:
            self._schedule()

    # -- committing ---------------------------------------------------------------------------

    def _schedule(self) -> None:
        self._scheduled = True
        self.loop.call_soon(self.commit)

    def _tick(self) -> None:
        self._timer = self.loop.call_later(self.interval, self._tick)
        self.commit()

    def commit(self) -> None:
        """Write what changed since the last commit, on the writer thread."""
        self._scheduled = False
        if self._writing is not None or self._closed:
            return  # the write in progress picks the changes up when it ends
        acks = self._acks
        self._acks = []
        try:
            if self.file.size > max(COMPACT_AT, 2 * self._snapshot_size):
                job = partial(self.file.rewrite, self._snapshot())
            else:
                records = self._collect()
                if not records:
                    self._release(acks)
                    return
                job = partial(self.file.append, encode_batch(records))
        except Exception:
            # A bug here must not hold acknowledgements back for ever: say so, carry on.
            log.exception("could not gather the broker's state to write to %s", self.file.path)
            self._release(acks)
            return
        writing = self.loop.run_in_executor(self._executor, job)
        self._writing = writing
        writing.add_done_callback(partial(self._written, acks))

    def _written(self, acks: list[tuple[Outbox, bytes]], future: asyncio.Future[None]) -> None:
        self._writing = None
        self.commits += 1
        error = None if future.cancelled() else future.exception()
        if error is not None:
            if not self._failing:
                log.error(
                    "cannot write the broker's state to %s: %s; messages are acknowledged "
                    "without being on disk until writing works again",
                    self.file.path,
                    error,
                )
            self._failing = True
        elif self._failing:
            log.warning("writing the broker's state to %s works again", self.file.path)
            self._failing = False
        self._release(acks)
        if self._acks or (self.sync and (self._dirty or self._ended or self._retained_changes)):
            self._schedule()

    @staticmethod
    def _release(acks: list[tuple[Outbox, bytes]]) -> None:
        for outbox, data in acks:
            outbox.write(data)

    def _collect(self) -> list[Record]:
        records = self._ended
        self._ended = []
        if self._retained_changes:
            self._collect_retained(records)
        dirty = self._dirty
        self._dirty = set()
        sessions = self.broker.sessions
        for session in dirty:
            if sessions.get(session.client_id) is session:
                self._diff(session, records)
        return records

    def _collect_retained(self, records: list[Record]) -> None:
        changes = self._retained_changes
        self._retained_changes = {}
        for topic, message in changes.items():
            old = self.retained.get(topic)
            if old is message:
                continue
            if old is not None:
                self.unref(old)
            if message is None:
                if old is not None:
                    del self.retained[topic]
                    records.append(("r", topic))
                continue
            self.retained[topic] = message
            records.append(("R", topic, self._ref(message, records)))

    def _diff(self, session: Session, records: list[Record]) -> None:
        """Append the records that bring the file's view of `session` up to date."""
        client_id = session.client_id
        track = self.tracks.get(client_id)
        if track is not None and (track.session is not session or not session.expiry_interval):
            self._forget(client_id, track, records)
            track = None
        if not session.expiry_interval:
            return  # ends with its connection: nothing to keep
        if track is None:
            track = self.tracks[client_id] = Track(session)
        meta = session_meta(session)
        if meta != track.meta:
            track.meta = meta
            records.append(self._session_record(session))
        inflight = {id(delivery): delivery for delivery in session.inflight.values()}
        self._diff_queue(client_id, track, session.queue, inflight, records)
        known = track.inflight
        for key in [key for key in known if key not in inflight]:
            gone = known.pop(key)
            records.append(("D", client_id, gone[1]))
            self.unref(gone[0].message)
        for packet_id, delivery in session.inflight.items():
            entry = known.get(id(delivery))
            if entry is None:
                known[id(delivery)] = self._new_delivery(client_id, delivery, packet_id, records)
            elif entry[2] != packet_id or entry[3] != delivery.released:
                entry[2] = packet_id
                entry[3] = delivery.released
                records.append(("P", client_id, entry[1], packet_id, delivery.released))

    def _diff_queue(
        self,
        client_id: str,
        track: Track,
        queue: deque[Delivery],
        inflight: dict[int, Delivery],
        records: list[Record],
    ) -> None:
        mirror = track.queued
        # What left the front of the queue was sent (now in flight) or dropped.
        while mirror and (not queue or mirror[0][0] is not queue[0]):
            self._left_queue(client_id, track, mirror.popleft(), inflight, records)
        known = len(mirror)
        if known > len(queue) or (known and queue[known - 1] is not mirror[-1][0]):
            # Changed elsewhere than at its ends: compare it whole.
            present = {id(delivery) for delivery in queue}
            entries = {}
            for entry in mirror:
                if id(entry[0]) in present:
                    entries[id(entry[0])] = entry
                else:
                    self._left_queue(client_id, track, entry, inflight, records)
            mirror.clear()
            for delivery in queue:
                found = entries.get(id(delivery))
                if found is None:
                    found = self._new_delivery(client_id, delivery, 0, records)
                mirror.append(found)
            return
        added = list(islice(reversed(queue), len(queue) - known))
        for delivery in reversed(added):
            mirror.append(self._new_delivery(client_id, delivery, 0, records))

    def _left_queue(
        self,
        client_id: str,
        track: Track,
        entry: list[Any],
        inflight: dict[int, Delivery],
        records: list[Record],
    ) -> None:
        if id(entry[0]) in inflight:
            track.inflight[id(entry[0])] = entry  # its packet id is written with the in-flight
        else:
            records.append(("D", client_id, entry[1]))
            self.unref(entry[0].message)

    def _new_delivery(
        self, client_id: str, delivery: Delivery, packet_id: int, records: list[Record]
    ) -> list[Any]:
        mno = self._ref(delivery.message, records)
        self.next_dno += 1
        records.append(
            (
                "Q",
                client_id,
                self.next_dno,
                mno,
                delivery.qos,
                delivery.retain,
                delivery.subscription_ids,
                packet_id,
                delivery.released,
            )
        )
        return [delivery, self.next_dno, packet_id, delivery.released]

    def _forget(self, client_id: str, track: Track, records: list[Record]) -> None:
        records.append(("E", client_id))
        for entry in track.entries():
            self.unref(entry[0].message)
        del self.tracks[client_id]

    def _session_record(self, session: Session) -> Record:
        wall = time.time() - self.loop.time()
        expires = None
        if session.expiry_timer is not None:
            expires = wall + session.expiry_timer.when()
        will = None
        if session.pending_will is not None:
            message = session.pending_will
            due = None if session.will_timer is None else wall + session.will_timer.when()
            will = (
                message.topic,
                message.payload,
                message.qos,
                message.retain,
                message.properties,
                message.expires_at,  # a will's expiry interval, not yet counting
                message.sender,
                due,
            )
        subscriptions = [
            (
                sub.topic_filter,
                sub.qos,
                sub.no_local,
                sub.retain_as_published,
                sub.retain_handling,
                sub.identifier,
            )
            for sub in session.subscriptions.values()
        ]
        return (
            "S",
            session.client_id,
            session.expiry_interval,
            expires,
            subscriptions,
            sorted(session.awaiting_release),
            will,
        )

    def _ref(self, message: Message, records: list[Record]) -> int:
        """The message's number in the file, writing it there first if it is new."""
        entry = self.messages.get(id(message))
        if entry is None:
            self.next_mno += 1
            entry = self.messages[id(message)] = [message, self.next_mno, 0]
            expires = None
            if message.expires_at is not None:
                expires = time.time() + message.expires_at - self.loop.time()
            records.append(
                (
                    "M",
                    self.next_mno,
                    message.topic,
                    message.payload,
                    message.qos,
                    message.retain,
                    message.properties,
                    expires,
                    message.sender,
                )
            )
        entry[2] += 1
        return int(entry[1])

    def unref(self, message: Message) -> None:
        """One reference fewer to a message in the file; forgotten at zero."""
        entry = self.messages.get(id(message))
        if entry is not None:
            entry[2] -= 1
            if entry[2] <= 0:
                del self.messages[id(message)]

    def _snapshot(self) -> list[bytes]:
        """The whole state as batches for a fresh file; what the file holds is now that."""
        if self._retained_changes:
            self._collect_retained([])
        retained = self.retained
        self.tracks.clear()
        self.messages.clear()
        self.retained = {}
        self._dirty.clear()
        self._ended.clear()
        records: list[Record] = []
        now = self.loop.time()
        for topic, message in retained.items():
            if not message.expired(now):
                self.retained[topic] = message
                records.append(("R", topic, self._ref(message, records)))
        for session in list(self.broker.sessions.values()):
            self._diff(session, records)
        batches = [
            encode_batch(records[start : start + _SNAPSHOT_BATCH])
            for start in range(0, len(records), _SNAPSHOT_BATCH)
        ]
        self._snapshot_size = sum(len(batch) for batch in batches)
        return batches

    # -- stop ---------------------------------------------------------------------------------

    async def close(self) -> None:
        """Write what is left and close the file (the broker is stopping)."""
        if self._closed:
            return
        if self._timer is not None:
            self._timer.cancel()
        while self._writing is not None:
            await asyncio.shield(self._writing)
            await asyncio.sleep(0)  # let its done callback run
        acks = self._acks
        self._acks = []
        records = self._collect()
        self._closed = True
        if records:
            data = encode_batch(records)
            try:
                await self.loop.run_in_executor(self._executor, self.file.append, data)
            except OSError as error:
                log.error("cannot write the broker's state to %s: %s", self.file.path, error)
        self._release(acks)
        self.file.close()
        self._executor.shutdown(wait=True)
