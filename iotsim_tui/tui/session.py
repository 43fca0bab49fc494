"""The bridge between the app and the engine: open networks, their simulations, the broker.

Nothing here draws: the screens read `Session` and `OpenNetwork`, and run the coroutines
below in their workers. A network's simulation is built when it is first started and
rebuilt on the next start after its profile was edited, so edits apply on restart.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from iotsim_tui.engine.events import (
    DeviceStatus,
    Event,
    StatusChanged,
)
from iotsim_tui.engine.generators import device_topic
from iotsim_tui.errors import ConnectionFailed, ProfileError
from iotsim_tui.lab.checks import Grader, Verdict
from iotsim_tui.profiles.expand import devices_of
from iotsim_tui.profiles.model import Device, Network
from iotsim_tui.protocol.topics import has_wildcards
from iotsim_tui.runner.digest import LOG_KEPT, TOPICS_KEPT, Digest, History
from iotsim_tui.tui.brokers import AppBrokers
from iotsim_tui.tui.widgets.network_tree import DeviceLine
from iotsim_tui.tui.widgets.subscriptions import SubscriptionRow

if TYPE_CHECKING:
    # Imported where used, so that the first frame is not kept waiting for them.
    from iotsim_tui.broker.process import BundledBroker
    from iotsim_tui.runner.process import EngineProcess
    from iotsim_tui.wiretap import Eavesdrop, ItemFeed

NOTES_KEPT = 50
"""Lines of the app's own kept per device (a failed publish, ...), beside the engine's."""
EAVESDROP_MAX_DEVICES = 500
"""Larger networks connect straight to the broker: a relay would double their sockets."""


@dataclass
class DeviceRecord:
    """What the app keeps about one device between redraws."""

    device: Device
    status: DeviceStatus = DeviceStatus.STOPPED
    detail: str = ""
    received: int = 0
    sent: int = 0
    log: deque[Event] = field(default_factory=lambda: deque(maxlen=LOG_KEPT))
    """Recent events; complete for the device the simulation is told to watch (`History`)."""
    notes: deque[Event] = field(default_factory=lambda: deque(maxlen=NOTES_KEPT))
    """The app's own lines, kept when a `History` replaces the log."""

    def line(self) -> DeviceLine:
        """What the tree shows of it."""
        return DeviceLine(self.device.id, self.device.name, self.status)


