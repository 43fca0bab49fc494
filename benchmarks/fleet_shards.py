"""A fleet beyond one process: N shards of one profile against N broker instances.

    python benchmarks/fleet_shards.py                          # the moonshot: 100,000 devices
    python benchmarks/fleet_shards.py --devices 3000 --duration 40 --no-write   # a smoke run

What a multi-machine run does (docs/scale-out.md), on one machine: shard i of N runs
`iotsim-tui run PROFILE --shard i/N` against broker instance i, one per "cluster node" (a
clustered broker gives each client one node; a TCP load balancer in front of several mosquitto
instances does the same). The brokers are mosquitto (Debian package), then the bundled broker
(`iotsim-tui broker`), N instances each. One `mosquitto_sub` per instance subscribes to the
devices' telemetry and to `$SYS/broker/clients/connected`.

Reported for each kind of broker: devices connected (and seconds until all were, from the
brokers' own counts), messages the shards published and the subscribers received (delivered
%), the shards' peak memory (sum of each shard process's peak RSS), and where the CPU went
(CPU seconds of the shards, the brokers and the subscribers). Targets (issue 15), at 100,000
devices publishing every 10 s: at least 98% delivered, and the devices' memory under 2 GB.
The result replaces the `fleet_shards` section of docs/performance.md (unless --no-write).

Every process runs on 127.0.0.1 on free ports, is started here and stopped by its handle; the
run is bounded by --duration (plus a grace for starting and stopping).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import _common
import psutil
from _common import HOST

GRACE = 120.0
"""Seconds past --duration a run may take (brokers start, shards stop) before it is ended."""
SAMPLE = 0.5
"""Seconds between samples of memory, CPU and the subscribers' output."""
TOPICS = ["-t", "fleet/#", "-t", "$SYS/broker/clients/connected"]
FINAL = re.compile(r"messages: ([\d,]+) published")
RAN = re.compile(r"([\d,]+) devices? ran for ([\d.]+) s; ([\d,]+) (?:was|were) connected")


@dataclass
class Watched:
    """A process of the run, with its latest CPU time and its peak memory."""

    role: str
    """"shard", "broker" or "subscriber"."""
    process: subprocess.Popen[bytes]
    cpu: float = 0.0
    peak_rss: int = 0

    def sample(self) -> None:
        """Read CPU and memory of the process and its children, while they are there."""
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            main = psutil.Process(self.process.pid)
            tree = [main, *main.children(recursive=True)]
            cpu, rss = 0.0, 0
            for process in tree:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    times = process.cpu_times()
                    cpu += times.user + times.system
                    rss += process.memory_info().rss
            self.cpu = max(self.cpu, cpu)
            self.peak_rss = max(self.peak_rss, rss)


@dataclass
class Subscriber:
    """A `mosquitto_sub` on one broker: telemetry counted, the connected count followed."""

    output: Path
    watched: Watched
    received: int = 0
    connected: int = 0
    _offset: int = 0
    _rest: bytes = b""

    def read(self) -> None:
        """Count what arrived since the last read."""
        with self.output.open("rb") as file:
            file.seek(self._offset)
            data = file.read()
        self._offset += len(data)
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()
        for line in lines:
            if line.startswith(b"fleet/"):
                self.received += 1
            elif line.startswith(b"$SYS/broker/clients/connected "):
                self.connected = int(line.rsplit(b" ", 1)[1])


@dataclass
class Outcome:
    """What one kind of broker gave."""

    broker: str
    devices: int
    connected_at_end: int = 0
    all_connected_after: float | None = None
    published: int = 0
    delivered: int = 0
    shard_rss: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    failed_shards: int = 0

    @property
    def delivered_share(self) -> float:
        return self.delivered / self.published if self.published else float("nan")


def write_profile(folder: Path, devices: int, interval: float, ramp: float | None) -> Path:
    """The fleet: one template of `devices` sensors, each publishing every `interval` s."""
    ramp_lines = f"\n[network.ramp]\nrate = {ramp}\n" if ramp else ""
    path = folder / "fleet_shards.toml"
    path.write_text(
        f"""\
[network]
name = "FLEET_SHARDS"

[network.broker]
host = "{HOST}"
bundled = false
client_id_prefix = "shards-"
{ramp_lines}
[[templates]]
name = "Sensor {{n}}"
id = "S{{n}}"
count = {devices}

[[templates.telemetry]]
topic = "fleet/{{id}}"
interval = {interval}

[templates.telemetry.fields]
t = {{ kind = "walk", min = 15.0, max = 35.0, step = 0.5, round = 1 }}
"""
    )
    return path


