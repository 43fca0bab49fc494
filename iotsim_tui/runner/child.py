"""The child's side of `engine_process`: the simulation, answering the app over its pipes.

Runs in the process the fork server makes for one network. It stops every device the orderly
way when the app says leave, when the app's pipe ends (the app is gone), or on SIGTERM; if
its loop were stuck, a watch thread ends the process a bounded time after the app is gone.
Nothing here imports textual: the fork server preloads this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import copyreg
import dataclasses
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from iotsim_tui.engine.events import (
    DeviceError,
    LogLine,
    MessageIn,
    MessageOut,
    StatusChanged,
)
from iotsim_tui.errors import ConnectionFailed
from iotsim_tui.runner.digest import DIGEST_SECONDS, Digester
from iotsim_tui.runner.messages import (
    LEAVE_SECONDS,
    VIEW_SECONDS,
    Call,
    Ended,
    Failure,
    Leave,
    Publish,
    Reply,
    Start,
    Stop,
    Unsubscribe,
    Viewed,
    Watch,
)

if TYPE_CHECKING:
    from iotsim_tui.engine import DeviceView, Simulation
    from iotsim_tui.profiles.model import Network


def serve(
    network: Network,
    endpoint: tuple[str, int] | None,
    device_ids: tuple[str, ...] | None,
    watched: str | None,
    requests: Connection,
    replies: Connection,
) -> None:
    """The child process: run the simulation until the app says leave or is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the app's to handle
    with contextlib.suppress(OSError):
        # A session of its own, like the bundled broker's: where Linux shares the CPU between
        # sessions (autogroup), the simulation's work then no longer comes out of the app's
        # share, and a keypress waits less behind it.
        os.setsid()
    _yield_to_the_app()
    if os.isatty(2):
        # The terminal's screen is the app's: a stray warning here would scribble on it.
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
            os.dup2(devnull.fileno(), 2)
    exit_after_app()
    _pickle_events_by_constructor()
    outbox = _Outbox(replies)
    try:
        asyncio.run(_simulate(network, endpoint, device_ids, watched, requests, outbox))
    finally:
        outbox.close()


SIMULATION_NICE = 5
"""How much the simulation gives way to the app when both want the CPU."""


def _yield_to_the_app() -> None:
    """Lower the simulation's CPU priority below the app's, which answers the user's keys.

    A thousand devices use a small share of a core, and get it whenever the app idles; but
    when both are ready to run (on a busy machine, the moment a key arrives), the key goes
    first. With autogroup, Linux weighs sessions against each other, so the session's weight
    is lowered (allowed to any user); without it, the process's nice value does it.
    """
    with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as autogroup:
        autogroup.write(str(SIMULATION_NICE))
    with contextlib.suppress(OSError):
        os.nice(SIMULATION_NICE)


def _pickle_events_by_constructor() -> None:
    """Pickle events as a call of their class with their fields, in this process.

    The default for a frozen dataclass with slots restores each field through Python-level
    `__setstate__` and `dataclasses.fields()`; a constructor call unpickles about a third
    faster, and the app unpickles a thousand events a second under load.
    """
    for kind in (StatusChanged, LogLine, MessageIn, MessageOut, DeviceError):
        names = tuple(field.name for field in dataclasses.fields(kind))

        def reduce(event: object, names: tuple[str, ...] = names) -> tuple[type, tuple[Any, ...]]:
            return type(event), tuple(getattr(event, name) for name in names)

        copyreg.pickle(kind, reduce)


def exit_after_app() -> None:
    """Exit at the latest LEAVE_SECONDS after the app is gone, even if the loop is stuck."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        # The loop saw its pipe end too and is stopping devices the orderly way.
        threading.Event().wait(LEAVE_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="app watch", daemon=True).start()


class _Outbox:
    """Sends to the app from one thread, so a full pipe never blocks the simulation's loop."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="to the app")
        self.gone = False
        """True once the app stopped listening."""

    async def send(self, said: object) -> None:
        """Send and wait until it is on its way (so batches pile up in the bus meanwhile)."""
        if not self.gone:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._write, said)

    def post(self, said: object) -> None:
        """Send without waiting, in order with everything else."""
        if not self.gone:
            self._thread.submit(self._write, said)

    def _write(self, said: object) -> None:
        try:
            self._connection.send(said)
        except (OSError, ValueError):
            self.gone = True

    def close(self) -> None:
        """Send what is queued, then close the pipe."""
        self._thread.shutdown(wait=True)
        self._connection.close()