class OpenNetwork:
    """One network open in the app: its profile, file, unsaved mark and simulation."""

    def __init__(self, key: str, network: Network, path: Path | None, *, dirty: bool) -> None:
        self.key = key
        self.network = network
        self.path = path
        self.dirty = dirty
        self.engine: EngineProcess | None = None
        """The simulation, running in a process of its own (None: not running)."""
        self.running: Network | None = None
        """The profile the simulation was built from (None: no simulation)."""
        self.records: dict[str, DeviceRecord] = {}
        self.topics_seen: set[str] = set()
        self.tap: Eavesdrop | None = None
        """The eavesdrop relay the devices connect through, while the network runs."""
        self.grader: Grader | None = None
        """Grades the profile's lab checks from what the network reports (None: no checks)."""
        self._wire: ItemFeed | None = None
        self.reach: Callable[[Network], Network] = lambda network: network
        """The network with its broker where it is reached (`AppBrokers.reached`)."""
        self._sync_records()
        self._sync_grader()

    @property
    def stale(self) -> bool:
        """True when the profile changed since the simulation was built: restart to apply.

        Devices added since do not count: they start in the running simulation.
        """
        if self.running is None or self.running == self.network:
            return False
        running = {device.id for device in self.running.devices}
        kept = tuple(d for d in self.network.devices if d.id in running)
        return replace(self.network, devices=kept) != self.running

    @property
    def active(self) -> bool:
        """True while any device is not stopped."""
        return any(r.status is not DeviceStatus.STOPPED for r in self.records.values())

    def apply(self, network: Network) -> None:
        """Take an edited profile; marks the network unsaved."""
        self.network = network
        self.dirty = True
        self._sync_records()
        self._sync_grader()

    def _sync_grader(self) -> None:
        checks = self.network.lab.checks
        if not checks:
            self.grader = None
        elif self.grader is None or self.grader.checks != checks:
            self.grader = Grader(checks)

    def checklist(self) -> list[Verdict]:
        """Where each lab check stands now ([] without checks).

        Takes in what the eavesdrop relay saw since the last call, and the ledger of the
        device the app watches (the app has no other device's ledger while it runs).
        """
        grader = self.grader
        if grader is None:
            return []
        if self._wire is None and self.tap is not None:
            self._wire = self.tap.subscribe()  # the recent items first
        if self._wire is not None:
            grader.take_wire(self._wire.drain())
        view = self.engine.view if self.engine is not None else None
        if view is not None:
            grader.take_ledger(view.id, view.ledger)
        return grader.verdicts()

    def lines(self) -> list[DeviceLine]:
        """The tree lines of every device, in the network's order."""
        return [record.line() for record in self.records.values()]

    def known_topics(self) -> set[str]:
        """Topics the publish prompt offers: subscriptions, telemetry and topics seen."""
        topics = set(self.topics_seen)
        for record in self.records.values():
            device = record.device
            topics.update(device_topic(s.topic, device) for s in device.subscribe)
            topics.update(device_topic(t.topic, device) for t in device.telemetry)
        return {topic for topic in topics if not has_wildcards(topic)}  # filters: not topics

    def subscription_rows(self, device_id: str) -> list[SubscriptionRow]:
        """The subscriptions table of one device: live when it runs, else from the profile."""
        view = self.engine.view if self.engine is not None else None
        if view is not None and view.id == device_id and view.subscriptions:
            return [
                SubscriptionRow(s.topic_filter, s.qos, s.since, s.count, s.last_payload)
                for s in view.subscriptions
            ]
        record = self.records.get(device_id)
        if record is None:
            return []
        return [SubscriptionRow(s.topic, s.qos, None, 0, None) for s in record.device.subscribe]

    def watch(self, device_id: str | None) -> None:
        """Ask the running simulation for this device's live view (the selected device)."""
        if self.engine is not None:
            self.engine.watch(device_id)

    def take_digest(self, digest: Digest) -> set[str]:
        """Fold a digest of the simulation in; returns the ids of devices whose status changed.

        Its work follows what changed: the devices in the digest, not all of them.
        """
        records = self.records
        changed: set[str] = set()
        if self.grader is not None:
            if self.running is not None:
                self.grader.use_settings(self.running.broker.tls)
            self.grader.take_events(digest.events)
            self.grader.take_events(digest.followed)
        for device_id, (status, detail) in digest.statuses.items():
            record = records.get(device_id)
            if record is not None:
                record.status, record.detail = status, detail
                changed.add(device_id)
        for device_id, (received, sent) in digest.counts.items():
            record = records.get(device_id)
            if record is not None:
                record.received += received
                record.sent += sent
        for topic in digest.topics:
            self._seen(topic)
        for event in digest.events:
            record = records.get(event.device_id)
            if record is not None:
                record.log.append(event)
        return changed

    def take_history(self, history: History) -> list[Event] | None:
        """Bring a device's log up to date with the events the simulation kept of it.

        Returns the events added at the end of the log when the history only extends it (the
        device was watched before), else None: the log was rebuilt. What the app has from
        before those events (an earlier run) stays above them, and the app's own lines keep
        their place in time.
        """
        record = self.records.get(history.device_id)
        if record is None or not history.events:
            return []
        if self.grader is not None:
            self.grader.take_events(history.events)
        added = history.extension_of(record.log)
        if added is not None:
            record.log.extend(added)
            return added
        record.log = deque(history.merged_with(record.log, record.notes), maxlen=LOG_KEPT)
        return None

    def note(self, device_id: str, event: Event) -> None:
        """Add a line of the app's own to a device's log (a failed publish, ...)."""
        record = self.records.get(device_id)
        if record is not None:
            record.log.append(event)
            record.notes.append(event)

    def all_stopped(self) -> None:
        """The simulation is gone: every device is stopped."""
        for record in self.records.values():
            if record.status is not DeviceStatus.STOPPED:
                record.status = DeviceStatus.STOPPED
                record.log.append(
                    StatusChanged(record.device.id, DeviceStatus.STOPPED, "", time.time())
                )

    async def ensure_tap(self) -> Eavesdrop | None:
        """The network's eavesdrop relay, started once and aimed at its broker as it is now.

        One relay for the network's whole life, so one capture holds a plain run and, after
        TLS is switched on and the network restarted, the TLS run. None for large networks.
        """
        if len(self.records) > EAVESDROP_MAX_DEVICES:
            return None
        broker = self.reach(self.network).broker
        target = (broker.host, broker.effective_port)
        if self.tap is None:
            from iotsim_tui.wiretap import Eavesdrop

            tap = Eavesdrop(target, key_log=broker.tls.key_log)
            await tap.start()
            self.tap = tap
        else:
            self.tap.target = target
            self.tap.key_log = broker.tls.key_log
        return self.tap

    async def run(
        self,
        device_ids: Collection[str] | None,
        on_news: Callable[[Digest | History], None],
        *,
        quitting: Callable[[], bool] = lambda: False,
    ) -> None:
        """Run the simulation, start devices, and feed its digests to `on_news`.

        Devices connect through the eavesdrop relay (see `ensure_tap`) unless the network is
        large. Runs until cancelled (the network is stopped or rebuilt); leaving stops every
        device (when `quitting()`, the simulation's process finishes that on its own).
        """
        from iotsim_tui.runner.process import EngineProcess

        network = self.network
        tap = await self.ensure_tap()
        self.engine = EngineProcess(self.reach(network), tap.endpoint if tap is not None else None)
        self.running = network
        try:
            await self.engine.run(device_ids, on_news, quitting=quitting)
        finally:
            self.engine = None
            self.running = None
            self.all_stopped()

    async def start(self, device_ids: Collection[str] | None) -> None:
        """Start devices of the running simulation (None: all)."""
        from iotsim_tui.runner.messages import Start

        ids = tuple(device_ids) if device_ids is not None else None
        await self._engine().call(Start(ids, self._added()))

    def _added(self) -> tuple[Device, ...]:
        """Devices added to the profile since the simulation was built from it."""
        if self.running is None:
            return ()
        running = {device.id for device in devices_of(self.running)}
        return tuple(r.device for r in self.records.values() if r.device.id not in running)

    async def stop(self, device_ids: Collection[str]) -> None:
        """Stop devices of the running simulation."""
        from iotsim_tui.runner.messages import Stop

        await self._engine().call(Stop(tuple(device_ids)))

    async def publish(
        self, device_id: str, topic: str, payload: str, *, qos: int, retain: bool
    ) -> None:
        """Publish by hand as a device of the running simulation."""
        from iotsim_tui.runner.messages import Publish

        await self._engine().call(Publish(device_id, topic, payload, qos, retain))

    async def subscribe(self, device_id: str, topic_filter: str, *, qos: int) -> None:
        """Subscribe a running device to a topic filter now."""
        from iotsim_tui.runner.messages import Subscribe

        await self._engine().call(Subscribe(device_id, topic_filter, qos))

    async def unsubscribe(self, device_id: str, topic_filter: str) -> None:
        """Unsubscribe a running device from a topic filter now."""
        from iotsim_tui.runner.messages import Unsubscribe

        await self._engine().call(Unsubscribe(device_id, topic_filter))

    def _engine(self) -> EngineProcess:
        if self.engine is None:
            raise ConnectionFailed(f"{self.network.name} is not running: start it first (S)")
        return self.engine

    async def close(self) -> None:
        """Stop the eavesdrop relay."""
        if self.tap is not None:
            await self.tap.close()
            self.tap = None
            self._wire = None

    def _seen(self, topic: str) -> None:
        if len(self.topics_seen) < TOPICS_KEPT:
            self.topics_seen.add(topic)

    def _sync_records(self) -> None:
        old = self.records
        self.records = {}
        for device in devices_of(self.network):
            record = old.get(device.id) or DeviceRecord(device)
            record.device = device
            self.records[device.id] = record


