"""Running one TLS lesson for real: certificates, the bundled broker, a device, the relay.

Everything a lesson starts it stops before `run_lesson` returns (or raises), and a folder of
certificates it made is removed: the network the lesson was taken on is never changed, and
its own broker is left alone (the lesson's broker listens on a free loopback port).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from iotsim_tui.engine.events import (
    DeviceError,
    DeviceStatus,
    Event,
    LogLine,
    MessageIn,
    StatusChanged,
)
from iotsim_tui.errors import BrokerError, CaptureError, IotsimError
from iotsim_tui.lab.lessons import Lesson, check_network
from iotsim_tui.lab.lessons_seen import Seen, what_was_seen
from iotsim_tui.lab.setup_case import CaseSetup, lesson_device, set_up
from iotsim_tui.lab.setup_certs import (
    LessonCerts,
    LessonSetupError,
    make_temporary_folder,
    remove_folder,
)
from iotsim_tui.profiles.model import Network
from iotsim_tui.wiretap.loopback import LoopbackRelay
from iotsim_tui.wiretap.pcap import PcapSummary

if TYPE_CHECKING:
    from iotsim_tui.engine.simulation import Simulation

COMMAND = "Alert for High Temperature"
"""The command the broker console sends in the lessons where the device connects."""
OUTCOME_TIMEOUT = 20.0
"""Seconds a device may take to connect or be refused, on a loaded machine."""


@dataclass(frozen=True)
class LessonResult:
    """What a lesson showed: the three things, and where it ran."""

    lesson: Lesson
    reason: str
    """The device log's reason, in plain words (why it was refused, or what it did)."""
    device_log: tuple[str, ...]
    """The device's log lines during the lesson."""
    seen: tuple[Seen, ...]
    """What the eavesdrop relay saw."""
    refused: bool
    """True when the device was refused (with checks on, in the impostor lesson)."""
    as_expected: bool
    """True when the lesson showed what it is meant to: the refusal, or the command arriving
    (and, in the impostor lesson, both: read with checks off, refused with checks on)."""
    broker: tuple[str, int]
    """The lesson's broker (it is stopped by now)."""
    capture: PcapSummary | None
    seconds: float
    """From the start of the set-up to the result."""


async def run_lesson(
    lesson: Lesson,
    network: Network,
    *,
    certs: LessonCerts | None = None,
    certs_parent: Path | None = None,
    port: int = 0,
    pcap: Path | None = None,
    wait: float = OUTCOME_TIMEOUT,
) -> LessonResult:
    """Set `lesson` up on `network`'s first device, run it, take it down, and say what happened.

    Args:
        certs: Certificates to use (and keep); None makes them in a new folder under
            `certs_parent` (default: the system's temporary folder), removed afterwards.
        port: The lesson broker's port on loopback (0: a free one).
        pcap: Where to write what the relay saw.

    Raises:
        LessonRefused: the network's broker is not the bundled one on loopback, or TLS is off.
        LessonSetupError: the certificates, the broker or the relay could not be set up (a
            port taken, a folder not writable); whatever had started is stopped again.
    """
    check_network(network)
    started = time.monotonic()
    device = lesson_device(network)
    async with AsyncExitStack() as stack:
        if certs is None:
            folder = make_temporary_folder(certs_parent)
            stack.callback(remove_folder, folder)
            certs = LessonCerts(folder, device.client_id, (network.broker.host,))
        case = await _set_up(lesson, network, certs)
        address = await _start_broker(stack, case, port)
        relay = await _start_relay(stack, case, address)
        runs = [await _run_device(case, relay, address, verify=not case.impostor, wait=wait)]
        if case.impostor:  # the same impostor, now with the device's checks on
            runs.append(await _run_device(case, relay, address, verify=True, wait=wait))
        capture = relay.write_pcap(pcap) if pcap is not None else None
        log = tuple(line for run in runs for line in run.lines)
        seen = what_was_seen(
            relay.items(),
            relay.store.records(),
            impostor=case.impostor is not None,
            refused=lesson.refused,
        )
        return LessonResult(
            lesson,
            reason=" / ".join(run.reason for run in runs),
            device_log=log,
            seen=seen,
            refused=runs[-1].refused,
            as_expected=_as_expected(lesson, case, runs),
            broker=address,
            capture=capture,
            seconds=time.monotonic() - started,
        )
    raise AssertionError("unreachable")  # pragma: no cover (mypy: the stack may swallow)


