"""Running a lab's steps headless: the bundled broker, the eavesdrop relay, the devices.

`LabRun` plays a profile's `[lab] steps` against a bundled broker it starts itself, on
loopback, on free ports: the profile's port (1883, or 8883 once TLS is on) is mapped to one
picked at run time, so that lab runs never fight over ports with each other or with the app.
The devices connect through an eavesdrop relay, as in the app, so the wire checks grade
what a sniffer would have seen. Certificates are generated into the run's own temporary
folder, never into the repository. Each step waits for what it started (devices connected
and subscribed, a command delivered) instead of for a fixed time.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable, Collection
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

from iotsim_tui.broker.launch import BrokerLaunch, bind_address
from iotsim_tui.broker.process import BundledBroker
from iotsim_tui.certs.authority import init_certs
from iotsim_tui.engine.console import BrokerConsole
from iotsim_tui.engine.events import DeviceStatus, Event, MessageIn
from iotsim_tui.engine.simulation import Simulation
from iotsim_tui.engine.views import Ledger
from iotsim_tui.errors import IotsimError, UsageError
from iotsim_tui.lab.checks import Grader, Verdict
from iotsim_tui.ports import free_port
from iotsim_tui.profiles.expand import devices_of
from iotsim_tui.profiles.lab_model import Step, StepAction
from iotsim_tui.profiles.model import Network, SubscribeOn
from iotsim_tui.protocol.topics import topic_matches
from iotsim_tui.wiretap.relay import Eavesdrop

START_TIMEOUT = 10.0
"""Seconds a start waits for its devices to connect and subscribe (or fail)."""
SEND_TIMEOUT = 5.0
"""Seconds a send waits for the command to reach the devices subscribed to its topic."""
CERTS_FOLDER = "certs"
NAMED_DEVICES = 5
"""A start of more devices than this says how many reached each status, not each one's."""


@dataclass(frozen=True, slots=True)
class StepDone:
    """What one step did, in plain words; `ok` is False when it could not do it."""

    number: int
    action: str
    text: str
    ok: bool = True


@dataclass(frozen=True, slots=True)
class LabResult:
    """The outcome of a lab run: each check's verdict and what each step did."""

    network: str
    verdicts: tuple[Verdict, ...]
    steps: tuple[StepDone, ...]
    seconds: float
    ports: dict[int, int] = field(default_factory=dict)
    """The profile's port -> the free port the bundled broker listened on instead."""

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(verdict.passed for verdict in self.verdicts)


def refuse_remote(network: Network) -> None:
    """Raise UsageError when the network's broker is not on this machine's loopback."""
    host = network.broker.host
    if not network.broker.is_local:
        raise UsageError(
            f"network {network.name!r} uses the broker at {host}, which is not this machine's "
            "loopback: a lab only runs against the bundled broker it starts on 127.0.0.1"
        )


