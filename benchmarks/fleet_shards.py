"""A fleet beyond one process: N shards of one profile against N broker instances.

    python benchmarks/fleet_shards.py              # the moonshot: 100,000 devices, 6 shards
    python benchmarks/fleet_shards.py --devices 6000 --duration 40 --no-write   # a smoke run

What a multi-machine run does (docs/scale-out.md), on one machine: shard i of N runs
`iotsim-tui run PROFILE --shard i/N --summary shard-i.json` against broker instance i, one per
"cluster node" (a clustered broker gives each client one node; a TCP load balancer in front of
several mosquitto instances does the same), and `iotsim-tui merge` adds the shards' summaries.
The brokers are mosquitto (Debian package), then the bundled broker (`iotsim-tui broker`), N
instances each. One `mosquitto_sub` per instance subscribes to the devices' telemetry and to
`$SYS/broker/clients/connected`: it counts what was delivered, independently of the shards.

Reported for each kind of broker: devices connected (and seconds until all were, from the
brokers' own counts), messages the shards published (from the merged summary) and the
subscribers received, the delivered rate in the steady state (from 10 s after 99% were
connected to the shards' stop) against the rate offered, the shards' peak memory (the sum of
each shard process's peak RSS, VmHWM), the brokers', CPU by kind of process, the merged
connect-time and latency percentiles, and the load average before, at most during, and after.
With py-spy installed (`pip install py-spy`), a profile of shard 1 in the steady state says
where a shard's CPU goes. Targets (issue 15), at 100,000 devices publishing every 10 s: at
least 98% delivered, the devices' memory under 2 GB.

Needs: mosquitto and mosquitto-clients (Debian), an open-files limit above devices/shards
+ 1,000 (one descriptor a connection; `ulimit -Hn`), and about 4 GB of free memory for the
moonshot. Every process runs on 127.0.0.1 on free ports, is started here and stopped by its
handle; the run is bounded by --duration (plus a grace for starting and stopping). The result
replaces the `fleet_shards` section of docs/performance.md (unless --no-write).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common
import _pyspy
import psutil
from _common import HOST
from _fleet_report import markdown

GRACE = 120.0
"""Seconds past --duration a run may take (brokers start, shards stop) before it is ended."""
SAMPLE = 0.5
"""Seconds between samples of memory, CPU and the subscribers' output."""
SETTLE = 10.0
"""Seconds after MOST of the devices connected before the steady state is measured (each
device's first message comes up to one interval after it connected)."""
MOST = 0.99
"""The share of the devices connected from which the steady state counts (a few stragglers
that retry a connection do not keep a whole run from having one)."""
PROFILE_RATE = 100
"""py-spy's samples a second."""
TOPICS = ["-t", "fleet/#", "-t", "$SYS/broker/clients/connected"]


def load_average() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


@dataclass
class Watched:
    """A process of the run, with its latest CPU time and its peak memory."""

    role: str
    """"shard", "broker" or "subscriber"."""
    process: subprocess.Popen[bytes]
    cpu: float = 0.0
    peak_rss: int = 0
    """Peak resident memory (the kernel's VmHWM: the true peak, between samples too)."""
    running_rss: int = 0
    """The largest resident memory sampled while the devices ran (before their stop)."""

    def sample(self, running: bool = True) -> None:
        """Read CPU and memory of the process, while it is there."""
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, OSError):
            times = psutil.Process(self.process.pid).cpu_times()
            self.cpu = max(self.cpu, times.user + times.system)
            status = Path(f"/proc/{self.process.pid}/status").read_text()
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss = max(self.peak_rss, int(line.split()[1]) * 1024)
                elif line.startswith("VmRSS:") and running:
                    self.running_rss = max(self.running_rss, int(line.split()[1]) * 1024)


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
    all_connected_after: float | None = None
    most_connected_after: float | None = None
    """Seconds until the brokers counted MOST of the devices connected."""
    delivered: int = 0
    shard_rss: int = 0
    """The shards' peak memory, their start and stop included (sum of VmHWM)."""
    shard_running_rss: int = 0
    """The shards' memory while their devices ran (sum of each one's largest VmRSS sample)."""
    broker_rss: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    steady_cpu: dict[str, float] = field(default_factory=dict)
    """CPU-seconds of each kind of process during the steady window."""
    steady: tuple[float, int] | None = None
    """(seconds, messages delivered) of the steady window."""
    seconds: float = 0.0
    merged: dict[str, Any] = field(default_factory=dict)
    """The merged summary (`iotsim-tui merge --json`); empty when the merge failed."""
    merge_exit: int | None = None
    merge_error: str = ""
    shard_exits: list[int | None] = field(default_factory=list)
    load_peak: float = 0.0
    profile: _pyspy.Profile | None = None

    @property
    def published(self) -> int:
        return int(self.merged.get("messages", {}).get("sent", 0))

    @property
    def connected_at_end(self) -> int:
        return int(self.merged.get("connected", 0))

    @property
    def delivered_share(self) -> float:
        return self.delivered / self.published if self.published else float("nan")

    @property
    def steady_rate(self) -> float | None:
        if self.steady is None or self.steady[0] <= 0:
            return None
        return self.steady[1] / self.steady[0]


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


