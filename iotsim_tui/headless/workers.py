"""`--workers N`: the network's devices spread over N processes, with one combined summary.

Each worker runs its slice (by position in the network) in its own event loop and sends its
summary (counters, not messages) to the parent over a pipe a few times a second, and with
`--json` its events as JSON lines ready to print. The parent merges the summaries
(`Summary.merge`) as if one process had run every device.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from iotsim_tui.engine import Summary
from iotsim_tui.errors import IotsimError
from iotsim_tui.headless.clock import RunClock
from iotsim_tui.headless.options import RunOptions

if TYPE_CHECKING:
    from iotsim_tui.headless.output import Display

FINISH_TIMEOUT = 15.0
"""Seconds the parent waits for workers to report their final summary after a stop."""
BACKSTOP = 30.0
"""Seconds past --duration after which a worker stops by itself (the parent stops it at the
duration, counted from the first worker's start; this is for a parent that is gone)."""
REFRESH = 0.25
"""Seconds between updates of the combined live summary."""


async def run_workers(
    options: RunOptions,
    endpoint: tuple[str, int] | None,
    display: Display,
    stop: asyncio.Event,
    clock: RunClock | None = None,
) -> Summary:
    """Start the workers, show their combined progress, and return the combined summary.

    The run's clock starts when the first worker's devices start, and the parent stops every
    worker when `--duration` has passed since then (or when `stop` is set).
    """
    clock = clock or RunClock()
    context = multiprocessing.get_context("spawn")
    worker_options = options
    if options.duration is not None:
        worker_options = replace(options, duration=options.duration + BACKSTOP)
    loop = asyncio.get_running_loop()
    latest: dict[int, Summary] = {}
    finals: dict[int, Summary] = {}
    failures: list[str] = []
    ended = asyncio.Event()
    processes = []
    pipes: list[Connection] = []

    def on_readable(worker: int, pipe: Connection) -> None:
        try:
            kind, payload = pipe.recv()
        except (EOFError, OSError):
            loop.remove_reader(pipe.fileno())
            if worker not in finals:
                failures.append(f"worker {worker + 1} ended without a summary")
                finals[worker] = latest.get(worker, Summary())
            if len(finals) == options.workers:
                ended.set()
            return
        if kind == "summary":
            latest[worker] = payload
        elif kind == "started":
            clock.start(payload)
        elif kind == "lines":
            display.lines(payload)
        elif kind == "errors":
            display.errors(payload)
        elif kind == "final":
            latest[worker] = finals[worker] = payload
        elif kind == "error":
            failures.append(str(payload))

    for worker in range(options.workers):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker_process,
            args=(worker_options, worker, endpoint, send),
            name=f"iotsim-worker-{worker + 1}",
        )
        process.start()
        send.close()
        processes.append(process)
        pipes.append(receive)
        loop.add_reader(receive.fileno(), on_readable, worker, receive)

    try:
        while not ended.is_set():
            deadline = clock.deadline(options.duration)
            if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                clock.stop()
                _forward_stop(processes)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), FINISH_TIMEOUT)
                break
            wait = REFRESH if deadline is None else min(REFRESH, deadline - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), max(wait, 0))
            display.update(Summary.merge(latest.values()), clock.seconds)
        clock.stop()
        # The live line ends with the counts the final summary gives, not the last sample's.
        display.update(Summary.merge({**latest, **finals}.values()), clock.seconds)
    finally:
        for pipe in pipes:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(pipe.fileno())
            pipe.close()
        for process in processes:
            await asyncio.to_thread(process.join, 5.0)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join)
    if failures:
        raise IotsimError("; ".join(failures), title="Worker failed")
    return Summary.merge(finals.values())


def _forward_stop(processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
    for process in processes:
        if process.pid is not None and process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGINT)


def _worker_process(
    options: RunOptions, worker: int, endpoint: tuple[str, int] | None, pipe: Connection
) -> None:
    """The entry point of a worker process: `worker_main`, then an exit without teardown.

    Once the final summary is sent and the devices' sockets are closed nothing is left to
    flush, and the interpreter's teardown of thousands of clients took most of a second at
    the end of every run.
    """
    try:
        worker_main(options, worker, endpoint, pipe)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def worker_main(
    options: RunOptions, worker: int, endpoint: tuple[str, int] | None, pipe: Connection
) -> None:
    """A worker process: run one slice of the network, reporting over `pipe`."""
    from iotsim_tui.headless.main import run_simulation
    from iotsim_tui.headless.output import json_lines
    from iotsim_tui.profiles.load import load_network

    def send(kind: str, payload: Any) -> None:
        with contextlib.suppress(OSError):
            pipe.send((kind, payload))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        network = options.apply(load_network(options.profile))
        # The parent counts the duration from the first worker's start, and stops us then.
        clock = RunClock(on_start=lambda at: send("started", at))
        summary = await run_simulation(
            network,
            options,
            endpoint=endpoint,
            shard=options.worker_shard(worker),
            report=lambda s: send("summary", s),
            # JSON lines are made here, in parallel, and the parent only writes them out.
            emit=(lambda records: send("lines", json_lines(records))) if options.json else None,
            stop=stop,
            clock=clock,
            tell=lambda errors: send("errors", errors),
        )
        send("final", summary)

    try:
        asyncio.run(main())
    except IotsimError as error:
        send("error", error.message)
    finally:
        pipe.close()
