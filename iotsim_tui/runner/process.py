"""A network's simulation in a child process, so its work never holds up the screen.

A thousand devices keep an event loop busy; in the app's own process they would compete with
the screen for the GIL, and a keypress would wait behind their MQTT work. Here the simulation
runs in a process of its own, forked from a server that has the engine imported already, so
a start costs a fork rather than a new interpreter. The app sends it named requests (start,
stop, publish, subscribe, watch) over one pipe; event batches, the watched device's view and
the replies come back over another, which the app's loop reads when it is readable.

Leaving (`EngineProcess.run` cancelled) asks the child to stop every device in an orderly
way and exit; the app waits a bounded time, then ends it by its pid. When the app is
quitting it does not wait for a thousand devices to disconnect: after QUIT_SECONDS it lets
the child finish on its own (a child whose app is gone sees its pipe end, stops its devices
and exits, at the latest LEAVE_SECONDS later). A child that dies on its own is reported in
words. What the child sends while it runs is boiled down by `digest.Digester`.

Nothing here imports textual: the fork server preloads this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Collection
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from iotsim_tui.errors import ConnectionFailed, IotsimError
from iotsim_tui.runner.digest import Digest, History
from iotsim_tui.runner.messages import (
    LEAVE_SECONDS,
    Call,
    Ended,
    Failure,
    Leave,
    Reply,
    Viewed,
    Watch,
)

if TYPE_CHECKING:
    from multiprocessing.context import ForkServerContext, SpawnContext
    from multiprocessing.process import BaseProcess

    from iotsim_tui.engine import DeviceView
    from iotsim_tui.profiles.model import Network

log = logging.getLogger("iotsim_tui.runner")

EXIT_SECONDS = 3.0
"""How long the app waits for the child to exit, after it said it is done or was told to."""
QUIT_SECONDS = 0.2
"""How long a quitting app waits for the child; then it leaves it to finish stopping alone."""
PRELOADED = ("__main__", "iotsim_tui.engine", "iotsim_tui.runner.child")
"""What the fork server imports once, so that each network's start is only a fork (the main
module too: a child would import it again otherwise)."""


# -- the app's side ------------------------------------------------------------------------


class EngineProcess:
    """One network's simulation in a child process; use from the app's event loop."""

    def __init__(self, network: Network, endpoint: tuple[str, int] | None) -> None:
        self.network = network
        self.endpoint = endpoint
        self.view: DeviceView | None = None
        """The watched device's latest view, as the child last sent it."""
        self._watched: str | None = None
        self._process: BaseProcess | None = None
        self._pid: int | None = None
        self._exit_code: int | None = None
        self._requests: Connection | None = None
        self._replies: Connection | None = None
        self._ended: asyncio.Future[Ended | None] | None = None
        """Done once the child said it ended (an `Ended`), or its pipe ended (None)."""
        self._calls: dict[int, asyncio.Future[Failure | None]] = {}
        self._numbers = itertools.count(1)

    @property
    def pid(self) -> int | None:
        """The child's process id, once started."""
        return self._pid

    @property
    def watched(self) -> str | None:
        """The device whose view the app wants (the selected one)."""
        return self._watched

    def watch(self, device_id: str | None) -> None:
        """Ask for this device's view from now on; cheap when it is already watched."""
        if device_id == self._watched:
            return
        self._watched = device_id
        if self.view is not None and self.view.id != device_id:
            self.view = None
        if self._requests is not None and self._process is not None:
            self._send(0, Watch(device_id))

    async def run(
        self,
        device_ids: Collection[str] | None,
        on_news: Callable[[Digest | History], None],
        *,
        quitting: Callable[[], bool] = lambda: False,
    ) -> None:
        """Start the child, start devices, and feed its digests to `on_news` until cancelled.

        On cancellation every device is stopped the orderly way before this returns, unless
        `quitting()` says the app is ending: then the child finishes that on its own.

        Raises:
            IotsimError: the simulation failed (certificates, profile), or its process
                ended on its own (the message says how).
        """
        loop = asyncio.get_running_loop()
        context = process_context()
        self._ended = loop.create_future()
        child_requests, self._requests = context.Pipe(duplex=False)
        self._replies, child_replies = context.Pipe(duplex=False)
        ids = tuple(device_ids) if device_ids is not None else None
        from iotsim_tui.runner.child import serve

        process = context.Process(
            target=serve,
            args=(self.network, self.endpoint, ids, self._watched, child_requests, child_replies),
            name=f"iotsim-network {self.network.name}",
            daemon=True,
        )
        self._process = process
        # The first start also starts the fork server (about a second): not on the app's loop.
        started = asyncio.ensure_future(
            asyncio.to_thread(start_process, process, child_requests, child_replies)
        )
        try:
            await asyncio.shield(started)
            self._pid = process.pid
            loop.add_reader(self._replies.fileno(), self._readable, on_news)
            ended = await asyncio.shield(self._ended)
        finally:
            if not started.done():
                await asyncio.wait([started])
            await self._close(loop, quitting=quitting())
        if ended is None:
            raise IotsimError(
                f"The simulation of {self.network.name} stopped unexpectedly "
                f"({how_it_ended(self._exit_code)}). Its devices are stopped; start the "
                "network again (S)",
                title="Network stopped",
            )
        if ended.failure is not None:
            raise ended.failure.rebuild()

    async def call(self, request: Call) -> None:
        """Send `request` to the child and wait for its answer; raises what it raised."""
        if self._ended is None or self._ended.done() or self._requests is None:
            raise ConnectionFailed(f"{self.network.name} is not running: start it first (S)")
        number = next(self._numbers)
        answer = asyncio.get_running_loop().create_future()
        self._calls[number] = answer
        self._send(number, request)
        failure = await answer
        if failure is not None:
            raise failure.rebuild()

    def _send(self, number: int, request: Call | Watch | Leave) -> None:
        assert self._requests is not None
        try:
            self._requests.send((number, request))
        except (OSError, ValueError):
            self._answer_all(f"{self.network.name} stopped")

    def _readable(self, on_news: Callable[[Digest | History], None]) -> None:
        assert self._replies is not None
        assert self._ended is not None
        try:
            said = self._replies.recv()
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(self._replies.fileno())
            if not self._ended.done():
                self._ended.set_result(None)
            self._answer_all(f"{self.network.name} stopped")
            return
        if isinstance(said, Digest | History):
            on_news(said)
        elif isinstance(said, Viewed):
            if said.view is None or said.view.id == self._watched:
                self.view = said.view
        elif isinstance(said, Reply):
            answer = self._calls.pop(said.number, None)
            if answer is not None and not answer.done():
                answer.set_result(said.failure)
        elif isinstance(said, Ended) and not self._ended.done():
            self._ended.set_result(said)

    def _answer_all(self, why: str) -> None:
        calls, self._calls = self._calls, {}
        for answer in calls.values():
            if not answer.done():
                answer.set_exception(ConnectionFailed(why))

    async def _close(self, loop: asyncio.AbstractEventLoop, *, quitting: bool) -> None:
        """Let the child stop its devices and exit, then make sure it is gone.

        When the app is quitting, wait only QUIT_SECONDS for that: then the pipes close and
        the child, told to leave, finishes stopping its devices on its own. So too when this
        wait is cancelled (the app's shutdown cancels its workers again).
        """
        process, ended = self._process, self._ended
        assert process is not None
        assert ended is not None
        gone = self._pid is None
        try:
            if self._pid is not None:
                if not ended.done():
                    self._send(0, Leave())
                    with contextlib.suppress(TimeoutError):
                        wait = QUIT_SECONDS if quitting else LEAVE_SECONDS
                        await asyncio.wait_for(asyncio.shield(ended), wait)
                if not (quitting and not ended.done()):
                    self._exit_code = await end_process(process)
                    gone = self._exit_code is not None
                    if gone:
                        process.close()  # not dead even killed: keep its fds
        finally:
            if not gone:
                let_go(process)
            if self._replies is not None:
                with contextlib.suppress(ValueError, OSError):
                    loop.remove_reader(self._replies.fileno())
                self._replies.close()
            if self._requests is not None:
                self._requests.close()
            self._requests = None
            if not ended.done():
                ended.set_result(None)
            self._answer_all(f"{self.network.name} stopped")