class Session:
    """Every open network, and the bundled brokers the app started for them."""

    def __init__(
        self,
        *,
        start_broker: bool = True,
        certs_dir: Path = Path("certs"),
        free_ports: bool = False,
    ) -> None:
        self.certs_dir = certs_dir
        self.networks: list[OpenNetwork] = []
        self.brokers = AppBrokers(enabled=start_broker, certs_dir=certs_dir, free_ports=free_ports)
        self._count = 0

    @property
    def dirty(self) -> list[OpenNetwork]:
        """Networks with unsaved changes."""
        return [n for n in self.networks if n.dirty]

    def add(
        self, network: Network, path: Path | None = None, *, dirty: bool = False
    ) -> OpenNetwork:
        """Open a network that is already in memory."""
        self._count += 1
        opened = OpenNetwork(f"n{self._count}", network, path, dirty=dirty)
        opened.reach = self.brokers.reached
        self.networks.append(opened)
        return opened

    def open(self, path: Path) -> OpenNetwork:
        """Open a profile file; raises ProfileError (every problem, with file and line)."""
        from iotsim_tui.profiles.load import load_network

        for opened in self.networks:
            if opened.path is not None and opened.path.resolve() == path.resolve():
                return opened
        return self.add(load_network(path), path)

    def save(self, opened: OpenNetwork, path: Path | None = None) -> Path:
        """Save a network (atomically) to its file or to `path`; returns where."""
        from iotsim_tui.profiles.save import save_network

        target = path or opened.path
        if target is None:
            raise ProfileError("this network has no file yet: use save as (W)", title="Not saved")
        save_network(opened.network, target)
        opened.path = target
        opened.dirty = False
        return target

    def find(self, key: str) -> OpenNetwork | None:
        """The open network with this key."""
        return next((n for n in self.networks if n.key == key), None)

    async def ensure_broker(self, network: Network) -> BundledBroker | None:
        """Start (or restart) the bundled broker this network needs; see `AppBrokers.ensure`."""
        in_use = [opened.network for opened in self.networks if opened.active]
        return await self.brokers.ensure(network, in_use=in_use)

    async def forget_broker_state(self, network: Network) -> BundledBroker | None:
        """Delete the bundled broker's saved state; see `AppBrokers.forget_state`."""
        in_use = [opened.network for opened in self.networks if opened.active]
        return await self.brokers.forget_state(network, in_use=in_use)

    async def close(self) -> None:
        """Stop every eavesdrop relay and bundled broker the app started."""
        for opened in self.networks:
            await opened.close()
        await self.brokers.stop_all()