def start_shard(
    profile: Path, index: int, count: int, port: int, duration: float, folder: Path
) -> tuple[Watched, Path]:
    """Shard `index` (1-based) of `count` against the broker on `port`; its summary file."""
    summary = folder / f"shard-{index}.json"
    with (folder / f"shard-{index}.log").open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "iotsim_tui", "run", str(profile)),
                *("--shard", f"{index}/{count}", "--host", HOST, "--port", str(port)),
                *("--no-broker", "--duration", f"{duration:g}", "--summary", str(summary)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Watched("shard", process), summary


def run_case(kind: str, options: argparse.Namespace, folder: Path, profile: Path) -> Outcome:
    """All shards against `shards` instances of one kind of broker."""
    count = options.shards
    outcome = Outcome(kind, options.devices)
    with brokers(kind, count, folder) as started:
        watched = [Watched("broker", broker.process) for broker in started]
        subscribers = [subscribe(broker, folder, i) for i, broker in enumerate(started)]
        watched += [s.watched for s in subscribers]
        wait_subscribed(subscribers)
        begun = time.monotonic()
        shards = [
            start_shard(profile, i + 1, count, broker.port, options.duration, folder)
            for i, broker in enumerate(started)
        ]
        watched += [shard for shard, _ in shards]
        # Shards start their clocks after their imports, so they are all running until then.
        steady_end = begun + options.duration
        steady_start: tuple[float, int, dict[str, float]] | None = None
        spy: subprocess.Popen[bytes] | None = None
        deadline = begun + options.duration + GRACE
        while any(s.process.poll() is None for s, _ in shards):
            now = time.monotonic()
            if now > deadline:
                for shard, _ in shards:
                    _common.stop(shard.process)
                break
            step(watched, subscribers, running=now < steady_end)
            outcome.load_peak = max(outcome.load_peak, load_average())
            connected = sum(max(s.connected - 1, 0) for s in subscribers)  # less the subscriber
            if outcome.all_connected_after is None and connected >= options.devices:
                outcome.all_connected_after = now - begun
            if outcome.most_connected_after is None and connected >= MOST * options.devices:
                outcome.most_connected_after = now - begun
            received = sum(s.received for s in subscribers)
            settled = outcome.most_connected_after is not None
            steady_from = begun + (outcome.most_connected_after or 0.0) + SETTLE
            if settled and steady_start is None and steady_from <= now < steady_end - SETTLE:
                steady_start = (now, received, cpu_by_role(watched))
                if options.profile_seconds and _pyspy.available() and outcome.profile is None:
                    seconds = min(options.profile_seconds, max(steady_end - now - 2, 1))
                    spy = _pyspy.start(
                        shards[0][0].process.pid, seconds, folder / "shard-1.spy", PROFILE_RATE
                    )
                    outcome.profile = _pyspy.Profile(seconds=seconds, rate=PROFILE_RATE)
            if steady_start is not None and outcome.steady is None and now >= steady_end:
                outcome.steady = (now - steady_start[0], received - steady_start[1])
                ended = cpu_by_role(watched)
                outcome.steady_cpu = {r: ended[r] - steady_start[2][r] for r in ended}
            time.sleep(SAMPLE)
        outcome.seconds = time.monotonic() - begun
        outcome.shard_exits = [shard.process.returncode for shard, _ in shards]
        if spy is not None and outcome.profile is not None:
            _, error = spy.communicate(timeout=60)
            spied = folder / "shard-1.spy"
            if spied.exists():
                outcome.profile = _pyspy.read(spied, outcome.profile.seconds, PROFILE_RATE)
            else:
                print(f"py-spy wrote nothing: {error.decode(errors='replace')}", file=sys.stderr)
                outcome.profile = None
        # The last messages in flight reach the subscribers.
        settle = time.monotonic() + 3.0
        while time.monotonic() < settle:
            step(watched, subscribers)
            time.sleep(SAMPLE)
        for subscriber in subscribers:
            _common.stop(subscriber.watched.process)
            subscriber.read()
        merge(outcome, [summary for _, summary in shards], folder)
    outcome.delivered = sum(s.received for s in subscribers)
    outcome.shard_rss = sum(w.peak_rss for w in watched if w.role == "shard")
    outcome.shard_running_rss = sum(w.running_rss for w in watched if w.role == "shard")
    outcome.broker_rss = sum(w.peak_rss for w in watched if w.role == "broker")
    outcome.cpu = cpu_by_role(watched)
    return outcome


def merge(outcome: Outcome, summaries: list[Path], folder: Path) -> None:
    """`iotsim-tui merge --json` of the shards' summaries, as a user would run it."""
    missing = [path for path in summaries if not path.exists()]
    if missing:
        for path in missing:
            log = path.with_suffix(".log").read_text(errors="replace")
            print(f"no summary {path}:\n{log[-1500:]}", file=sys.stderr)
        outcome.merge_error = f"{len(missing)} shards wrote no summary"
        return
    done = subprocess.run(
        [sys.executable, "-m", "iotsim_tui", "merge", "--json", *map(str, summaries)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    outcome.merge_exit = done.returncode
    if done.stdout.strip():
        outcome.merged = json.loads(done.stdout)
        (folder / "merged.json").write_text(done.stdout)
    outcome.merge_error = done.stderr.strip()


def cpu_by_role(watched: list[Watched]) -> dict[str, float]:
    return {
        role: sum(w.cpu for w in watched if w.role == role)
        for role in ("shard", "broker", "subscriber")
    }


def step(watched: list[Watched], subscribers: list[Subscriber], running: bool = False) -> None:
    for item in watched:
        item.sample(running)
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


def preflight(options: argparse.Namespace) -> None:
    """Stop early, saying what is missing, rather than fail half-way through a long run."""
    if _common.mosquitto_binary() is None or shutil.which("mosquitto_sub") is None:
        raise SystemExit(
            "needs mosquitto and mosquitto_sub (apt-get install mosquitto mosquitto-clients)"
        )
    limit = _common.raise_fd_limit()
    per_shard = -(-options.devices // options.shards) + 1000
    if limit < per_shard:
        raise SystemExit(
            f"the open-files limit ({limit}) is too low for a shard's {per_shard - 1000:,} "
            f"connections: raise `ulimit -Hn` or give more --shards"
        )
    needed = options.devices * 40 * 1024 + options.shards * 200 * 2**20
    free = psutil.virtual_memory().available
    if free < needed:
        print(
            f"warning: {free / 2**30:.1f} GiB of memory free, the run may need "
            f"{needed / 2**30:.1f} GiB",
            file=sys.stderr,
        )
    if options.profile_seconds and _pyspy.available() is None:
        print(
            "py-spy is not installed (pip install py-spy): no profile of a shard", file=sys.stderr
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=6, help="shard processes = broker instances")
    parser.add_argument("--devices", type=int, default=100_000, help="devices in all")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between messages")
    parser.add_argument(
        "--duration",
        type=float,
        default=180.0,
        help="seconds each shard runs, its connection ramp included",
    )
    parser.add_argument("--ramp", type=float, help="connections per second per shard")
    parser.add_argument(
        "--brokers",
        nargs="+",
        choices=["mosquitto", "bundled"],
        default=["mosquitto", "bundled"],
        help="which kinds of broker instances, in turn",
    )
    parser.add_argument(
        "--profile-seconds",
        type=float,
        default=20.0,
        help="seconds of py-spy on shard 1 in the steady state, first kind of broker (0: none)",
    )
    parser.add_argument("--no-write", action="store_true", help="leave docs/performance.md")
    parser.add_argument(
        "--keep", action="store_true", help="keep the logs, summaries and profile (says where)"
    )
    options = parser.parse_args()
    if options.shards < 1 or options.devices < options.shards:
        parser.error("give at least one device per shard")
    preflight(options)
    load = os.getloadavg()
    outcomes = []
    with contextlib.ExitStack() as stack:
        if options.keep:
            folder = Path(tempfile.mkdtemp(prefix="fleet-shards-"))
            print(f"logs, summaries and profile in {folder}", flush=True)
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fleet-shards-")))
        profile = write_profile(folder, options.devices, options.interval, options.ramp)
        for kind in options.brokers:
            case = folder / kind
            case.mkdir()
            outcome = run_case(kind, options, case, profile)
            outcomes.append(outcome)
            steady = outcome.steady_rate
            print(
                f"{kind}: connected {outcome.connected_at_end:,}/{outcome.devices:,} "
                f"(all after {outcome.all_connected_after or float('nan'):.1f} s), "
                f"published {outcome.published:,}, delivered {outcome.delivered:,} "
                f"({outcome.delivered_share:.1%}), steady {steady or float('nan'):,.0f} msg/s, "
                f"shards' peak memory {outcome.shard_rss / 2**20:,.0f} MiB, CPU s {outcome.cpu}, "
                f"merge exit {outcome.merge_exit} {outcome.merge_error}",
                flush=True,
            )
    load_after = os.getloadavg()
    text = markdown(options, outcomes, load, load_after)
    print(text)
    if not options.no_write:
        _common.write_section("fleet_shards", text)


if __name__ == "__main__":
    main()
