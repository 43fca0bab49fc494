"""Broker throughput and memory: the bundled broker and mosquitto, side by side, same run.

    python benchmarks/broker_throughput.py [--repeats 3] [--quick] [--no-write]

1. End-to-end messages per second, 100 publishers -> 1 subscriber, QoS 0 and QoS 1. The load
   comes from lean raw-socket MQTT 3.1.1 clients in separate processes (pre-built packets, many
   per send), so the generator is not what is measured. Each run is bounded in count and time.
2. Memory per connection: RSS growth of the broker process after N idle MQTT connections,
   plain and TLS, measured on a freshly started broker.

Each figure is the median of `--repeats` runs; the two brokers alternate within a repeat.
Targets (issue 3): QoS 0 at least 0.5x mosquitto; at most 40 KB per plain and 120 KB per TLS
connection. The results replace the `broker_throughput` section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import ssl
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path

import _common
from _common import HOST, BrokerProcess
from _raw_mqtt import split_packets

from iotsim_tui.certs import init_certs

PAYLOAD = b"x" * 32
TOPIC_WIDTH = 3
PUBLISHER_PROCESSES = 4
QOS1_WINDOW = 10
"""Unacknowledged QoS 1 messages per publisher, like a client's receive maximum."""
BATCH = 50
"""QoS 0 messages per send() call."""
IDLE_END = 10.0
"""Seconds without a message, once publishers are done, after which a run ends."""

# Alike on both sides: queue everything, 100 QoS 1 messages in flight, and never drop QoS 0
# for a slow subscriber (mosquitto does not by default; the bundled broker does past 256 KiB).
MOSQUITTO_SETTINGS = ["max_queued_messages 1000000", "max_inflight_messages 100"]
BUNDLED_SETTINGS = [
    "max_queued_messages = 1000000",
    "max_inflight = 100",
    f"write_buffer_limit = {1 << 30}",
    f"write_buffer_disconnect = {1 << 31}",
]

# ---------------------------------------------------------------- MQTT 3.1.1, by hand


