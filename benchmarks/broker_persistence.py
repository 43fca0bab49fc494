"""Broker persistence: acknowledged messages lost to kill -9, QoS 1 throughput, restart, soak.

Side by side with mosquitto (Debian package) in the same run:

- kill -9: a publisher sends 5,000 QoS 1 messages to a persistent subscriber that is offline
  (its session queues them); the broker is killed with SIGKILL after a random number of
  acknowledgements, restarted on the same data, and the subscriber comes back for its queue.
  Lost = acknowledged messages that never arrive. 10 kills per configuration.
- QoS 1 throughput: one publisher (100 in flight) -> one persistent subscriber, online.
- restart time with 100,000 retained messages and 10,000 persistent sessions; disk per message.
- soak (`--soak SECONDS`, default 600; 0 skips it): 1,000 devices at 1 msg/s QoS 1 with
  persistent sessions and reconnect churn; broker RSS and data folder size over time.
- the storage choice: an append-only log against SQLite in WAL mode, same records, same fsyncs.

The results replace the `broker_persistence` section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import pickle
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import _common
from _common import HOST, BrokerProcess
from _persistence_soak import folder_size
from _persistence_soak import soak as run_soak
from _raw_mqtt import (
    WINDOW,
    collect,
    connect,
    connect_packet,
    publish_packet,
    publish_qos1,
    split_packets,
    subscribe_offline,
    subscribe_packet,
)

PAYLOAD = b"p" * 32
KILL_MESSAGES = 5000
KILL_RATE = 1000.0
"""Messages a second in the kill runs: the stream lasts 5 s, several autosave intervals."""
QUEUE = ["max_queued_messages = 1000000", "max_inflight = 100"]
MOSQUITTO_QUEUE = ["max_queued_messages 1000000", "max_inflight_messages 100"]

Runner = Callable[[Path], AbstractContextManager[BrokerProcess]]


def bundled(mode: str, interval: float = 1.0) -> Runner:
    """The bundled broker with persistence `mode`, its data in the given folder."""

    def run(data: Path) -> AbstractContextManager[BrokerProcess]:
        settings = [*QUEUE, f'persistence = "{mode}"', f"autosave_interval = {interval}"]
        if mode != "off":
            settings.append(f'persistence_location = "{data}"')
        return _common.run_bundled(data.parent, settings=settings)

    return run


def mosquitto(persistence: bool, interval: int = 1800) -> Runner:
    """mosquitto with `persistence true` (autosave every `interval` s) or off."""

    def run(data: Path) -> AbstractContextManager[BrokerProcess]:
        settings = list(MOSQUITTO_QUEUE)
        if persistence:
            data.mkdir(parents=True, exist_ok=True)
            settings += [
                "persistence true",
                f"persistence_location {data}/",
                f"autosave_interval {interval}",
            ]
        return _common.run_mosquitto(data.parent, settings=settings)

    return run


def baseline(revision: str, folder: Path) -> Runner:
    """The bundled broker as it was at git `revision` (no persistence), to compare "off" with."""
    source = folder / "baseline-source"
    if not source.exists():
        source.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(_common.ROOT), "archive", revision, "iotsim_tui"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)

    @contextmanager
    def run(data: Path) -> Iterator[BrokerProcess]:
        config = data.parent / "baseline.toml"
        config.write_text("[broker]\n" + "\n".join(QUEUE) + "\n")
        starter = (
            f"import sys; sys.path.insert(0, {str(source)!r}); "
            "from iotsim_tui.cli import main; sys.exit(main(sys.argv[1:]))"
        )

        def command(port: int, _tls: int | None) -> list[str]:
            options = ["--config", str(config), "--port", str(port), "--log-level", "warning"]
            return [sys.executable, "-c", starter, "broker", *options]

        broker = _common._start("baseline", data.parent, command, tls=False)
        try:
            yield broker
        finally:
            _common.stop(broker.process)

    return run


KILL_CONFIGS: dict[str, Runner] = {
    "iotsim-tui sync": bundled("sync"),
    "iotsim-tui periodic (1 s)": bundled("periodic", 1.0),
    "iotsim-tui off": bundled("off"),
    "mosquitto persistence true (autosave 1800 s, its default)": mosquitto(True),
    "mosquitto persistence true, autosave_interval 1": mosquitto(True, 1),
    "mosquitto persistence off": mosquitto(False),
}
# ---------------------------------------------------------------- kill -9


def kill_run(runner: Runner, data: Path, rng: random.Random) -> tuple[int, int, int]:
    """One kill: (acknowledged, lost, acknowledgements before the kill was sent)."""
    kill_at = rng.randint(KILL_MESSAGES // 10, KILL_MESSAGES * 9 // 10)
    with runner(data) as broker:
        subscribe_offline(broker.port, "bench-sub", "kill/#")
        process = broker.process

        def maybe_kill(acknowledged: int) -> bool:
            if acknowledged >= kill_at:
                os.kill(process.pid, signal.SIGKILL)
                return True
            return False

        acked, _ = publish_qos1(broker.port, KILL_MESSAGES, "kill/t", maybe_kill, KILL_RATE)
        process.wait()
    with runner(data) as broker:
        received = collect(broker.port, "bench-sub")
    return len(acked), len(acked - received), kill_at


# ---------------------------------------------------------------- throughput


def _subscriber(
    port: int, expected: int, ready: mp.synchronize.Event, out: mp.Queue[float]
) -> None:
    sock = connect(port, "bench-tp-sub", clean=False)
    sock.sendall(subscribe_packet("tp/#", 1))
    buffer = bytearray()
    while not any(first == 0x90 for first, _ in split_packets(buffer)):
        buffer += sock.recv(65536)
    ready.set()
    sock.settimeout(20)
    count = 0
    while count < expected:
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            break
        if not chunk:
            break
        buffer += chunk
        acks = []
        for first, body in split_packets(buffer):
            if first >> 4 == 3:
                count += 1
                topic_end = 2 + int.from_bytes(body[:2], "big")
                acks.append(b"\x40\x02" + body[topic_end : topic_end + 2])
        if acks:
            sock.sendall(b"".join(acks))
    out.put(time.perf_counter())
    out.put(count)
    sock.close()


def throughput(runner: Runner, data: Path, count: int) -> tuple[float, float, int, float]:
    """(acknowledged msg/s at the publisher, delivered msg/s, delivered, broker CPU ms per
    1,000 messages)."""
    context = mp.get_context("fork")
    ready = context.Event()
    out: mp.Queue[float] = context.Queue()
    with runner(data) as broker:
        sub = context.Process(target=_subscriber, args=(broker.port, count, ready, out))
        sub.start()
        if not ready.wait(30):
            raise RuntimeError("the subscriber did not get its SUBACK")
        cpu = _common.cpu_seconds(broker.pid)
        started = time.perf_counter()
        acked, seconds = publish_qos1(broker.port, count, "tp/t")
        last = out.get(timeout=120)
        delivered = int(out.get(timeout=10))
        cpu = _common.cpu_seconds(broker.pid) - cpu
        sub.join(10)
    rate = delivered / max(last - started, 1e-9)
    return len(acked) / seconds, rate, delivered, cpu / max(delivered, 1) * 1e6


# ---------------------------------------------------------------- restart, disk


def fill(port: int, sessions: int, retained: int) -> None:
    """`sessions` persistent sessions with one subscription each, `retained` retained messages."""
    batch = 200
    for start in range(0, sessions, batch):
        socks = []
        for number in range(start, min(start + batch, sessions)):
            sock = socket.create_connection((HOST, port), timeout=60)
            sock.sendall(
                connect_packet(f"dev-{number}", clean=False)
                + subscribe_packet(f"cmd/{number}", 1)
                + b"\xe0\x00"
            )
            socks.append(sock)
        for sock in socks:
            while sock.recv(65536):
                pass
            sock.close()
    sock = connect(port, "filler", clean=True)
    chunk = 1000
    for start in range(0, retained, chunk):
        data = b"".join(
            publish_packet(f"r/{i // 100}/{i}", PAYLOAD, 0, 0, True)
            for i in range(start, min(start + chunk, retained))
        )
        sock.sendall(data)
    sock.sendall(publish_packet("r/end", PAYLOAD, 1, 1, True))
    buffer = bytearray()
    while not any(first == 0x40 for first, _ in split_packets(buffer)):
        buffer += sock.recv(65536)
    sock.close()


def restart_time(runner: Runner, data: Path, sessions: int, retained: int) -> tuple[float, int]:
    """Seconds from starting the broker to its port answering, on a filled data folder."""
    with runner(data) as broker:
        fill(broker.port, sessions, retained)
    size = folder_size(data)
    started = time.perf_counter()
    with runner(data) as broker:
        seconds = time.perf_counter() - started
        got = collect_retained_count(broker.port)
    if got < retained:
        raise RuntimeError(f"only {got} of {retained} retained messages came back")
    return seconds, size


def collect_retained_count(port: int) -> int:
    sock = connect(port, "counter", clean=True)
    sock.sendall(subscribe_packet("r/#", 0))
    sock.settimeout(3)
    count = 0
    buffer = bytearray()
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            break
        if not chunk:
            break
        buffer += chunk
        count += sum(1 for first, _ in split_packets(buffer) if first >> 4 == 3)
    sock.close()
    return count


def queued_disk(runner: Runner, data: Path, count: int) -> int:
    """Bytes in the data folder after `count` QoS 1 messages queued for an offline session."""
    with runner(data) as broker:
        subscribe_offline(broker.port, "bench-sub", "q/#")
        publish_qos1(broker.port, count, "q/t")
    return folder_size(data)


# ---------------------------------------------------------------- storage choice


def storage_compare(folder: Path, batches: int = 2000, per_batch: int = 10) -> dict[str, float]:
    """The same batches of records to an append-only log and to SQLite in WAL mode, one fsync
    (commit) per batch, alternating batch by batch so that both meet the same disk and load.

    Medians per batch of wall and CPU microseconds; bytes per record; seconds to read all back.
    """
    records = [
        ("Q", "client", n, n, 1, False, (), 0, False, PAYLOAD) for n in range(batches * per_batch)
    ]
    log_path = folder / "log.bin"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    database = sqlite3.connect(folder / "state.sqlite", isolation_level=None)
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("PRAGMA synchronous=FULL")
    database.execute(
        "CREATE TABLE delivery (client TEXT, dno INTEGER PRIMARY KEY, mno INTEGER, qos INTEGER,"
        " retain INTEGER, ids BLOB, packet_id INTEGER, released INTEGER, payload BLOB)"
    )
    timings: dict[str, list[float]] = {"log": [], "log_cpu": [], "sqlite": [], "sqlite_cpu": []}
    for start in range(0, len(records), per_batch):
        batch = records[start : start + per_batch]
        wall, cpu = time.perf_counter(), time.process_time()
        body = pickle.dumps(batch, protocol=5)
        os.write(fd, len(body).to_bytes(4, "big") + body)
        os.fsync(fd)
        timings["log"].append(time.perf_counter() - wall)
        timings["log_cpu"].append(time.process_time() - cpu)
        wall, cpu = time.perf_counter(), time.process_time()
        database.execute("BEGIN")
        database.executemany(
            "INSERT INTO delivery VALUES (?,?,?,?,?,?,?,?,?)",
            [(r[1], r[2], r[3], r[4], r[5], b"", r[7], r[8], r[9]) for r in batch],
        )
        database.execute("COMMIT")
        timings["sqlite"].append(time.perf_counter() - wall)
        timings["sqlite_cpu"].append(time.process_time() - cpu)
    os.close(fd)
    started = time.perf_counter()
    data = log_path.read_bytes()
    position, count = 0, 0
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        count += len(pickle.loads(data[position + 4 : position + 4 + length]))  # noqa: S301
        position += 4 + length
    log_read = time.perf_counter() - started
    started = time.perf_counter()
    rows = database.execute("SELECT * FROM delivery ORDER BY dno").fetchall()
    sqlite_read = time.perf_counter() - started
    database.close()
    assert count == len(rows) == len(records)
    result = {name: _common.median(values) * 1e6 for name, values in timings.items()}
    result["log_bytes"] = log_path.stat().st_size / len(records)
    result["sqlite_bytes"] = sum(
        path.stat().st_size for path in folder.glob("state.sqlite*")
    ) / len(records)
    result["log_read"] = log_read
    result["sqlite_read"] = sqlite_read
    return result


# ---------------------------------------------------------------- main


def main() -> int:
    """Run everything, print it, write docs/performance.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="kill -9 runs per configuration")
    parser.add_argument("--messages", type=int, default=20000, help="QoS 1 throughput run")
    parser.add_argument("--repeats", type=int, default=3, help="throughput repeats")
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--retained", type=int, default=100_000)
    parser.add_argument("--soak", type=float, default=600, help="soak seconds (0: none)")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also measure the bundled broker at this git revision (before persistence)",
    )
    args = parser.parse_args()
    _common.raise_fd_limit()
    rng = random.Random(12)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-persist-") as folder:
        work = Path(folder)

        counter = iter(range(1_000_000))

        def fresh(name: str) -> Path:
            path = work / f"{name.split()[0]}-{next(counter)}" / "data"
            path.parent.mkdir(parents=True)
            return path

        storage = storage_compare(fresh("storage").parent)
        print(f"storage: {storage}", flush=True)

        kills: dict[str, list[tuple[int, int, int]]] = {}
        for kill in range(args.kills):
            for name, runner in KILL_CONFIGS.items():
                result = kill_run(runner, fresh(name), rng)
                kills.setdefault(name, []).append(result)
                print(
                    f"kill {kill + 1}/{args.kills} {name}: acked {result[0]}, lost {result[1]}",
                    flush=True,
                )

        rates: dict[str, list[tuple[float, float, int, float]]] = {}
        tp_configs = {
            "iotsim-tui sync": bundled("sync"),
            "iotsim-tui periodic (1 s)": bundled("periodic"),
            "iotsim-tui off": bundled("off"),
            "mosquitto persistence true": mosquitto(True),
            "mosquitto persistence off": mosquitto(False),
        }
        if args.baseline:
            tp_configs[f"iotsim-tui at {args.baseline} (no persistence)"] = baseline(
                args.baseline, work
            )
        for repeat in range(args.repeats):
            for name, runner in tp_configs.items():
                result = throughput(runner, fresh(name), args.messages)
                rates.setdefault(name, []).append(result)
                print(
                    f"throughput {repeat + 1}/{args.repeats} {name}: acked {result[0]:.0f}"
                    f" msg/s, delivered {result[1]:.0f} msg/s ({result[2]})",
                    flush=True,
                )

        restarts = {}
        for name, runner in (
            ("iotsim-tui periodic", bundled("periodic")),
            ("mosquitto persistence true", mosquitto(True)),
        ):
            restarts[name] = restart_time(runner, fresh(name), args.sessions, args.retained)
            print(f"restart {name}: {restarts[name]}", flush=True)
        disk = {
            name: queued_disk(runner, fresh(name), KILL_MESSAGES) / KILL_MESSAGES
            for name, runner in (
                ("iotsim-tui sync", bundled("sync")),
                ("mosquitto persistence true", mosquitto(True)),
            )
        }
        print(f"disk per queued message: {disk}", flush=True)

        soak: list[tuple[float, int, int]] = []
        if args.soak > 0:
            data = fresh("soak")
            with bundled("sync")(data) as broker:
                soak = asyncio.run(run_soak(broker.port, broker.pid, data, args.soak))
        load_end = os.getloadavg()[0]

    report = _report(args, storage, kills, rates, restarts, disk, soak, (load_start, load_end))
    print()
    print(report)
    if not args.no_write:
        _common.write_section("broker_persistence", report)
        print(f"\nwrote the broker_persistence section of {_common.PERFORMANCE_MD}")
    return 0