def start_process(process: BaseProcess, *child_ends: Connection) -> None:
    """Start `process`, then close the pipe ends it took, so its death is their end here."""
    try:
        process.start()
    finally:
        for end in child_ends:
            end.close()


def let_go(process: BaseProcess) -> None:
    """Stop tracking `process`, so that the app's exit does not wait for it.

    multiprocessing joins its children when the interpreter exits (and terminates daemonic
    ones first, which the child takes as leave): it would wait for every device to stop.
    """
    from multiprocessing import process as processes

    children: set[object] | None = getattr(processes, "_children", None)
    if children is not None:
        children.discard(process)


async def end_process(process: BaseProcess) -> int | None:
    """Wait a bounded time for `process` to exit, then terminate it, then kill it, by pid.

    Returns its exit code (None if even SIGKILL did not end it in time).
    """
    await asyncio.to_thread(process.join, EXIT_SECONDS)
    if process.exitcode is None:
        process.terminate()
        await asyncio.to_thread(process.join, EXIT_SECONDS)
    if process.exitcode is None:
        process.kill()
        await asyncio.to_thread(process.join, EXIT_SECONDS)
    return process.exitcode


def how_it_ended(code: int | None) -> str:
    if code is None:
        return "it stopped answering"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by signal {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


def process_context() -> ForkServerContext | SpawnContext:
    """A fork server with the engine imported; spawn where there is no fork server.

    Never a plain fork: the app has threads, and a forked copy of a locked lock stays locked.
    """
    _start_resource_tracker()
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(PRELOADED))
        return context
    return multiprocessing.get_context("spawn")


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with /dev/null for its error output.

    It hands `sys.stderr.fileno()` to its process, and while Textual runs that is its print
    capture, whose -1 makes every process start fail ("bad value(s) in fds_to_keep"). Called
    on the app's thread, so nothing of the app prints in between.
    """
    from multiprocessing import resource_tracker

    shown = sys.stderr
    with open(os.devnull, "w") as quiet:
        sys.stderr = quiet
        try:
            resource_tracker.ensure_running()
        finally:
            sys.stderr = shown
