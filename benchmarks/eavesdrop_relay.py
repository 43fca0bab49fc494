"""What the eavesdrop relay adds: round-trip latency and throughput, direct vs through it.

    python benchmarks/eavesdrop_relay.py [--repeats 5] [--no-write]

A sink/echo server runs in one child process and the relay (`Eavesdrop`, recording and
dissecting) in another, each with its own event loop; the client is this process, with
blocking sockets and TCP_NODELAY. Each workload runs direct to the server and through the
relay, alternating within a round; figures are medians of `--repeats` rounds.

1. Round trip: 2,000 echoes of a 64-byte message (the size of a small MQTT PUBLISH).
2. Bulk: 64 MiB one way, then a 1-byte answer (bytes the dissector shows as data).
3. MQTT flood: CONNECT, then 100,000 QoS 0 PUBLISH packets of 38-byte telemetry. Every
   packet is framed; up to `Limits.decode_rate` a second are decoded and listed, the rest
   counted (the relay's guard against floods).

Targets: "no added latency a user can see" (issue 5): under 1 ms added to the median round
trip; and the relay passes at least 10,000 PUBLISH a second (10,000 devices publishing once a
second). The results replace the `eavesdrop_relay` section of docs/performance.md (unless
`--no-write`), with the machine, its load average and the date.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import _common

from iotsim_tui.protocol.codec import encode
from iotsim_tui.protocol.packets import Connect, MQTTVersion, Publish
from iotsim_tui.wiretap import Eavesdrop

ROUND_TRIPS = 2_000
MESSAGE = b"m" * 64
BULK = 64 * 1024 * 1024
FLOOD = 100_000
TELEMETRY = b'{"temperature": 21.5, "humidity": 40}'
TARGET_FLOOD = 10_000
"""PUBLISH packets a second the relay must pass: 10,000 devices publishing once a second."""
DEADLINE = 120.0
"""Seconds any one workload may take before the benchmark gives up."""


def _server(port_out: Connection) -> None:
    """Echo each read back (a stream that starts with "e"), or swallow all until EOF."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode = await reader.readexactly(1)
        if mode == b"e":
            while data := await reader.read(65_536):
                writer.write(data)
                await writer.drain()
        else:
            while await reader.read(1 << 20):
                pass
            writer.write(b"k")
            await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, _common.HOST, 0)
        port_out.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _relay(target_port: int, port_out: Connection) -> None:
    async def main() -> None:
        async with Eavesdrop(target=(_common.HOST, target_port)) as tap:
            port_out.send(tap.endpoint[1])
            await asyncio.Event().wait()

    asyncio.run(main())


def _start(target: Callable[..., None], *args: object) -> tuple[mp.Process, int]:
    parent, child = mp.Pipe()
    process = mp.Process(target=target, args=(*args, child), daemon=True)
    process.start()
    if not parent.poll(30):
        raise RuntimeError(f"{target.__name__} did not start")
    port: int = parent.recv()
    return process, port


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection((_common.HOST, port), timeout=DEADLINE)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trips(port: int) -> float:
    """Median round trip in microseconds."""
    with _connect(port) as sock:
        sock.sendall(b"e")
        times = []
        for _ in range(ROUND_TRIPS):
            start = time.perf_counter()
            sock.sendall(MESSAGE)
            got = 0
            while got < len(MESSAGE):
                got += len(sock.recv(65_536))
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def bulk(port: int) -> float:
    """MiB/s for BULK bytes one way."""
    chunk = b"b" * (1 << 20)
    with _connect(port) as sock:
        start = time.perf_counter()
        for _ in range(BULK // len(chunk)):
            sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1) == b"k"
        return BULK / (1 << 20) / (time.perf_counter() - start)


def flood(port: int) -> float:
    """PUBLISH packets per second."""
    connect = encode(Connect(client_id="bench"), MQTTVersion.V311)
    publish = encode(Publish("devices/TS1/telemetry", TELEMETRY), MQTTVersion.V311)
    stream = connect + publish * FLOOD
    with _connect(port) as sock:
        start = time.perf_counter()
        sock.sendall(stream)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1) == b"k"
        return FLOOD / (time.perf_counter() - start)


