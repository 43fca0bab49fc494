"""`--workers N`: the network's devices spread over N processes, with one combined summary.

Each worker runs its slice (by position in the network) in its own event loop and sends its
summary to the parent over a pipe a few times a second, and its events too with `--json`. The
parent merges the summaries (`Summary.merge`) as if one process had run every device.
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
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from iotsim_tui.engine import Summary
from iotsim_tui.errors import IotsimError
from iotsim_tui.headless.options import RunOptions

if TYPE_CHECKING:
    from iotsim_tui.headless.output import Display

FINISH_TIMEOUT = 15.0
"""Seconds the parent waits for workers to report their final summary after a stop."""


async def run_workers(
    options: RunOptions,
    endpoint: tuple[str, int] | None,
    display: Display,
    stop: asyncio.Event,
) -> Summary:
    """Start the workers, show their combined progress, and return the combined summary."""
    context = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    latest: dict[int, Summary] = {}
    finals: dict[int, Summary] = {}
    failures: list[str] = []
    ended = asyncio.Event()
    processes = []
    pipes: list[Connection] = []
    began = time.monotonic()

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
        elif kind == "events":
            display.events(payload)
        elif kind == "final":
            latest[worker] = finals[worker] = payload
        elif kind == "error":
            failures.append(str(payload))

    for worker in range(options.workers):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker_process,
            args=(options, worker, endpoint, send),
            name=f"iotsim-worker-{worker + 1}",
        )
        process.start()
        send.close()
        processes.append(process)
        pipes.append(receive)
        loop.add_reader(receive.fileno(), on_readable, worker, receive)

    try:
        while not ended.is_set():
            if stop.is_set():
                _forward_stop(processes)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), FINISH_TIMEOUT)
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), 0.25)
            display.update(Summary.merge(latest.values()), time.monotonic() - began)
        # The live line ends with the counts the final summary gives, not the last sample's.
        display.update(Summary.merge({**latest, **finals}.values()), time.monotonic() - began)
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
        summary = await run_simulation(
            network,
            options,
            endpoint=endpoint,
            shard=options.worker_shard(worker),
            report=lambda s: send("summary", s),
            emit=(lambda records: send("events", records)) if options.json else None,
            stop=stop,
        )
        send("final", summary)

    try:
        asyncio.run(main())
    except IotsimError as error:
        send("error", error.message)
    finally:
        pipe.close()
