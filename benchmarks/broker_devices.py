"""Broker CPU under devices' load: many clients, one message per write, side by side.

10,000 raw-socket MQTT 3.1.1 clients (keepalive 60 s), in 4 processes, each publish a small
JSON payload once a second at QoS 0, one PUBLISH per `send()` as a device does, spread evenly
over the second; one subscriber on `#` counts what arrives. Each repeat runs the bundled
broker and mosquitto back to back (and, with `--compare-with DIR`, the bundled broker of
another commit exported into DIR: `git archive COMMIT | tar -x -C DIR`), in turn. The figure
that matters is the broker's CPU-seconds per 10,000 messages, steady on a loaded machine
where wall-clock rates are not.

    .venv/bin/python benchmarks/broker_devices.py               # 3 repeats, writes docs
    .venv/bin/python benchmarks/broker_devices.py --quick       # 1,000 clients, no docs
    .venv/bin/python benchmarks/broker_devices.py --profile 10  # py-spy of the bundled broker
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path

import _common
import _pyspy
from _common import HOST, BrokerProcess
from broker_throughput import publish_packet, subscribe_packet

from iotsim_tui import event_loop

PROCESSES = 4
KEEPALIVE = 60
PAYLOAD_WIDTH = 5
QUIET = 5.0
"""Seconds without a message, once the clients are done, after which the subscriber stops."""
TARGET = 1.2
PROFILE_RATE = 200
"""py-spy samples a second, with `--profile`."""
"""The bundled broker's CPU per message at most this many times mosquitto's (issue 18)."""


def _connect(sock: socket.socket, client_id: str) -> None:
    name = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02" + KEEPALIVE.to_bytes(2, "big") + len(name).to_bytes(2, "big")
    body += name
    sock.sendall(b"\x10" + bytes([len(body)]) + body)
    answer = b""
    while len(answer) < 4:
        chunk = sock.recv(4 - len(answer))
        if not chunk:
            raise ConnectionError(f"{client_id}: closed before CONNACK")
        answer += chunk
    if answer[0] != 0x20 or answer[3] != 0:
        raise ConnectionError(f"{client_id}: CONNACK refused: {answer.hex()}")


def _payload(n: int, second: int) -> bytes:
    return b'{"t":%5d,"v":%05d}' % (second % 100_000, n % 100_000)


def devices(
    port: int, first: int, count: int, ready: mp.Queue[int], go: Event, seconds: int
) -> None:
    """Connect `count` clients; after `go`, each publishes once a second for `seconds` s."""
    sockets: list[tuple[socket.socket, str]] = []
    for n in range(first, first + count):
        sock = socket.create_connection((HOST, port), timeout=60)
        _connect(sock, f"device-{n:05d}")
        sockets.append((sock, f"devices/{n:05d}/telemetry"))
    ready.put(count)
    go.wait()
    start = time.monotonic()
    sent = 0
    for second in range(seconds):
        for index, (sock, topic) in enumerate(sockets):
            due = start + second + index / count
            wait = due - time.monotonic()
            if wait > 0.005:
                time.sleep(wait)
            sock.send(publish_packet(topic, _payload(index, second), 0))
            sent += 1
    ready.put(sent)
    time.sleep(1.0)  # the last messages reach the subscriber before the clients leave
    for sock, _ in sockets:
        sock.close()


def subscriber(
    port: int, ready: Event, expected: Synchronized[int], results: mp.Queue[int]
) -> None:
    """Subscribe to `#`; count the PUBLISH packets (all of one size) until `expected` have
    arrived, or nothing has for `QUIET` seconds once `expected` is known."""
    sock = socket.create_connection((HOST, port), timeout=30)
    _connect(sock, "devices-subscriber")
    sock.sendall(subscribe_packet("#", 0))
    suback = sock.recv(5)
    if not suback or suback[0] != 0x90:
        raise ConnectionError(f"SUBACK expected: {suback.hex()}")
    ready.set()
    size = len(publish_packet("devices/00000/telemetry", _payload(0, 0), 0))
    sock.settimeout(0.2)
    received = 0
    last = time.monotonic()
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            chunk = b""
        now = time.monotonic()
        if chunk:
            received += len(chunk)
            last = now
        target = expected.value
        if target and (received // size >= target or now - last > QUIET):
            break
    results.put(received // size)
    sock.close()


def run_once(
    broker: BrokerProcess, clients: int, seconds: int, profile: Path | None = None
) -> dict[str, float]:
    """One run: connect, publish for `seconds`; the broker's CPU and the delivery.

    With `profile`, py-spy samples the broker while the clients publish (raw, into it)."""
    context = mp.get_context("fork")
    sub_ready, go = context.Event(), context.Event()
    expected = context.Value("q", 0)
    results: mp.Queue[int] = context.Queue()
    ready: mp.Queue[int] = context.Queue()
    sub = context.Process(target=subscriber, args=(broker.port, sub_ready, expected, results))
    sub.start()
    if not sub_ready.wait(30):
        raise RuntimeError("the subscriber did not get its SUBACK")
    each = clients // PROCESSES
    workers = [
        context.Process(target=devices, args=(broker.port, i * each, each, ready, go, seconds))
        for i in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=300)
    rss = _common.rss(broker.pid)
    time.sleep(1.0)
    cpu_before = _common.cpu_seconds(broker.pid)
    started = time.monotonic()
    go.set()
    spy = None
    if profile is not None:
        spy = _pyspy.start(broker.pid, max(seconds - 2, 1), profile, PROFILE_RATE)
    sent = sum(ready.get(timeout=seconds + 120) for _ in workers)
    elapsed = time.monotonic() - started
    cpu = _common.cpu_seconds(broker.pid) - cpu_before
    expected.value = sent
    received = results.get(timeout=60)
    if spy is not None:
        spy.communicate(timeout=60)
    for process in [*workers, sub]:
        process.join(10)
        if process.is_alive():
            process.kill()
    return {
        "sent": sent,
        "received": received,
        "cpu": cpu,
        "elapsed": elapsed,
        "rss_mb": rss / 1e6,
        "per_10k": cpu / max(sent, 1) * 10_000,
    }


Runner = Callable[..., AbstractContextManager[BrokerProcess]]


@contextmanager
def _on_asyncio_loop(workdir: Path) -> Iterator[BrokerProcess]:
    """The bundled broker with uvloop turned off (`IOTSIM_EVENT_LOOP=asyncio`)."""
    before = os.environ.get(event_loop.ENV)
    os.environ[event_loop.ENV] = "asyncio"
    try:
        with _common.run_bundled(workdir) as broker:
            yield broker
    finally:
        if before is None:
            del os.environ[event_loop.ENV]
        else:
            os.environ[event_loop.ENV] = before


def main() -> int:
    """Run the comparison; print it and write its section of docs/performance.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=20, help="of publishing, per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare-with", type=Path, help="another commit's export to run too")
    parser.add_argument("--compare-label", help="what the --compare-with folder holds")
    parser.add_argument("--quick", action="store_true", help="1,000 clients, 5 s, no docs")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument(
        "--profile",
        type=int,
        metavar="SECONDS",
        help="instead: one run of the bundled broker under py-spy (on each loop), printed",
    )
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds, args.repeats, args.no_write = 1000, 5, 1, True
    _common.raise_fd_limit()
    if args.profile:
        return _profile(args.clients, args.profile)
    sides: list[tuple[str, Runner]] = [("iotsim-tui", _common.run_bundled)]
    if event_loop.name() == "uvloop":  # and the same broker on asyncio's loop, to weigh uvloop
        sides = [
            ("iotsim-tui, uvloop", _common.run_bundled),
            ("iotsim-tui, asyncio loop", _on_asyncio_loop),
        ]
    if args.compare_with is not None:
        label = f"iotsim-tui: {args.compare_label or args.compare_with}"
        sides.append((label, functools.partial(_common.run_bundled, code=args.compare_with)))
    sides.append(("mosquitto", _common.run_mosquitto))
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in sides}
    with tempfile.TemporaryDirectory(prefix="bench-devices-") as folder:
        for repeat in range(args.repeats):
            turn = sides[repeat % len(sides) :] + sides[: repeat % len(sides)]
            for name, run in turn:
                with run(Path(folder)) as broker:
                    result = run_once(broker, args.clients, args.seconds)
                runs[name].append(result)
                print(
                    f"[{repeat + 1}/{args.repeats}] {name}: {result['received']:.0f}/"
                    f"{result['sent']:.0f} delivered, broker CPU {result['cpu']:.2f} s "
                    f"({result['per_10k']:.3f} s per 10k msg), RSS {result['rss_mb']:.0f} MB",
                    flush=True,
                )
    report = _report(runs, args, load_before, os.getloadavg())
    print()
    print(report)
    if not args.no_write:
        _common.write_section("broker_devices", report)
        print(f"\nwrote the broker_devices section of {_common.PERFORMANCE_MD}")
    return 0


