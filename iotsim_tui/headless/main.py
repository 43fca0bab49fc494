"""The headless run: broker and relay when asked, the devices here or in workers, the summary."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from iotsim_tui.engine import Simulation, Summary
from iotsim_tui.errors import UsageError
from iotsim_tui.headless.clock import RunClock
from iotsim_tui.headless.options import RunOptions
from iotsim_tui.headless.output import INTERRUPTED, Display, event_record
from iotsim_tui.headless.report import summary_record
from iotsim_tui.headless.shards import shard_fields
from iotsim_tui.profiles.load import load_network
from iotsim_tui.profiles.model import Network

REFRESH = 0.25
"""Seconds between updates of the live summary."""
CERTS_DIR = Path("certs")

Report = Callable[[Summary], None]
Emit = Callable[[list[dict[str, Any]]], None]
Tell = Callable[[list[tuple[str, str]]], None]
"""Called with (device id, message) of the errors reported since the last call."""


def run_headless(options: RunOptions) -> int:
    """Run a network as the options say.

    Returns 0 when every device ran without an error, 1 otherwise, and 130 when Ctrl-C (or
    SIGTERM) stopped the run before its duration ended.
    """
    network = options.apply(load_network(options.profile))
    try:
        return asyncio.run(_main(options, network))
    except BrokenPipeError:
        # The reader of our output went away (`| head`): stop quietly, as other tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


async def _main(options: RunOptions, network: Network) -> int:
    clock = RunClock()
    display = Display(json_lines=options.json)
    stop = _stop_on_signals()
    async with AsyncExitStack() as stack:
        await _start_broker_if_needed(stack, network, options)
        endpoint = None
        tap = None
        if options.eavesdrop:
            from iotsim_tui.wiretap.relay import Eavesdrop

            tap = await stack.enter_async_context(Eavesdrop.for_broker(network.broker))
            endpoint = tap.endpoint
        with display:
            if options.workers > 1:
                from iotsim_tui.headless.workers import run_workers

                summary = await run_workers(options, endpoint, display, stop, clock)
            else:
                summary = await run_simulation(
                    network,
                    options,
                    endpoint=endpoint,
                    shard=options.shard,
                    report=lambda s: display.update(s, clock.seconds),
                    emit=display.events if options.json else None,
                    stop=stop,
                    clock=clock,
                    tell=display.errors,
                )
        if tap is not None and options.pcap is not None:
            written = tap.write_pcap(options.pcap)
            print(f"capture written to {options.pcap}: {written}")
    interrupted = stop.is_set()
    run = shard_fields(options.profile, network, options.shard, options.devices, clock.window)
    display.finish(summary, network.name, clock.seconds, interrupted=interrupted, run=run)
    if options.summary is not None:
        record = summary_record(
            summary, network.name, interrupted=interrupted, seconds=clock.seconds
        )
        write_summary(options.summary, record | run)
    if interrupted:
        return INTERRUPTED
    return 0 if summary.ok else 1


async def run_simulation(
    network: Network,
    options: RunOptions,
    *,
    endpoint: tuple[str, int] | None,
    shard: tuple[int, int] | None,
    report: Report,
    emit: Emit | None,
    stop: asyncio.Event,
    clock: RunClock | None = None,
    tell: Tell | None = None,
) -> Summary:
    """Run this process's devices until the duration ends or `stop` is set; the last summary.

    The duration counts from the devices' start (`clock` records it, and their stop). The run
    also ends when every device has failed for good (nothing can recover). `tell` hears of
    each error as it is reported.
    """
    clock = clock or RunClock()
    try:
        simulation = Simulation(
            network,
            endpoint=endpoint,
            device_ids=options.devices,
            shard=shard,
            record_events=emit is not None,
            latency_probe=options.probe,
        )
    except KeyError as error:
        raise UsageError(f"--device: {error.args[0]}") from None
    forward = None
    async with simulation:
        if emit is not None:
            forward = asyncio.create_task(_forward(simulation, emit))
        await simulation.start()
        clock.start()
        deadline = clock.deadline(options.duration)
        while not stop.is_set():
            wait = REFRESH if deadline is None else min(REFRESH, deadline - time.monotonic())
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(wait, 0))
            now = simulation.summary()
            report(now)
            if tell is not None and (errors := simulation.take_errors()):
                tell(errors)
            if deadline is not None and time.monotonic() >= deadline:
                break
            if now.devices and now.errors == now.devices:
                break  # every device failed for good (bad password, untrusted CA, ...)
        clock.stop()
        running = simulation.summary()
        await simulation.stop()
        # Counts of messages after the stop, statuses as they were while running.
        summary = replace(
            simulation.summary(),
            connected=running.connected,
            connecting=running.connecting,
            reconnecting=running.reconnecting,
            stopped=running.stopped,
            errors=running.errors,
            recovered=running.recovered,
            rate_in=running.rate_in,
            rate_out=running.rate_out,
        )
    if forward is not None:
        await forward  # the stream ends once the simulation is left
    report(summary)
    return summary


async def _forward(simulation: Simulation, emit: Emit) -> None:
    async for batch in simulation.events():
        emit([event_record(event) for event in batch])


def write_summary(path: Path, record: dict[str, Any], option: str = "--summary") -> None:
    """Write the JSON summary to `path` whole or not at all (a temporary file, then a rename);
    `UsageError` naming the `option` that gave the path when it cannot be written."""
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        with suppress(OSError):
            temporary.unlink()
        raise UsageError(f"{option} {path}: cannot write it: {error.strerror or error}") from None


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def _start_broker_if_needed(
    stack: AsyncExitStack, network: Network, options: RunOptions
) -> None:
    from iotsim_tui.broker.launch import BrokerLaunch, broker_listens
    from iotsim_tui.broker.process import BundledBroker

    broker = network.broker
    if not options.start_broker or not broker.wants_bundled:
        return
    if await asyncio.to_thread(broker_listens, broker.host, broker.effective_port):
        # The app's bundled broker for this network, or one started by hand: use it, and say so.
        print(
            f"a broker already listens on {broker.host}:{broker.effective_port}: the devices "
            "use it (the bundled broker is not started)",
            file=sys.stderr,
        )
        return
    launch = BrokerLaunch.from_network(network, CERTS_DIR)
    await stack.enter_async_context(BundledBroker(launch))