class LabRun:
    """One headless run of a network's lab steps; `run()` returns the graded result.

    Args:
        network: The profile, with its `[lab]`.
        workdir: A private folder for this run (certificates go into it).
        say: Called with one line for each thing worth telling (ports, each step).
    """

    def __init__(self, network: Network, workdir: Path, say: Callable[[str], None]) -> None:
        refuse_remote(network)
        self.network = network
        self.workdir = workdir
        self.say = say
        self.grader = Grader(network.lab.checks)
        self.ports: dict[int, int] = {}
        """The profile's port -> the free port the bundled broker listens on instead."""
        self._bind = bind_address(network.broker.host)
        self._certs: Path | None = None
        self._broker: BundledBroker | None = None
        self._tap: Eavesdrop | None = None
        self._simulation: Simulation | None = None
        self._events: asyncio.Task[None] | None = None
        self._wire: asyncio.Task[None] | None = None
        self._running: set[str] = set()
        self._ledgers: dict[str, Ledger] = {}
        self._arrivals: dict[str, set[str]] = {}
        """Payload of a send step -> the devices it reached."""
        self._news = asyncio.Event()
        devices = devices_of(network)
        self._all_ids = [device.id for device in devices]
        self._on_start = {
            device.id: sum(s.on is SubscribeOn.START for s in device.subscribe)
            for device in devices
        }
        """Device id -> how many topics it subscribes to as soon as it is connected."""

    async def run(self) -> LabResult:
        """Run every step, then stop everything and grade the checks."""
        began = time.monotonic()
        done: list[StepDone] = []
        tap = Eavesdrop(self._target())
        await tap.start()
        self._tap = tap
        self._wire = asyncio.create_task(self._read_wire(tap))
        try:
            for number, step in enumerate(self.network.lab.steps, 1):
                try:
                    text = await self._do(step)
                    result = StepDone(number, step.do.value, text)
                except IotsimError as error:
                    result = StepDone(number, step.do.value, error.message, ok=False)
                done.append(result)
                mark = "" if result.ok else "could not: "
                self.say(f"step {number} {step.do.value}: {mark}{result.text}")
        finally:
            await self._close_simulation()
            await self._stop_broker()
            await tap.close()
            await self._wire
        verdicts = tuple(self.grader.verdicts(final=True))
        seconds = time.monotonic() - began
        return LabResult(self.network.name, verdicts, tuple(done), seconds, dict(self.ports))

    # -- steps -------------------------------------------------------------------------

    async def _do(self, step: Step) -> str:
        match step.do:
            case StepAction.START:
                return await self._start(step.devices or self._all_ids)
            case StepAction.STOP:
                return await self._stop(step.devices)
            case StepAction.WAIT:
                await asyncio.sleep(step.seconds or 0)
                return f"{step.seconds:g} s passed"
            case StepAction.SEND:
                return await self._send(step.topic or "", step.payload or "", step.qos)
            case StepAction.CERTIFICATES:
                return await self._certificates()
            case StepAction.TLS:
                return self._switch_tls(enabled=step.enabled)
            case StepAction.RESTART:
                return await self._restart()
            case StepAction.ATTACK:
                return await self._attack(step.attack or "", defence=step.defence)
        raise UsageError(f"unknown step {step.do!r}")

    async def _start(self, device_ids: Collection[str]) -> str:
        simulation = self._simulation
        if simulation is None:
            # A first start, or one after every device stopped: the settings as they are now.
            await self._start_broker()
            endpoint = self._tap.endpoint if self._tap is not None else None
            simulation = self._simulation = Simulation(self._device_network(), endpoint=endpoint)
            self.grader.use_settings(self.network.broker.tls)
            self._events = asyncio.create_task(self._read_events(simulation))
        await simulation.start(device_ids)
        self._running.update(device_ids)
        await self._until(lambda: all(self._settled(d) for d in device_ids), START_TIMEOUT)
        if len(device_ids) <= NAMED_DEVICES:
            return "; ".join(self._state_of(device_id) for device_id in device_ids)
        statuses = Counter(simulation.device(d).status.value for d in device_ids)
        return ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))

    def _settled(self, device_id: str) -> bool:
        assert self._simulation is not None
        view = self._simulation.device(device_id)
        if view.status is DeviceStatus.ERROR:
            return True
        if view.status is not DeviceStatus.CONNECTED:
            return False
        wanted = self._on_start.get(device_id, 0)
        return sum(s.since is not None for s in view.subscriptions) >= wanted

    def _state_of(self, device_id: str) -> str:
        assert self._simulation is not None
        view = self._simulation.device(device_id)
        detail = view.status_detail or view.status.value
        if view.status is DeviceStatus.CONNECTED:
            return f"{device_id} {detail}"
        return f"{device_id} {view.status.value}: {detail}"

    async def _stop(self, device_ids: Collection[str]) -> str:
        if not device_ids or set(device_ids) >= self._running:
            stopped = sorted(self._running)
            await self._close_simulation()
            return f"stopped {', '.join(stopped) or 'nothing'}"
        assert self._simulation is not None
        await self._simulation.stop(device_ids)
        self._running.difference_update(device_ids)
        return f"stopped {', '.join(device_ids)}"

    async def _send(self, topic: str, payload: str, qos: int) -> str:
        settings = self._device_network().broker
        settings = replace(settings, port=self._port(settings.effective_port))
        self._arrivals.setdefault(payload, set())
        console = BrokerConsole(settings, client_id=f"iotsim-lab-console-{os.getpid()}")
        async with console:
            await console.send(topic, payload, qos=qos)
        expected = self._subscribed_to(topic)
        arrived = self._arrivals[payload]
        await self._until(lambda: expected <= arrived, SEND_TIMEOUT)
        where = f"{topic} (QoS {qos})"
        if not expected:
            return f"sent {payload!r} on {where}; no running device is subscribed to it"
        missing = sorted(expected - arrived)
        if missing:
            late = _some(missing)
            return f"sent {payload!r} on {where}; not delivered to {late} in {SEND_TIMEOUT:g} s"
        return f"sent {payload!r} on {where}; delivered to {_some(sorted(expected))}"

    def _subscribed_to(self, topic: str) -> set[str]:
        simulation = self._simulation
        if simulation is None:
            return set()
        found = set()
        for device_id in self._running:
            view = simulation.device(device_id)
            if view.status is not DeviceStatus.CONNECTED:
                continue
            if any(topic_matches(s.topic_filter, topic) for s in view.subscriptions):
                found.add(device_id)
        return found

    async def _certificates(self) -> str:
        folder = self.workdir / CERTS_FOLDER
        await asyncio.to_thread(init_certs, folder, force=True)
        self._certs = folder
        return "a new CA and broker certificate, in the run's temporary folder"

    def _switch_tls(self, *, enabled: bool) -> str:
        broker = self.network.broker
        broker = replace(broker, tls=replace(broker.tls, enabled=enabled))
        self.network = replace(self.network, broker=broker)
        state = "on" if enabled else "off"
        port = broker.effective_port
        return f"TLS {state}: port {port} (127.0.0.1:{self._port(port)}) from the next start"

    async def _restart(self) -> str:
        running = sorted(self._running)
        await self._close_simulation()
        await self._stop_broker()
        await self._start_broker()
        if not running:
            return "the broker restarted"
        return "restarted: " + await self._start(running)

    async def _attack(self, name: str, *, defence: bool) -> str:
        from iotsim_tui.lab.attack_run import run_attack
        from iotsim_tui.lab.attacks import find_attack

        attack = find_attack(name)
        outcome = await run_attack(attack, self.network, defence=defence)
        self.grader.take_attack(outcome)
        state = "on" if defence else "off"
        return f"{name}, defence {attack.defence} {state}: {outcome.result}: {outcome.summary}"

    # -- the broker, the relay and the devices ------------------------------------------

    def _port(self, port: int) -> int:
        mapped = self.ports.get(port)
        if mapped is None:
            mapped = self.ports[port] = free_port(self._bind)
            self.say(
                f"the bundled broker uses free ports: the profile's port {port} is "
                f"{self._bind}:{mapped} in this run"
            )
        return mapped

    def _target(self) -> tuple[str, int]:
        return (self._bind, self._port(self.network.broker.effective_port))

    def _device_network(self) -> Network:
        """The network as its devices connect now: the run's CA once certificates exist."""
        broker = self.network.broker
        if self._certs is not None and broker.tls.enabled:
            ca = str(self._certs / "ca.crt")
            broker = replace(broker, tls=replace(broker.tls, ca=ca))
        return replace(self.network, broker=broker)

    def _launch(self) -> BrokerLaunch:
        """The bundled broker the network's settings ask for now, on the run's free ports."""
        tls = self.network.broker.tls
        port = self._target()[1]
        if not tls.enabled:
            return BrokerLaunch(bind=self._bind, plain_port=port)
        folder = self._certs
        if folder is None:
            folder = Path(tls.ca).parent if tls.ca else Path(CERTS_FOLDER)
        return BrokerLaunch(
            bind=self._bind,
            plain_port=None,
            tls_port=port,
            certs_dir=folder,
            require_client_cert=tls.cert is not None,
        )

    async def _start_broker(self) -> None:
        """Start the broker the settings ask for, unless it is the one running."""
        launch = self._launch()
        if self._broker is not None and self._broker.launch == launch:
            return
        await self._stop_broker()
        broker = BundledBroker(launch)
        await broker.start()
        self._broker = broker
        if self._tap is not None:
            self._tap.target = self._target()

    async def _stop_broker(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.stop()

    async def _close_simulation(self) -> None:
        simulation, self._simulation = self._simulation, None
        if simulation is None:
            return
        await simulation.stop()
        for view in simulation.devices():
            total = self._ledgers.get(view.id, Ledger()) + view.ledger
            self._ledgers[view.id] = total
            self.grader.take_ledger(view.id, total)
        await simulation.__aexit__(None, None, None)
        self._running.clear()
        if self._events is not None:
            await self._events
            self._events = None

    async def _read_events(self, simulation: Simulation) -> None:
        async for batch in simulation.events():
            self.grader.take_events(batch)
            self._note_arrivals(batch)
            self._news.set()

    def _note_arrivals(self, batch: list[Event]) -> None:
        for event in batch:
            if isinstance(event, MessageIn):
                reached = self._arrivals.get(event.payload.decode("utf-8", "replace"))
                if reached is not None:
                    reached.add(event.device_id)

    async def _read_wire(self, tap: Eavesdrop) -> None:
        async for item in tap.subscribe():
            self.grader.take_wire([item])
            self._news.set()

    async def _until(self, done: Callable[[], bool], seconds: float) -> None:
        """Wait until `done()` holds, looking again at each piece of news, or time runs out."""
        deadline = time.monotonic() + seconds
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._news.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), left)


def _some(device_ids: list[str]) -> str:
    """Device ids for a line of output: all of them when few, else the first and a count."""
    if len(device_ids) <= NAMED_DEVICES:
        return ", ".join(device_ids)
    return f"{', '.join(device_ids[:NAMED_DEVICES])} and {len(device_ids) - NAMED_DEVICES} more"