def _remaining(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def connect_packet(client_id: str) -> bytes:
    """CONNECT, MQTT 3.1.1, clean session, no keepalive (no PINGREQ in the measurements)."""
    body = _string("MQTT") + b"\x04\x02\x00\x00" + _string(client_id)
    return b"\x10" + _remaining(len(body)) + body


def publish_packet(topic: str, payload: bytes, qos: int, packet_id: int = 0) -> bytes:
    """PUBLISH at QoS 0 or 1."""
    body = _string(topic) + (packet_id.to_bytes(2, "big") if qos else b"") + payload
    return bytes([0x30 | qos << 1]) + _remaining(len(body)) + body


def subscribe_packet(topic_filter: str, qos: int) -> bytes:
    """SUBSCRIBE with packet id 1."""
    body = b"\x00\x01" + _string(topic_filter) + bytes([qos])
    return b"\x82" + _remaining(len(body)) + body


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return bytes(data)


def mqtt_connect(sock: socket.socket, client_id: str) -> None:
    """Send CONNECT and check the CONNACK accepts it."""
    sock.sendall(connect_packet(client_id))
    connack = _read_exactly(sock, 4)
    if connack[0] != 0x20 or connack[3] != 0:
        raise ConnectionError(f"CONNACK refused: {connack.hex()}")


# ---------------------------------------------------------------- load processes


def subscriber(
    port: int,
    qos: int,
    ready: Event,
    publishers_done: Event,
    expected: Synchronized[int],
    deadline: float,
    results: mp.Queue[tuple[int, float, float]],
) -> None:
    """Count every PUBLISH on bench/#, acknowledging QoS 1; report (count, last arrival)."""
    sock = socket.create_connection((HOST, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    mqtt_connect(sock, "bench-subscriber")
    sock.sendall(subscribe_packet("bench/#", qos))
    suback = _read_exactly(sock, 5)
    if suback[0] != 0x90:
        raise ConnectionError(f"SUBACK expected: {suback.hex()}")
    ready.set()
    sock.settimeout(0.25)
    count, last, buffer = 0, time.monotonic(), bytearray()
    done_at = 0.0
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            chunk = b""
        now = time.monotonic()
        if chunk:
            last = now
            buffer += chunk
            acks = []
            for first, body in split_packets(buffer):
                if first >> 4 == 3:
                    count += 1
                    if first & 0x06:
                        topic_end = 2 + int.from_bytes(body[:2], "big")
                        acks.append(b"\x40\x02" + body[topic_end : topic_end + 2])
            if acks:
                sock.sendall(b"".join(acks))
        elif publishers_done.is_set():
            # Idle time counts from the later of the last message and the publishers' end.
            done_at = done_at or now
            if count >= expected.value or now - max(last, done_at) > IDLE_END:
                break
    results.put((count, last, time.process_time()))
    sock.close()


def publishers(
    port: int,
    first: int,
    count: int,
    messages: int,
    qos: int,
    ready: mp.Queue[int],
    go: Event,
    sent: mp.Queue[int],
    limit: float,
) -> None:
    """Connect `count` publishers, wait for `go`, send `messages` each for at most `limit` s."""
    sockets = []
    for n in range(first, first + count):
        sock = socket.create_connection((HOST, port))
        mqtt_connect(sock, f"bench-publisher-{n}")
        sockets.append((sock, f"bench/{n:0{TOPIC_WIDTH}d}"))
    ready.put(count)
    go.wait()
    deadline = time.monotonic() + limit
    total = 0
    if qos == 0:
        batches = {topic: publish_packet(topic, PAYLOAD, 0) * BATCH for _, topic in sockets}
        for _ in range(messages // BATCH):
            if time.monotonic() > deadline:
                break
            for sock, topic in sockets:
                sock.sendall(batches[topic])
            total += BATCH * len(sockets)
    else:
        packet_id = 0
        for _ in range(messages // QOS1_WINDOW):
            if time.monotonic() > deadline:
                break
            ids = [(packet_id + i) % 65535 + 1 for i in range(QOS1_WINDOW)]
            packet_id += QOS1_WINDOW
            for sock, topic in sockets:
                sock.sendall(b"".join(publish_packet(topic, PAYLOAD, 1, i) for i in ids))
            for sock, _ in sockets:
                _read_exactly(sock, 4 * QOS1_WINDOW)  # the PUBACKs
            total += QOS1_WINDOW * len(sockets)
    sent.put(total)
    for sock, _ in sockets:
        sock.close()


@dataclass(frozen=True)
class Throughput:
    """One end-to-end run."""

    sent: int
    received: int
    seconds: float
    broker_cpu: float
    subscriber_cpu: float
    """CPU seconds the subscriber used; near `seconds`, it and not the broker set the pace."""

    @property
    def rate(self) -> float:
        """Messages the subscriber received per second."""
        return self.received / self.seconds if self.seconds > 0 else 0.0


def throughput(
    broker: BrokerProcess, qos: int, n_publishers: int, messages: int, limit: float
) -> Throughput:
    """100 publishers -> 1 subscriber on `broker`, `messages` each, at most `limit` seconds."""
    context = mp.get_context("fork")
    ready_sub, done, go = context.Event(), context.Event(), context.Event()
    expected = context.Value("q", 1 << 62)
    results: mp.Queue[tuple[int, float, float]] = context.Queue()
    ready_pub: mp.Queue[int] = context.Queue()
    sent: mp.Queue[int] = context.Queue()
    deadline = time.monotonic() + limit + 30
    sub = context.Process(
        target=subscriber, args=(broker.port, qos, ready_sub, done, expected, deadline, results)
    )
    sub.start()
    if not ready_sub.wait(30):
        raise RuntimeError("the subscriber did not get its SUBACK")
    per_process = n_publishers // PUBLISHER_PROCESSES
    workers = [
        context.Process(
            target=publishers,
            args=(
                broker.port,
                i * per_process,
                per_process,
                messages,
                qos,
                ready_pub,
                go,
                sent,
                limit,
            ),
        )
        for i in range(PUBLISHER_PROCESSES)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready_pub.get(timeout=60)
    cpu_before = _common.cpu_seconds(broker.pid)
    started = time.monotonic()
    go.set()
    total = sum(sent.get(timeout=limit + 60) for _ in workers)
    expected.value = total
    done.set()
    received, last, subscriber_cpu = results.get(timeout=limit + 60)
    cpu = _common.cpu_seconds(broker.pid) - cpu_before
    for process in [*workers, sub]:
        process.join(10)
        if process.is_alive():
            process.kill()
    return Throughput(total, received, max(last - started, 1e-9), cpu, subscriber_cpu)


# ---------------------------------------------------------------- memory per connection


def memory_per_connection(
    broker: BrokerProcess, connections: int, tls_context: ssl.SSLContext | None
) -> float:
    """Bytes of broker RSS per idle MQTT connection (plain, or TLS with `tls_context`)."""
    port = broker.tls_port if tls_context is not None else broker.port
    assert port is not None

    def open_one(n: int) -> socket.socket:
        raw = socket.create_connection((HOST, port), timeout=30)
        sock = (
            tls_context.wrap_socket(raw, server_hostname="localhost")
            if tls_context is not None
            else raw
        )
        mqtt_connect(sock, f"bench-idle-{n}")
        return sock

    # Warm up: the first connections pay for code paths and buffers every later one shares.
    for sock in [open_one(-n - 1) for n in range(20)]:
        sock.close()
    time.sleep(1.0)
    before = _common.rss(broker.pid)
    opened = [open_one(n) for n in range(connections)]
    time.sleep(2.0)
    after = _common.rss(broker.pid)
    for sock in opened:
        sock.close()
    return (after - before) / connections


# ---------------------------------------------------------------- the run


BrokerRunner = Callable[..., AbstractContextManager[BrokerProcess]]


def _brokers() -> Iterator[tuple[str, BrokerRunner, list[str]]]:
    yield "iotsim-tui", _common.run_bundled, BUNDLED_SETTINGS
    yield "mosquitto", _common.run_mosquitto, MOSQUITTO_SETTINGS


def main() -> int:
    """Run the measurements, print them, and write docs/performance.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--publishers", type=int, default=100)
    parser.add_argument("--qos0-messages", type=int, default=3000, help="per publisher")
    parser.add_argument("--qos1-messages", type=int, default=1000, help="per publisher")
    parser.add_argument("--connections", type=int, default=1000, help="idle plain connections")
    parser.add_argument("--tls-connections", type=int, default=500)
    parser.add_argument("--limit", type=float, default=30.0, help="seconds per run at most")
    parser.add_argument("--quick", action="store_true", help="one small repeat, no docs")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.qos0_messages, args.qos1_messages = 1, 200, 50
        args.connections, args.tls_connections, args.no_write = 200, 100, True
    if args.publishers % PUBLISHER_PROCESSES:
        parser.error(f"--publishers must be a multiple of {PUBLISHER_PROCESSES}")
    _common.raise_fd_limit()

    rates: dict[tuple[str, int], list[Throughput]] = {}
    memory: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-broker-") as folder:
        workdir = Path(folder)
        certs = init_certs(workdir / "certs").directory
        client_tls = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        for repeat in range(args.repeats):
            for name, run, settings in _brokers():
                for qos, messages in ((0, args.qos0_messages), (1, args.qos1_messages)):
                    with run(workdir, settings=settings) as broker:
                        result = throughput(broker, qos, args.publishers, messages, args.limit)
                    rates.setdefault((name, qos), []).append(result)
                    print(
                        f"[{repeat + 1}/{args.repeats}] {name:<10} QoS {qos}: "
                        f"{result.rate:9.0f} msg/s  ({result.received}/{result.sent} in "
                        f"{result.seconds:.2f} s, CPU: broker {result.broker_cpu:.2f} s, "
                        f"subscriber {result.subscriber_cpu:.2f} s)",
                        flush=True,
                    )
                for kind, count, tls in (
                    ("plain", args.connections, None),
                    ("TLS", args.tls_connections, client_tls),
                ):
                    with run(workdir, certs=certs, settings=settings) as broker:
                        per = memory_per_connection(broker, count, tls)
                    memory.setdefault((name, kind), []).append(per)
                    print(
                        f"[{repeat + 1}/{args.repeats}] {name:<10} {kind:<5} "
                        f"{per / 1024:6.1f} KB per connection ({count} connections)",
                        flush=True,
                    )

    report = _report(rates, memory, args)
    print()
    print(report)
    if not args.no_write:
        _common.write_section("broker_throughput", report)
        print(f"\nwrote the broker_throughput section of {_common.PERFORMANCE_MD}")
    return 0


def _report(
    rates: dict[tuple[str, int], list[Throughput]],
    memory: dict[tuple[str, str], list[float]],
    args: argparse.Namespace,
) -> str:
    def rate(name: str, qos: int) -> float:
        return _common.median(r.rate for r in rates[(name, qos)])

    def delivered(name: str, qos: int) -> str:
        runs = rates[(name, qos)]
        share = _common.median(r.received / r.sent for r in runs if r.sent)
        return f"{share:.1%}"

    def cpu_per_k(name: str, qos: int) -> float:
        return _common.median(1000 * r.broker_cpu / max(r.received, 1) for r in rates[(name, qos)])

    def kb(name: str, kind: str) -> float:
        return _common.median(memory[(name, kind)]) / 1024

    def busy(name: str, qos: int) -> str:
        runs = rates[(name, qos)]
        return f"{_common.median(r.subscriber_cpu / r.seconds for r in runs):.0%}"

    def paired(qos: int) -> float:
        # Each repeat runs both brokers back to back: the ratio within a pair is steadier
        # on a shared machine than the ratio of two medians.
        pairs = zip(rates[("iotsim-tui", qos)], rates[("mosquitto", qos)], strict=True)
        return _common.median(ours.rate / theirs.rate for ours, theirs in pairs if theirs.rate)

    lines = [
        "## Broker throughput and memory (`benchmarks/broker_throughput.py`)",
        "",
        f"Run {_common.today()} on {_common.machine()}; median of {args.repeats} runs, "
        "the bundled broker and mosquitto "
        f"{_mosquitto_version()} alternating in the same run. Load: {args.publishers} raw-socket "
        f"MQTT 3.1.1 publishers in {PUBLISHER_PROCESSES} processes -> 1 subscriber on `bench/#`, "
        f"{len(PAYLOAD)}-byte payloads; QoS 0: {args.qos0_messages} messages per publisher, "
        f"{BATCH} per send; QoS 1: {args.qos1_messages} per publisher, {QOS1_WINDOW} in flight "
        "each. Both brokers queue up to 1,000,000 messages and send 100 in flight. Rate = "
        "messages the subscriber received / seconds from the start signal to the last one; "
        "the msg/s ratio is the median of the per-repeat ratios (each repeat runs both "
        "brokers back to back). Load generator, subscriber and broker share the same cores "
        f"(load average {os.getloadavg()[0]:.1f} at the end of the run), so broker CPU per "
        "message is the steadier comparison.",
        "",
        "| | iotsim-tui | mosquitto | ratio | target |",
        "|---|---:|---:|---:|---|",
    ]
    for qos in (0, 1):
        ours, theirs, ratio = rate("iotsim-tui", qos), rate("mosquitto", qos), paired(qos)
        target = ">= 0.5x" if qos == 0 else ""
        verdict = (" " + ("met" if ratio >= 0.5 else "MISSED")) if qos == 0 else ""
        lines.append(
            f"| QoS {qos} msg/s | {ours:,.0f} | {theirs:,.0f} | {ratio:.2f}x | {target}{verdict} |"
        )
        lines.append(
            f"| QoS {qos} delivered | {delivered('iotsim-tui', qos)} | "
            f"{delivered('mosquitto', qos)} | | |"
        )
        lines.append(
            f"| QoS {qos} subscriber CPU / run time | {busy('iotsim-tui', qos)} | "
            f"{busy('mosquitto', qos)} | | < 100%: not the bottleneck |"
        )
        lines.append(
            f"| QoS {qos} broker CPU s per 1,000 msgs | {cpu_per_k('iotsim-tui', qos):.3f} | "
            f"{cpu_per_k('mosquitto', qos):.3f} | "
            f"{_ratio(cpu_per_k('iotsim-tui', qos), cpu_per_k('mosquitto', qos))} | |"
        )
    for kind, count, limit in (
        ("plain", args.connections, 40),
        ("TLS", args.tls_connections, 120),
    ):
        ours, theirs = kb("iotsim-tui", kind), kb("mosquitto", kind)
        verdict = "met" if ours <= limit else "MISSED"
        lines.append(
            f"| KB per idle {kind} connection ({count}) | {ours:.1f} | {theirs:.1f} | "
            f"{_ratio(ours, theirs)} | <= {limit} KB {verdict} |"
        )
    return "\n".join(lines)


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.1f}x" if theirs > 0 else "-"


def _mosquitto_version() -> str:
    binary = _common.mosquitto_binary()
    if binary is None:
        return ""
    import subprocess

    result = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=10, check=False)
    first = (result.stdout or result.stderr).splitlines()[:1]
    words = first[0].split() if first else []
    return words[2] if len(words) > 2 and words[1] == "version" else ""


if __name__ == "__main__":
    sys.exit(main())