@dataclass
class Runs:
    """One workload's figures: direct and through the relay, paired round by round."""

    direct: list[float] = field(default_factory=list)
    relay: list[float] = field(default_factory=list)
    relay_cpu: list[float] = field(default_factory=list)
    """CPU seconds the relay process used for each run through it."""

    def ratio(self) -> float:
        """The median of the per-round ratios relay / direct (each round runs both)."""
        return _common.median(r / d for r, d in zip(self.relay, self.direct, strict=True))


def main() -> int:
    """Run the workloads, print a table, and write it to docs/performance.md."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    server, server_port = _start(_server)
    relay, relay_port = _start(_relay, server_port)
    assert relay.pid is not None
    try:
        results: dict[str, Runs] = {}
        for name, workload in (("rtt", round_trips), ("bulk", bulk), ("flood", flood)):
            runs = results[name] = Runs()
            for _ in range(args.repeats):
                runs.direct.append(workload(server_port))
                cpu = _common.cpu_seconds(relay.pid)
                runs.relay.append(workload(relay_port))
                runs.relay_cpu.append(_common.cpu_seconds(relay.pid) - cpu)
    finally:
        for process in (relay, server):
            process.terminate()
            process.join(10)
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    report = _report(results, args.repeats, load)
    print(report)
    if not args.no_write:
        _common.write_section("eavesdrop_relay", report)
    return 0


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def _report(results: dict[str, Runs], repeats: int, load: str) -> str:
    rtt, bulk_runs, flood_runs = results["rtt"], results["bulk"], results["flood"]
    median = _common.median
    added = median(r - d for r, d in zip(rtt.relay, rtt.direct, strict=True))
    flood_rate = median(flood_runs.relay)
    flood_cpu = median(flood_runs.relay_cpu) / FLOOD * 1e6
    return "\n".join(
        [
            "## Eavesdrop relay: latency and throughput (`benchmarks/eavesdrop_relay.py`)",
            "",
            f"Run {_common.today()} on {_common.machine()}; {load}. Median of {repeats} rounds; "
            "each round runs the same client straight to the same server, then through the "
            "relay, and ratios are medians of the per-round ratios. The relay (a process of its "
            "own) records and dissects everything it forwards.",
            "",
            "| Workload | direct | through the relay | ratio | relay CPU per run |",
            "|---|---:|---:|---:|---:|",
            f"| round trip, 64 B, median of {ROUND_TRIPS:,} (µs) | {median(rtt.direct):.0f} "
            f"| {median(rtt.relay):.0f} | {rtt.ratio():.2f}x (+{added:.0f} µs) "
            f"| {median(rtt.relay_cpu):.2f} s |",
            f"| bulk, {BULK >> 20} MiB one way (MiB/s) | {median(bulk_runs.direct):.0f} "
            f"| {median(bulk_runs.relay):.0f} | {bulk_runs.ratio():.2f}x "
            f"| {median(bulk_runs.relay_cpu):.2f} s |",
            f"| MQTT flood, {FLOOD // 1000}k QoS 0 PUBLISH (msg/s) "
            f"| {median(flood_runs.direct):,.0f} | {flood_rate:,.0f} | {flood_runs.ratio():.2f}x "
            f"| {median(flood_runs.relay_cpu):.2f} s ({flood_cpu:.0f} µs a packet) |",
            "",
            "The direct flood goes to a byte sink that parses nothing, so its ratio only says "
            "what framing every packet costs; what matters is whether the relay keeps up with "
            "devices. Targets:",
            "",
            f"- under 1 ms added to the median round trip (no latency a user can see): "
            f"+{added:.0f} µs, {_verdict(added < 1000)};",
            f"- at least {TARGET_FLOOD:,} msg/s through the relay (10,000 devices publishing "
            f"once a second): {flood_rate:,.0f}, {_verdict(flood_rate >= TARGET_FLOOD)}.",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