async def _simulate(
    network: Network,
    endpoint: tuple[str, int] | None,
    device_ids: tuple[str, ...] | None,
    watched: str | None,
    requests: Connection,
    outbox: _Outbox,
) -> None:
    from iotsim_tui.engine import Simulation

    loop = asyncio.get_running_loop()
    leave = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, leave.set)
    failure = None
    forward: asyncio.Task[None] | None = None
    followed = frozenset(c.device for c in network.lab.checks if c.device is not None)
    digester = Digester(watched, followed)
    try:
        async with Simulation(network, endpoint=endpoint) as simulation:
            forward = asyncio.create_task(_forward(simulation, digester, outbox))
            await simulation.start(device_ids)
            answering = _Answering(simulation, outbox, leave, digester)
            loop.add_reader(requests.fileno(), answering.readable, requests)
            try:
                await answering.until_leave()
            finally:
                with contextlib.suppress(ValueError, OSError):
                    loop.remove_reader(requests.fileno())
        # Leaving the simulation stopped every device and closed its stream.
        await forward
    except Exception as error:
        failure = Failure.of(error)
        if forward is not None:
            await forward
    await outbox.send(Ended(failure))


async def _forward(simulation: Simulation, digester: Digester, outbox: _Outbox) -> None:
    """Fold every event in as it comes; send the app a digest at most every DIGEST_SECONDS.

    While this waits, the simulation's events gather in its stream and come as one batch.
    """
    loop = asyncio.get_running_loop()
    sent_at = 0.0
    async for batch in simulation.events():
        digester.fold(batch)
        wait = sent_at + DIGEST_SECONDS - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        digest = digester.take()
        if digest is not None:
            await outbox.send(digest)
        sent_at = loop.time()
    # The stream ended (every device stopped): the last statuses go before `Ended`, and
    # each device's last events, which the app does not have unless it watched the device.
    digest = digester.take()
    if digest is not None:
        await outbox.send(digest)
    for history in digester.at_end():
        await outbox.send(history)


class _Answering:
    """Carries out the app's requests in the child, and keeps it told of the watched device."""

    def __init__(
        self, simulation: Simulation, outbox: _Outbox, leave: asyncio.Event, digester: Digester
    ) -> None:
        self.simulation = simulation
        self.outbox = outbox
        self.leave = leave
        self.digester = digester
        self._last: DeviceView | None = None
        self._calls: set[asyncio.Task[None]] = set()

    def readable(self, requests: Connection) -> None:
        """Take one request from the pipe (its end means the app is gone)."""
        try:
            number, request = requests.recv()
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(requests.fileno())
            self.leave.set()
            return
        if isinstance(request, Leave):
            self.leave.set()
        elif isinstance(request, Watch):
            history = self.digester.watch(request.device_id)
            if history is not None:
                self.outbox.post(history)
            self._show_view(always=True)
        else:
            task = asyncio.create_task(self._carry_out(number, request))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    async def until_leave(self) -> None:
        """Send the watched device's view when it changes, until asked to leave."""
        self._show_view(always=True)
        while not self.leave.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.leave.wait(), VIEW_SECONDS)
            self._show_view(always=False)
        for task in list(self._calls):
            task.cancel()
        if self._calls:
            await asyncio.wait(self._calls)

    def _show_view(self, *, always: bool) -> None:
        view = None
        watched = self.digester.watched
        if watched is not None:
            with contextlib.suppress(KeyError):
                view = self.simulation.device(watched)
        if always or view != self._last:
            self._last = view
            self.outbox.post(Viewed(view))

    async def _carry_out(self, number: int, request: Call) -> None:
        simulation = self.simulation
        try:
            if isinstance(request, Start):
                simulation.add(request.added)
                await simulation.start(request.device_ids)
            elif isinstance(request, Stop):
                await simulation.stop(request.device_ids)
            elif isinstance(request, Publish):
                await simulation.publish(
                    request.device_id,
                    request.topic,
                    request.payload,
                    qos=request.qos,
                    retain=request.retain,
                )
            elif isinstance(request, Unsubscribe):
                await simulation.unsubscribe(request.device_id, request.topic_filter)
            else:
                await simulation.subscribe(request.device_id, request.topic_filter, qos=request.qos)
        except asyncio.CancelledError:
            self.outbox.post(Reply(number, Failure.of(ConnectionFailed("the network stopped"))))
            raise
        except Exception as error:
            self.outbox.post(Reply(number, Failure.of(error)))
        else:
            self.outbox.post(Reply(number, None))
