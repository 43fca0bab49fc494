"""The topic tree's reader of every topic (`TrafficWatch`), in a child process of its own.

Ten thousand messages a second cost paho about half of what the app's process did under such
a flood: reading and decoding each packet, in the app's own event loop, where a key waited
behind it. Here a child process runs the reader and sends what arrived over a pipe, in
batches at most every `every` seconds; the app only adds them to its tree. The child is in a
session of its own, as the simulation's (runner/child.py): where Linux shares the CPU between
sessions (autogroup), its work does not come out of the app's share. Its weight is not
lowered as the simulation's is: on a loaded machine (load 15 on two cores) it then read only
half of a flood of 10,000 messages a second, and keys came no faster for it.

A thread of the app waits on the pipe, so a batch only half written by a child the machine
has paused never holds up the app's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Self

from iotsim_tui.engine.console import CredentialsRefused
from iotsim_tui.engine.traffic import TrafficWatch
from iotsim_tui.errors import ConnectionFailed, IotsimError
from iotsim_tui.explore.tree import Kept
from iotsim_tui.profiles.model import BrokerSettings
from iotsim_tui.runner.child import exit_after_app
from iotsim_tui.runner.process import (
    end_process,
    how_it_ended,
    let_go,
    process_context,
    start_process,
)

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

Said = tuple[str, object, int]
"""What the child sends: ("connected", client id, 0), ("batch", [Kept], overflow),
("refused" | "failed", message, 0)."""


class TrafficReader:
    """`TrafficWatch` in a child process. `async with TrafficReader(settings) as reader`."""

    def __init__(self, broker: BrokerSettings, *, every: float, base: Path | None = None) -> None:
        self.broker = broker
        self.every = every
        self.base = base
        self.client_id = ""
        self.overflow = 0
        """Messages the child did not keep because the app fell behind (`TrafficWatch`)."""
        self._process: BaseProcess | None = None
        self._inbox: asyncio.Queue[Said | None] = asyncio.Queue()
        self._pipe: Connection | None = None
        self._listening: threading.Thread | None = None

    async def __aenter__(self) -> Self:
        context = process_context()
        self._pipe, child_end = context.Pipe(duplex=False)
        process = context.Process(
            target=read_traffic,
            args=(self.broker, self.every, self.base, child_end),
            name="iotsim-topics",
            daemon=True,
        )
        self._process = process
        # The first start also starts the fork server (about a second): not on the app's loop.
        started = asyncio.ensure_future(asyncio.to_thread(start_process, process, child_end))
        try:
            await asyncio.shield(started)
            self._listening = threading.Thread(
                target=_listen,
                args=(self._pipe, asyncio.get_running_loop(), self._inbox),
                name="topics in",
                daemon=True,
            )
            self._listening.start()
            kind, said, _ = await self._next()
            if kind != "connected":
                raise ConnectionFailed(f"the topic tree's reader said {kind}")
            self.client_id = str(said)
        except BaseException:
            if not started.done():
                await asyncio.wait([started])  # cancelled while starting: end what started
            await self._close()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._close()

    async def batches(self) -> AsyncIterator[list[Kept]]:
        """What arrived, batch by batch, as `Seen`'s fields in plain tuples (`TopicTree.add`
        takes them). Ends with ConnectionFailed when the broker goes."""
        while True:
            kind, said, overflow = await self._next()
            if kind == "batch" and isinstance(said, list):
                self.overflow = overflow
                yield said

    async def _next(self) -> Said:
        said = await self._inbox.get()
        if said is None:
            process = self._process
            code = process.exitcode if process is not None else None
            raise ConnectionFailed(f"the topic tree's reader stopped ({how_it_ended(code)})")
        kind, message, _ = said
        if kind == "refused":
            raise CredentialsRefused(str(message))
        if kind == "failed":
            raise ConnectionFailed(str(message))
        return said

    async def _close(self) -> None:
        process, self._process = self._process, None
        if process is None or process.pid is None:  # never started
            if self._pipe is not None:
                self._pipe.close()
            return
        with contextlib.suppress(ValueError, OSError):
            process.terminate()
        code = await end_process(process)
        if code is None:
            let_go(process)
            return
        process.close()
        if self._listening is not None:
            # The child is gone, so the pipe ends and the thread with it.
            await asyncio.to_thread(self._listening.join, 5.0)
        if self._pipe is not None and (self._listening is None or not self._listening.is_alive()):
            self._pipe.close()


def _listen(
    pipe: Connection, loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[Said | None]
) -> None:
    """The app's thread that waits on the pipe; None in the inbox when the child is gone."""
    while True:
        try:
            said: Said = pipe.recv()
        except (EOFError, OSError):
            break
        try:
            loop.call_soon_threadsafe(inbox.put_nowait, said)
        except RuntimeError:
            return  # the app's loop is closed
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(inbox.put_nowait, None)


# -- the child's side ----------------------------------------------------------------------


def read_traffic(broker: BrokerSettings, every: float, base: Path | None, pipe: Connection) -> None:
    """The child process: read every topic and send batches until the app is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the app's to handle
    with contextlib.suppress(OSError):
        os.setsid()  # a session of its own: its CPU is not the app's share (autogroup)
    if os.isatty(2):
        # The terminal's screen is the app's: a stray warning here would scribble on it.
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
            os.dup2(devnull.fileno(), 2)
    exit_after_app()
    with contextlib.suppress(BrokenPipeError, OSError):
        asyncio.run(_read(broker, every, base, pipe))
    pipe.close()


async def _read(broker: BrokerSettings, every: float, base: Path | None, pipe: Connection) -> None:
    try:
        async with TrafficWatch(broker, base=base) as watch:
            pipe.send(("connected", watch.client_id, 0))
            async for batch in watch.batches(every):
                # Plain tuples: a NamedTuple unpickles through a Python call each.
                pipe.send(("batch", [tuple(seen) for seen in batch], watch.overflow))
    except CredentialsRefused as error:
        pipe.send(("refused", error.message, 0))
    except IotsimError as error:
        pipe.send(("failed", error.message, 0))