@contextlib.contextmanager
def brokers(kind: str, count: int, folder: Path) -> Iterator[list[_common.BrokerProcess]]:
    """`count` instances of mosquitto or of the bundled broker, each on its own port."""
    with contextlib.ExitStack() as stack:
        started = []
        for index in range(count):
            workdir = folder / f"{kind}-{index}"
            workdir.mkdir()
            if kind == "mosquitto":
                settings = ["sys_interval 1", "max_queued_messages 100000"]
                started.append(
                    stack.enter_context(_common.run_mosquitto(workdir, settings=settings))
                )
            else:
                settings = ["max_queued_messages = 100000"]  # $SYS every second by default
                started.append(stack.enter_context(_common.run_bundled(workdir, settings=settings)))
        yield started


def subscribe(broker: _common.BrokerProcess, folder: Path, index: int) -> Subscriber:
    """A `mosquitto_sub` on the broker's telemetry and its connected count."""
    binary = shutil.which("mosquitto_sub")
    if binary is None:
        raise SystemExit("mosquitto_sub is not installed (apt-get install mosquitto-clients)")
    output = folder / f"subscriber-{index}.txt"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [binary, "-h", HOST, "-p", str(broker.port), "-v", "-q", "0", *TOPICS],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Subscriber(output, Watched("subscriber", process))


def run_case(kind: str, options: argparse.Namespace, folder: Path, profile: Path) -> Outcome:
    """All shards against `shards` instances of one kind of broker."""
    count = options.shards
    outcome = Outcome(kind, options.devices)
    with brokers(kind, count, folder) as started:
        watched = [Watched("broker", broker.process) for broker in started]
        subscribers = [subscribe(broker, folder, i) for i, broker in enumerate(started)]
        watched += [s.watched for s in subscribers]
        wait_subscribed(subscribers)
        shards: list[tuple[Watched, Path]] = []
        extra = run_options()
        begun = time.monotonic()
        for index, broker in enumerate(started):
            log = folder / f"{kind}-shard-{index + 1}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [
                        *(sys.executable, "-m", "iotsim_tui", "run", str(profile)),
                        *("--shard", f"{index + 1}/{count}", "--host", HOST),
                        *("--port", str(broker.port), "--no-broker"),
                        *("--duration", f"{options.duration:g}"),
                        *extra,
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            shard = Watched("shard", process)
            shards.append((shard, log))
            watched.append(shard)
        deadline = begun + options.duration + GRACE
        while any(s.process.poll() is None for s, _ in shards):
            if time.monotonic() > deadline:
                for shard, _ in shards:
                    _common.stop(shard.process)
                break
            step(watched, subscribers)
            connected = sum(max(s.connected - 1, 0) for s in subscribers)  # less the subscriber
            if outcome.all_connected_after is None and connected >= options.devices:
                outcome.all_connected_after = time.monotonic() - begun
            time.sleep(SAMPLE)
        outcome.seconds = time.monotonic() - begun
        # The last messages in flight reach the subscribers.
        settle = time.monotonic() + 3.0
        while time.monotonic() < settle:
            step(watched, subscribers)
            time.sleep(SAMPLE)
        for subscriber in subscribers:
            _common.stop(subscriber.watched.process)
            subscriber.read()
        for _, log in shards:
            text = log.read_text(errors="replace")
            published = FINAL.search(text)
            ran = RAN.search(text)
            if published is None or ran is None:
                outcome.failed_shards += 1
                print(f"{kind} shard: no summary in {log}:\n{text[-1500:]}", file=sys.stderr)
                continue
            outcome.published += int(published[1].replace(",", ""))
            outcome.connected_at_end += int(ran[3].replace(",", ""))
    outcome.delivered = sum(s.received for s in subscribers)
    outcome.shard_rss = sum(s.peak_rss for s, _ in shards)
    for role in ("shard", "broker", "subscriber"):
        outcome.cpu[role] = sum(w.cpu for w in watched if w.role == role)
    return outcome


