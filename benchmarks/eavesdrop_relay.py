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

Target (issue 5): "no added latency a user can see": under 1 ms added to the median round
trip. The results replace the `eavesdrop_relay` section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import socket
import statistics
import time
from collections.abc import Callable
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


def main() -> int:
    """Run the workloads, print a table, and write it to docs/performance.md."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    args = parser.parse_args()
    server, server_port = _start(_server)
    relay, relay_port = _start(_relay, server_port)
    try:
        results: dict[str, dict[str, list[float]]] = {}
        for name, workload in (("rtt", round_trips), ("bulk", bulk), ("flood", flood)):
            runs: dict[str, list[float]] = {"direct": [], "relay": []}
            for _ in range(args.repeats):
                runs["direct"].append(workload(server_port))
                runs["relay"].append(workload(relay_port))
            results[name] = runs
    finally:
        for process in (relay, server):
            process.terminate()
            process.join(10)
    report = _report(
        {k: {w: _common.median(v) for w, v in r.items()} for k, r in results.items()}, args
    )
    print(report)
    if not args.no_write:
        _common.write_section("eavesdrop_relay", report)
    return 0


def _report(m: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    rtt, bulk_rate, flood_rate = m["rtt"], m["bulk"], m["flood"]
    return "\n".join(
        [
            "## Eavesdrop relay: latency and throughput (`benchmarks/eavesdrop_relay.py`)",
            "",
            f"{_common.today()}; {_common.machine()}.",
            f"Median of {args.repeats} rounds; reference: the same client straight to the "
            "same server, same run. The relay records and dissects everything it forwards.",
            "",
            "| Workload | direct | through the relay | ratio |",
            "|----------|--------|-------------------|-------|",
            f"| round trip, 64 B (median µs) | {rtt['direct']:.0f} | {rtt['relay']:.0f} "
            f"| {rtt['relay'] / rtt['direct']:.2f}x (+{rtt['relay'] - rtt['direct']:.0f} µs) |",
            f"| bulk, 64 MiB one way (MiB/s) | {bulk_rate['direct']:.0f} | "
            f"{bulk_rate['relay']:.0f} | {bulk_rate['relay'] / bulk_rate['direct']:.2f}x |",
            f"| MQTT flood, 100k QoS 0 PUBLISH (msg/s) | {flood_rate['direct']:,.0f} | "
            f"{flood_rate['relay']:,.0f} | {flood_rate['relay'] / flood_rate['direct']:.2f}x |",
            "",
            "Target: under 1 ms added to the median round trip (no latency a user can see).",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