async def _set_up(lesson: Lesson, network: Network, certs: LessonCerts) -> CaseSetup:
    """Make the lesson's certificates in a thread (key generation and fsync would hold the
    event loop); when cancelled, wait for the thread, so no file is written after its folder
    has been removed."""
    making = asyncio.ensure_future(asyncio.to_thread(set_up, lesson, network, certs))
    try:
        return await asyncio.shield(making)
    except asyncio.CancelledError:
        await asyncio.wait({making})
        if not making.cancelled():
            making.exception()  # read, so that a failure is not reported as never retrieved
        raise


async def _start_broker(stack: AsyncExitStack, case: CaseSetup, port: int) -> tuple[str, int]:
    from iotsim_tui.broker.process import BundledBroker

    launch = case.launch(port)
    broker = BundledBroker(launch)
    try:
        await broker.start()
    except BrokerError as error:
        raise LessonSetupError(f"the lesson's broker could not start: {error.message}") from None
    stack.push_async_callback(broker.stop)
    kind = "tls" if launch.tls_port is not None else "plain"
    return broker.listening[kind]


async def _start_relay(
    stack: AsyncExitStack, case: CaseSetup, address: tuple[str, int]
) -> LoopbackRelay:
    try:
        if case.impostor:
            from iotsim_tui.wiretap.impostor import Impostor

            impostor = Impostor(
                address,
                certificate=case.impostor.cert,
                key=case.impostor.key,
                broker_context=case.console_context(),
                server_name=case.host,
            )
            return await stack.enter_async_context(impostor)
        from iotsim_tui.wiretap.relay import Eavesdrop

        return await stack.enter_async_context(Eavesdrop(address))
    except CaptureError as error:
        raise LessonSetupError(f"the lesson's relay could not start: {error.message}") from None


@dataclass(frozen=True)
class _Run:
    reason: str
    lines: tuple[str, ...]
    refused: bool
    received: bool
    """The command the console sent reached the device."""


def _as_expected(lesson: Lesson, case: CaseSetup, runs: list[_Run]) -> bool:
    first = runs[0]
    if lesson.refused:
        return first.refused
    delivered = not first.refused and (first.received or not case.sends_command)
    if case.impostor:
        return delivered and len(runs) == 2 and runs[1].refused
    return delivered


async def _run_device(
    case: CaseSetup, relay: LoopbackRelay, address: tuple[str, int], *, verify: bool, wait: float
) -> _Run:
    from iotsim_tui.engine.simulation import Simulation

    network = case.device_network(address[1], verify=verify)
    device_id = case.device.id
    simulation = Simulation(network, endpoint=relay.endpoint)
    watch = _Watch(device_id)
    async with simulation:
        reader = asyncio.create_task(watch.read(simulation))
        try:
            await simulation.start()
            over = await watch.until(_attempt_over, wait)
            ended = over if isinstance(over, StatusChanged) else None
            refused = ended is None or ended.status is not DeviceStatus.CONNECTED
            if not refused and case.sends_command:
                await watch.until(_subscribed, wait)
                await _send_command(case, address)
                await watch.until(_received(case.topic), wait)
        finally:
            await simulation.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    await _settled(relay, wait)
    reason = _reason(watch, ended, case, verify=verify)
    received = _received(case.topic)(watch.events) is not None
    # The lesson's folder is gone once it ends: name its files by what they are instead.
    folder = f"{case.certs.directory}/"
    lines = tuple(line.replace(folder, "the lesson's ") for line in watch.lines)
    return _Run(reason.replace(folder, "the lesson's "), lines, refused, received)