def _profile(clients: int, seconds: int) -> int:
    """Profile the bundled broker under the load (`--profile`): where its CPU goes."""
    if _pyspy.available() is None:
        print("py-spy is not installed (pip install py-spy)", file=sys.stderr)
        return 1
    sides: list[tuple[str, Runner]] = [("iotsim-tui, asyncio loop", _on_asyncio_loop)]
    if event_loop.name() == "uvloop":
        sides.insert(0, ("iotsim-tui, uvloop", _common.run_bundled))
    print(f"load average {os.getloadavg()[0]:.1f}; {clients:,} clients, {seconds} s")
    with tempfile.TemporaryDirectory(prefix="bench-devices-") as folder:
        for name, run in sides:
            raw = Path(folder) / "broker.spy"
            with run(Path(folder)) as broker:
                result = run_once(broker, clients, seconds + 2, raw)
            profile = _pyspy.read(raw, seconds, PROFILE_RATE)
            busy = profile.samples / (seconds * PROFILE_RATE)
            print(
                f"\n{name}: {result['per_10k']:.3f} CPU-s per 10k msg; py-spy {profile.samples} "
                f"busy samples ({busy:.0%} of a core), {profile.waiting} in epoll's wait"
            )
            print("  by area:")
            for area, share in profile.by_area():
                print(f"    {share:6.1%}  {area}")
            print("  by function (its own time):")
            for function, share in profile.top(15):
                print(f"    {share:6.1%}  {function}")
            print("  the broker's functions, with what they call:")
            for function, share in profile.top_inclusive(15, "iotsim_tui/"):
                print(f"    {share:6.1%}  {function}")
    return 0