def run_options() -> list[str]:
    """`--no-probe` where `run` has a latency probe: it would be one more client per shard."""
    usage = subprocess.run(
        [sys.executable, "-m", "iotsim_tui", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return ["--no-probe"] if "--no-probe" in usage else []


def step(watched: list[Watched], subscribers: list[Subscriber]) -> None:
    for item in watched:
        item.sample()
    for subscriber in subscribers:
        subscriber.read()


def wait_subscribed(subscribers: list[Subscriber], limit: float = 30.0) -> None:
    """Until each subscriber has its first $SYS count: it is connected and subscribed."""
    deadline = time.monotonic() + limit
    while not all(s.connected for s in subscribers):
        if time.monotonic() > deadline:
            raise SystemExit("a subscriber did not get the broker's $SYS count in time")
        for subscriber in subscribers:
            subscriber.read()
        time.sleep(0.2)


def markdown(
    options: argparse.Namespace, outcomes: list[Outcome], load: str, load_after: str
) -> str:
    rate = options.devices / options.interval
    moonshot = options.devices >= 100_000
    lines = [
        "## A fleet in shards against broker instances (`benchmarks/fleet_shards.py`)",
        "",
        f"{options.devices:,} devices, one message every {options.interval:g} s each "
        f"({rate:,.0f} msg/s offered), as {options.shards} shards (`iotsim-tui run --shard "
        f"i/{options.shards}`, one process each) against {options.shards} broker instances, "
        f"for {options.duration:g} s. {_common.machine()}; {_common.today()}; load average "
        f"{load} before the run and {load_after} after it (a shared machine: other "
        "people's tests ran meanwhile).",
    ]
    if not moonshot:
        lines += [
            "",
            "A small-scale check of the script, not the moonshot: the machine was shared when "
            "this ran. The moonshot is the script with its defaults (100,000 devices, 6 shards, "
            "one message every 10 s).",
        ]
    lines += [
        "",
        "| brokers | connected | all connected after | published | delivered | "
        "shards' memory | per device | CPU: shards / brokers / subscribers |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        after = f"{o.all_connected_after:.1f} s" if o.all_connected_after is not None else "never"
        total_cpu = sum(o.cpu.values()) or float("nan")
        shares = " / ".join(
            f"{o.cpu[r]:.0f} s ({o.cpu[r] / total_cpu:.0%})"
            for r in ("shard", "broker", "subscriber")
        )
        lines.append(
            f"| {options.shards} x {o.broker} | {o.connected_at_end:,}/{o.devices:,} | {after} | "
            f"{o.published:,} | {o.delivered:,} ({o.delivered_share:.1%}) | "
            f"{o.shard_rss / 2**20:,.0f} MiB | {o.shard_rss / max(o.devices, 1) / 1024:.1f} KB | "
            f"{shares} |"
        )
    lines += [
        "",
        "Memory is the sum of each shard process's peak RSS (its interpreter included, ~30 MB "
        "a process); CPU is user + system seconds of each kind of process over the run.",
        "",
        "Targets (issue 15, at 100,000 devices every 10 s):",
    ]
    for o in outcomes:
        delivered = "meets" if o.delivered_share >= 0.98 else "misses"
        if moonshot:
            fits = "meets" if o.shard_rss < 2 * 2**30 else "misses"
            memory = f"devices' memory {o.shard_rss / 2**30:.2f} GB ({fits} < 2 GB)"
        else:
            memory = "devices' memory: judged at 100,000 devices only"
        lines.append(
            f"- {o.broker}: delivered {o.delivered_share:.1%} ({delivered} >= 98%); {memory}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=6, help="shard processes = broker instances")
    parser.add_argument("--devices", type=int, default=100_000, help="devices in all")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between messages")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds each shard runs")
    parser.add_argument("--ramp", type=float, help="connections per second per shard")
    parser.add_argument(
        "--brokers",
        nargs="+",
        choices=["mosquitto", "bundled"],
        default=["mosquitto", "bundled"],
        help="which kinds of broker instances, in turn",
    )
    parser.add_argument("--no-write", action="store_true", help="leave docs/performance.md")
    options = parser.parse_args()
    if options.shards < 1 or options.devices < options.shards:
        parser.error("give at least one device per shard")
    limit = _common.raise_fd_limit()
    if limit < options.devices // options.shards + 1000:
        raise SystemExit(f"the open-files limit ({limit}) is too low for a shard's connections")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="fleet-shards-") as temporary:
        folder = Path(temporary)
        profile = write_profile(folder, options.devices, options.interval, options.ramp)
        for kind in options.brokers:
            case = folder / kind
            case.mkdir()
            outcome = run_case(kind, options, case, profile)
            outcomes.append(outcome)
            print(
                f"{kind}: connected {outcome.connected_at_end:,}/{outcome.devices:,} "
                f"(all after {outcome.all_connected_after or float('nan'):.1f} s), "
                f"published {outcome.published:,}, "
                f"delivered {outcome.delivered:,} ({outcome.delivered_share:.1%}), shards' peak "
                f"memory {outcome.shard_rss / 2**20:,.0f} MiB, CPU s {outcome.cpu}"
            )
    load_after = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    text = markdown(options, outcomes, load, load_after)
    print(text)
    if not options.no_write:
        _common.write_section("fleet_shards", text)


if __name__ == "__main__":
    main()