def _reason(watch: _Watch, ended: StatusChanged | None, case: CaseSetup, *, verify: bool) -> str:
    if ended is None:
        return "no answer: the device neither connected nor was refused in time"
    detail = ended.detail
    if ended.status is DeviceStatus.RECONNECTING:
        detail = detail.split("; attempt")[0]
    prefix = "" if not case.impostor else ("checks off: " if not verify else "checks on: ")
    if ended.status is DeviceStatus.CONNECTED:
        got = [e for e in watch.events if isinstance(e, MessageIn)]
        if got:
            detail += f"; received {got[0].payload.decode('utf-8', 'replace')!r} on {got[0].topic}"
    return prefix + detail


async def _send_command(case: CaseSetup, address: tuple[str, int]) -> None:
    """Send the command as the broker console does: its own client, straight to the broker."""
    from iotsim_tui.engine.mqtt_client import Client, MqttError

    try:
        async with Client(
            address[0],
            address[1],
            identifier=f"lesson-console-{secrets.token_hex(3)}",
            username=case.username,
            password=case.password,
            tls_context=case.console_context() if case.tls else None,
            timeout=OUTCOME_TIMEOUT,
        ) as client:
            await client.publish(case.topic, COMMAND, qos=1)
    except MqttError as error:
        raise IotsimError(f"the lesson's console could not send the command: {error}") from None


async def _settled(relay: LoopbackRelay, wait: float) -> None:
    """Wait until the relay saw every connection end (the last alert or FIN is recorded)."""
    deadline = time.monotonic() + min(wait, 5.0)
    while any(r.ended is None for r in relay.store.records()):
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.02)


class _Watch:
    """The lesson device's events, and a way to wait for one."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.events: list[Event] = []
        self.lines: list[str] = []
        self._arrived = asyncio.Event()

    async def read(self, simulation: Simulation) -> None:
        """Keep the device's events until the simulation ends."""
        async for batch in simulation.events():
            for event in batch:
                if event.device_id == self.device_id:
                    self.events.append(event)
                    self.lines.append(log_line(event))
            self._arrived.set()

    async def until(
        self, found: Callable[[list[Event]], Event | None], wait: float
    ) -> Event | None:
        """The first event `found` picks, once it arrived; None after `wait` seconds."""
        deadline = time.monotonic() + wait
        while True:
            hit = found(self.events)
            if hit is not None:
                return hit
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)


def _attempt_over(events: list[Event]) -> Event | None:
    for event in events:
        if isinstance(event, StatusChanged) and event.status in (
            DeviceStatus.CONNECTED,
            DeviceStatus.ERROR,
            DeviceStatus.RECONNECTING,
        ):
            return event
    return None


def _subscribed(events: list[Event]) -> Event | None:
    return next((e for e in events if isinstance(e, LogLine) and "subscribed" in e.text), None)


def _received(topic: str) -> Callable[[list[Event]], Event | None]:
    def found(events: list[Event]) -> Event | None:
        return next((e for e in events if isinstance(e, MessageIn) and e.topic == topic), None)

    return found


def log_line(event: Event) -> str:
    """One event as the device log words it."""
    if isinstance(event, StatusChanged):
        return f"{event.status.value}: {event.detail}"
    if isinstance(event, LogLine):
        return event.text
    if isinstance(event, MessageIn):
        return f"← {event.topic}: {event.payload.decode('utf-8', 'replace')}"
    if isinstance(event, DeviceError):
        return f"error: {event.message}"
    return f"→ {event.topic}: {event.payload.decode('utf-8', 'replace')}"


__all__ = ["COMMAND", "LessonResult", "run_lesson"]