def _report(
    runs: dict[str, list[dict[str, float]]],
    args: argparse.Namespace,
    before: tuple[float, float, float],
    after: tuple[float, float, float],
) -> str:
    names = list(runs)
    reference = runs["mosquitto"]
    lines = [
        "## Broker under devices' load (`benchmarks/broker_devices.py`)",
        "",
        f"{_common.machine()}; {_common.today()}; load average {before[0]:.1f} before, "
        f"{after[0]:.1f} after (a shared machine: the brokers alternate, so both meet the "
        f"same load). {args.clients:,} raw-socket MQTT 3.1.1 clients (keepalive {KEEPALIVE} s) "
        f"in {PROCESSES} processes each publish a 21-byte JSON payload once a second at QoS 0, "
        f"one PUBLISH per write, spread over the second, for {args.seconds} s; one subscriber "
        f"on `#`. {args.repeats} runs of each broker, in turn; medians. Both brokers with "
        "their default settings; the bundled broker on uvloop where it is installed "
        "(`iotsim-tui[fast]`), and on asyncio's own loop (`IOTSIM_EVENT_LOOP=asyncio`). Broker "
        "CPU = its user + system seconds while the clients publish.",
        "",
        "| broker | delivered | broker CPU (% of a core) | CPU-seconds per 10k msg | each run "
        "| RSS with the clients connected | ratio to mosquitto |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for name in names:
        results = runs[name]
        delivered = _common.median(r["received"] / max(r["sent"], 1) for r in results)
        share = _common.median(r["cpu"] / r["elapsed"] for r in results)
        per = _common.median(r["per_10k"] for r in results)
        ratio = _common.median(
            r["per_10k"] / m["per_10k"] for r, m in zip(results, reference, strict=True)
        )
        each = ", ".join(f"{r['per_10k']:.3f}" for r in results)
        rss = _common.median(r["rss_mb"] for r in results)
        lines.append(
            f"| {name} | {delivered:.1%} | {share:.0%} | {per:.3f} | {each} | {rss:.0f} MB "
            f"| {ratio:.2f}x |"
        )
    ours = _common.median(
        r["per_10k"] / m["per_10k"] for r, m in zip(runs[names[0]], reference, strict=True)
    )
    verdict = "met" if ours <= TARGET else "not met"
    lines += [
        "",
        f"Target: the bundled broker's CPU at most {TARGET}x mosquitto's: {ours:.2f}x, {verdict}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