def _report(
    args: argparse.Namespace,
    storage: dict[str, float],
    kills: dict[str, list[tuple[int, int, int]]],
    rates: dict[str, list[tuple[float, float, int, float]]],
    restarts: dict[str, tuple[float, int]],
    disk: dict[str, float],
    soak: list[tuple[float, int, int]],
    load: tuple[float, float],
) -> str:
    out = [
        "## Broker persistence (`benchmarks/broker_persistence.py`)",
        "",
        f"Run {_common.today()} on {_common.machine()}; mosquitto 2.0.11 (Debian) in the same "
        f"run. Load average {load[0]:.1f} at the start and {load[1]:.1f} at the end: the "
        "machine is shared, so absolute rates are low and noisy; compare within a row.",
        "",
        f"**kill -9 mid-stream**: a publisher sends {KILL_MESSAGES:,} QoS 1 messages "
        f"({KILL_RATE:,.0f} a second, {WINDOW} in flight) to a persistent subscriber that is "
        "offline (its session queues "
        "them); after a random number of acknowledgements (10%-90%) the broker gets SIGKILL, is "
        "restarted on the same data, and the subscriber collects its queue. Lost = messages "
        f"acknowledged to the publisher that never arrive. {args.kills} kills per row.",
        "",
        "| broker | runs with 0 lost | lost per kill (median, max) | acknowledged (median) |",
        "|---|---:|---:|---:|",
    ]
    for name, results in kills.items():
        lost = [r[1] for r in results]
        out.append(
            f"| {name} | {sum(1 for n in lost if n == 0)} of {len(lost)} | "
            f"{_common.median(lost):,.0f}, {max(lost):,} | "
            f"{_common.median([r[0] for r in results]):,.0f} |"
        )
    out += [
        "",
        f"**QoS 1 throughput**: one publisher ({WINDOW} in flight, {args.messages:,} "
        "messages) -> one persistent subscriber, online, acknowledging; median of "
        f"{args.repeats}, the brokers alternating. Ratio to mosquitto with persistence on. "
        "Client and broker share the two loaded cores, so rates swing by 2x from run to run; "
        "the broker's CPU time per message is the steadier comparison.",
        "",
        "| broker | acknowledged msg/s | delivered msg/s | ratio | target | broker CPU ms "
        "per 1,000 msgs |",
        "|---|---:|---:|---:|---|---:|",
    ]
    reference = _common.median(r[0] for r in rates["mosquitto persistence true"])
    for name, results in rates.items():
        acked = _common.median(r[0] for r in results)
        delivered = _common.median(r[1] for r in results)
        target = ">= 0.5x " + ("met" if acked >= 0.5 * reference else "NOT met")
        out.append(
            f"| {name} | {acked:,.0f} | {delivered:,.0f} | {acked / reference:.2f}x | "
            f"{target if name == 'iotsim-tui sync' else ''} | "
            f"{_common.median(r[3] for r in results):.1f} |"
        )
    out += [
        "",
        f"**Restart** with {args.retained:,} retained messages (32 bytes) and "
        f"{args.sessions:,} persistent sessions (one subscription each): seconds from "
        "starting the process to its port answering (Python's own start-up included), after "
        "a clean stop.",
        "",
        "| broker | restart s | data on disk |",
        "|---|---:|---:|",
    ]
    for name, (seconds, size) in restarts.items():
        out.append(f"| {name} | {seconds:.2f} | {size / 2**20:.1f} MiB |")
    out += [
        "",
        f"**Disk per queued message** ({KILL_MESSAGES:,} QoS 1 messages of 32 bytes queued "
        "for an offline session, after a clean stop): "
        + ", ".join(f"{name} {size:.0f} bytes" for name, size in disk.items())
        + ".",
        "",
        "**Storage choice**: 2,000 batches of 10 queued-message records, one fsync (commit) per "
        "batch, the two alternating batch by batch; medians per batch.",
        "",
        "| | append-only log | SQLite WAL, synchronous=FULL |",
        "|---|---:|---:|",
        f"| µs per batch (wall) | {storage['log']:.0f} | {storage['sqlite']:.0f} |",
        f"| µs per batch (CPU) | {storage['log_cpu']:.0f} | {storage['sqlite_cpu']:.0f} |",
        f"| bytes per record | {storage['log_bytes']:.0f} | {storage['sqlite_bytes']:.0f} |",
        f"| s to read 20,000 records back | {storage['log_read']:.3f} | "
        f"{storage['sqlite_read']:.3f} |",
    ]
    if soak:
        warm = [s for s in soak if s[0] >= soak[-1][0] * 0.2] or soak
        rss = [s[1] / 2**20 for s in warm]
        size = [s[2] / 2**20 for s in warm]
        out += [
            "",
            f"**Soak**: {args.soak / 60:g} minutes"
            + (
                " (the default is 10; this run was shorter to fit the shared machine)"
                if args.soak < 600
                else ""
            )
            + " of 1,000 devices at 1 msg/s QoS 1, persistent "
            "sessions, each reconnecting every 20-120 s, 100 commands every 5 s (queued for "
            "devices that are away), persistence sync. After the first 20% (warm-up): broker "
            f"RSS {min(rss):.1f}-{max(rss):.1f} MiB (first {rss[0]:.1f}, last {rss[-1]:.1f}); "
            f"data folder {min(size):.2f}-{max(size):.2f} MiB (first {size[0]:.2f}, last "
            f"{size[-1]:.2f}).",
        ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
