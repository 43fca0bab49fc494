"""Device engine at scale, side by side with a bare aiomqtt loop, against mosquitto.

    python benchmarks/engine_scale.py [--quick] [--no-write]

1. Connect: seconds until N clients are connected, and peak RSS per client, for 1,000 and
   10,000 plain and 3,000 TLS clients: the engine (`Simulation`, no telemetry) and a bare
   aiomqtt loop (`asyncio.gather` of `Client.__aenter__`: the floor of what the library can do).
   Also the seconds each takes to disconnect them all.
2. Publish: every device publishing a small JSON payload once a second. One process with 5,000
   devices, engine and bare loop (messages per CPU-second of the process), and the engine with
   10,000 devices over `--workers 2` (`iotsim-tui run`); the broker's own count of PUBLISH
   packets received (`$SYS`, every second) gives the rate.
3. Reference: the same 10,000 devices in MQTT.js (node), when node and npm are installed
   (`npm install mqtt` into a temporary folder; skipped with a note otherwise): CPU per
   message side by side with the engine's, in the same run.

`--workers-only --compare-with DIR` runs only the `--workers 2` case, alternating the engine
in DIR (an export of another commit: `git archive main | tar -x -C DIR`) with this one and
MQTT.js, to show a change costs no speed.

Each case runs in a fresh child process, bounded in time. The engine runs with a profile's
default settings (its connection ramp included), as users get it. Targets (issue 6): 10,000
plain devices connected in at most 1.3x the bare loop's time and at most 25 KB RSS each;
3,000 TLS devices in at most 1.3x the bare loop's time; stopping 1,000 devices in under a
second; 10,000 msg/s sustained with `--workers 2` (at least 98% counted by the broker); in one
process at least the bare loop's rate per CPU-second. The results, with a line per target
saying whether this run met it, replace the `engine_scale` section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import _mqttjs
import aiomqtt
import psutil
from _common import HOST

CASE_TIMEOUT = 300.0
"""Seconds any one case may take before it is abandoned."""
WARMUP = 4.0
WINDOW = 12.0
RECEIVED = "$SYS/broker/publish/messages/received"
CONNECTED = "$SYS/broker/clients/connected"


# -- children: one case each ------------------------------------------------------------------


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _network(spec: dict[str, Any], *, telemetry: bool) -> Any:
    from iotsim_tui.profiles.model import (
        BrokerSettings,
        DeviceTemplate,
        GeneratorKind,
        Network,
        Telemetry,
        TLSSettings,
        ValueSpec,
    )

    tls = TLSSettings(enabled=True, ca=spec["ca"]) if spec.get("ca") else TLSSettings()
    fields = {
        "temperature": ValueSpec(GeneratorKind.WALK, min=15, max=35, step=0.5, round=1),
        "seq": ValueSpec(GeneratorKind.COUNTER),
    }
    template = DeviceTemplate(
        name="Sensor {n}",
        id="S{n}",
        count=spec["n"],
        telemetry=(Telemetry("bench/{id}/t", interval=1.0, fields=fields),) if telemetry else (),
    )
    return Network(
        name="BENCH",
        broker=BrokerSettings(port=spec["port"], bundled=False, tls=tls, client_id_prefix="e-"),
        templates=(template,),
    )


async def _bare_clients(spec: dict[str, Any]) -> list[aiomqtt.Client]:
    context = ssl.create_default_context(cafile=spec["ca"]) if spec.get("ca") else None
    return [
        aiomqtt.Client(HOST, spec["port"], identifier=f"b-S{i}", tls_context=context)
        for i in range(1, spec["n"] + 1)
    ]


async def connect_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Connect N clients; seconds to connect and to disconnect, peak RSS per client."""
    from iotsim_tui.engine import Simulation

    baseline = _peak_rss()
    if spec["mode"] == "bare":
        began = time.monotonic()
        clients = await _bare_clients(spec)
        await asyncio.gather(*(client.__aenter__() for client in clients))
        connected = time.monotonic() - began
        peak = _peak_rss()
        began = time.monotonic()
        await asyncio.gather(*(client.__aexit__(None, None, None) for client in clients))
        stopped = time.monotonic() - began
    else:
        simulation = Simulation(_network(spec, telemetry=False), record_events=False)
        began = time.monotonic()
        await simulation.start()
        while simulation.summary().connected < spec["n"]:
            if simulation.summary().errors:
                raise SystemExit(f"errors: {simulation.summary().error_samples}")
            await asyncio.sleep(0.05)
        connected = time.monotonic() - began
        peak = _peak_rss()
        began = time.monotonic()
        await simulation.stop()
        stopped = time.monotonic() - began
    return {
        "connect_s": connected,
        "stop_s": stopped,
        "kb_each": (peak - baseline) / spec["n"] / 1024,
    }


async def publish_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Every device publishes once a second; messages and CPU over a window after a warm-up."""
    from iotsim_tui.engine import Simulation

    n = spec["n"]
    if spec["mode"] == "bare":
        clients = await _bare_clients(spec)
        await asyncio.gather(*(client.__aenter__() for client in clients))
        sent = [0]

        async def device(index: int, client: aiomqtt.Client) -> None:
            temperature, topic = 25.0, f"bench/S{index}/t"
            await asyncio.sleep(random.random())
            for seq in range(1_000_000):
                temperature = min(35.0, max(15.0, temperature + random.uniform(-0.5, 0.5)))
                payload = json.dumps({"temperature": round(temperature, 1), "seq": seq})
                await client.publish(topic, payload.encode())
                sent[0] += 1
                await asyncio.sleep(1.0 + random.uniform(-0.02, 0.02))

        tasks = [asyncio.create_task(device(i, c)) for i, c in enumerate(clients, 1)]

        def count() -> int:
            return sent[0]
    else:
        simulation = Simulation(_network(spec, telemetry=True), record_events=False)
        await simulation.start()
        while simulation.summary().connected < n:  # noqa: ASYNC110 (a benchmark's probe)
            await asyncio.sleep(0.05)

        def count() -> int:
            return simulation.summary().messages_out

    await asyncio.sleep(WARMUP)
    start_wall, start_count, start_cpu = time.time(), count(), _cpu()
    await asyncio.sleep(WINDOW)
    end_wall, end_count, end_cpu = time.time(), count(), _cpu()
    if spec["mode"] == "bare":
        for task in tasks:
            task.cancel()
    else:
        await simulation.stop()
    return {
        "window": [start_wall, end_wall],
        "sent_per_s": (end_count - start_count) / (end_wall - start_wall),
        "cpu_share": (end_cpu - start_cpu) / (end_wall - start_wall),
    }


def child(spec: dict[str, Any]) -> None:
    """Run one case in this process and print its result as JSON."""
    _common.raise_fd_limit()
    case: Callable[[dict[str, Any]], Any] = (
        connect_case if spec["case"] == "connect" else publish_case
    )
    print(json.dumps(asyncio.run(case(spec))), flush=True)


# -- parent ---------------------------------------------------------------------------------


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One case in a fresh process."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=CASE_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"case {spec} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class BrokerCounter:
    """Samples mosquitto's count of PUBLISH packets received and of clients connected ($SYS)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.samples: list[tuple[float, int]] = []
        self.connected = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> BrokerCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    async def _run(self) -> None:
        try:
            async with aiomqtt.Client(HOST, self.port, identifier="bench-counter") as client:
                await client.subscribe([(RECEIVED, 0), (CONNECTED, 0)])
                async for message in client.messages:
                    value = int(bytes(message.payload).decode())  # type: ignore[arg-type]
                    if message.topic.matches(CONNECTED):
                        self.connected = value
                    else:
                        self.samples.append((time.time(), value))
                    if self._stop.is_set():
                        return
        except aiomqtt.MqttError:
            return  # the broker stopped first

    def rate(self, start: float, end: float) -> float:
        """PUBLISH packets per second the broker received between two wall-clock times.

        The slope of a least-squares line through every sample in the window: on a loaded
        machine a sample arrives late now and then, and the first and last alone would swing
        the rate by several percent.
        """
        inside = [(t, c) for t, c in self.samples if start <= t <= end]
        if len(inside) < 2:
            return float("nan")
        slope, _ = statistics.linear_regression([t for t, _ in inside], [c for _, c in inside])
        return slope


def _cpu_of(pids: dict[str, int]) -> dict[str, float]:
    """CPU-seconds used so far by each named process (0 for one that has ended)."""
    times = {}
    for name, pid in pids.items():
        try:
            times[name] = _common.cpu_seconds(pid)
        except psutil.Error:
            times[name] = 0.0
    return times


def workers_case(
    broker: _common.BrokerProcess,
    n: int,
    workdir: Path,
    counter: BrokerCounter,
    workers: int = 2,
    window: float = WINDOW,
    engine_from: Path | None = None,
) -> dict[str, Any]:
    """`iotsim-tui run --workers N` with N devices publishing every second; rate over a window.

    Besides the broker's rate, it measures the CPU-seconds each process spends per 10,000
    messages the broker counted: every worker, the parent that merges their summaries, and
    mosquitto. Those hold on a loaded machine, where wall-clock rates do not.
    """
    profile = workdir / "bench_fleet.toml"
    profile.write_text(
        f'[network]\nname = "BENCH_FLEET"\n\n[network.broker]\nhost = "{HOST}"\n'
        f"port = {broker.port}\n"
        'bundled = false\nclient_id_prefix = "w-"\n\n'
        f'[[templates]]\nname = "Sensor {{n}}"\nid = "S{{n}}"\ncount = {n}\n\n'
        '[[templates.telemetry]]\ntopic = "bench/{id}/t"\ninterval = 1\n\n'
        "[templates.telemetry.fields]\n"
        'temperature = { kind = "walk", min = 15.0, max = 35.0, step = 0.5, round = 1 }\n'
        'seq = { kind = "counter" }\n'
    )
    env = None
    if engine_from is not None:  # the engine of another commit, exported to that folder
        env = {**os.environ, "PYTHONPATH": str(engine_from)}
    process = subprocess.Popen(
        [sys.executable, "-m", "iotsim_tui", "run", str(profile), "--workers", str(workers)],
        cwd=engine_from or _common.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        _wait_connected(counter, n, process)
        pids = {"parent": process.pid, "mosquitto": broker.pid}
        children = psutil.Process(process.pid).children(recursive=True)
        # multiprocessing's resource tracker is a child too: it idles, and is no worker.
        workers_seen = [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]
        pids.update({f"worker {i}": child.pid for i, child in enumerate(workers_seen, 1)})
        start, cpu_start = time.time(), _cpu_of(pids)
        time.sleep(window)
        end, cpu_end = time.time(), _cpu_of(pids)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # Ctrl-C: the run stops cleanly and sums up
    out, err = process.communicate(timeout=CASE_TIMEOUT)
    if process.returncode not in (0, 130):  # 130: stopped by Ctrl-C, as asked
        raise SystemExit(
            f"iotsim-tui run failed ({process.returncode}):\n{out[-1500:]}{err[-1500:]}"
        )
    cpu = {name: cpu_end[name] - cpu_start[name] for name in pids}
    engine = sum(seconds for name, seconds in cpu.items() if name != "mosquitto")
    return {
        "window": [start, end],
        "cpu_share": engine / (end - start),
        "cpu_seconds": cpu,
        "report": out,
    }


def _wait_connected(counter: BrokerCounter, n: int, process: subprocess.Popen[str]) -> None:
    """Return once the broker counts `n` clients connected, and a warm-up has passed."""
    deadline = time.monotonic() + CASE_TIMEOUT
    while counter.connected < n + 1 and process.poll() is None:  # the counter is one
        if time.monotonic() > deadline:
            raise SystemExit(f"only {counter.connected} of {n} devices connected in time")
        time.sleep(0.2)
    time.sleep(WARMUP)


def mqttjs_case(
    broker: _common.BrokerProcess,
    n: int,
    folder: Path,
    counter: BrokerCounter,
    window: float = WINDOW,
) -> dict[str, Any]:
    """MQTT.js with N clients publishing every second, in one node process; as `workers_case`."""
    process = _mqttjs.start(folder, broker.port, n)
    try:
        _wait_connected(counter, n, process)
        pids = {"node": process.pid, "mosquitto": broker.pid}
        start, cpu_start = time.time(), _cpu_of(pids)
        time.sleep(window)
        end, cpu_end = time.time(), _cpu_of(pids)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    cpu = {name: cpu_end[name] - cpu_start[name] for name in pids}
    _wait_gone(counter)
    return {"window": [start, end], "cpu_share": cpu["node"] / (end - start), "cpu_seconds": cpu}


def _wait_gone(counter: BrokerCounter) -> None:
    """Return once only the counter is connected (the next case starts from none)."""
    deadline = time.monotonic() + CASE_TIMEOUT
    while counter.connected > 1 and time.monotonic() < deadline:
        time.sleep(0.2)


def per_10k(result: dict[str, Any]) -> dict[str, float]:
    """CPU-seconds each process spent per 10,000 messages the broker counted."""
    start, end = result["window"]
    messages = result["broker"] * (end - start)
    if not messages > 0:
        return {name: float("nan") for name in result["cpu_seconds"]}
    return {name: s * 10_000 / messages for name, s in result["cpu_seconds"].items()}


def _workers_line(n: int, result: dict[str, Any], label: str = "workers 2") -> str:
    costs = per_10k(result)
    parts = ", ".join(f"{name} {seconds:.3f}" for name, seconds in costs.items())
    client = sum(s for name, s in costs.items() if name != "mosquitto")
    return (
        f"{label}, {n:,} devices: broker {result['broker']:,.0f} msg/s; CPU-seconds per "
        f"10k messages: {parts}; client in all {client:.3f} (load {os.getloadavg()[0]:.1f})"
    )


def workers_only(
    n: int,
    window: float,
    repeats: int,
    compare_with: Path | None,
    compare_label: str | None = None,
    write: bool = False,
) -> None:
    """Only the `--workers 2` case, `repeats` times: its rate and CPU-seconds per process.

    With `compare_with`, each repeat also runs the engine found in that folder, and MQTT.js
    when it can be installed, the order turning each time so load changes hit all alike.
    """
    _common.raise_fd_limit()
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="engine-scale-") as tmp:
        workdir = Path(tmp)
        folder, note = _mqttjs.install(workdir) if compare_with else (None, "")
        if note:
            print(note, flush=True)
        sides: list[tuple[str, Path | None]] = [("this engine", None)]
        if compare_with is not None:
            sides.append((f"engine: {compare_label or compare_with}", compare_with))
        if folder is not None:
            sides.append((note, folder))
        settings = ["sys_interval 1", "max_queued_messages 1000"]
        with (
            _common.run_mosquitto(workdir, settings=settings) as broker,
            BrokerCounter(broker.port) as counter,
        ):
            for repeat in range(repeats):
                turn = repeat % len(sides)
                for label, where in sides[turn:] + sides[:turn]:
                    if where is not None and where == folder:
                        result = mqttjs_case(broker, n, where, counter, window=window)
                    else:
                        result = workers_case(
                            broker, n, workdir, counter, window=window, engine_from=where
                        )
                        _wait_gone(counter)
                    result["broker"] = counter.rate(*result["window"])
                    print(_workers_line(n, result, label), flush=True)
                    runs.setdefault(label, []).append(result)
    if compare_with is None:
        return
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    text = "\n".join(_compare_table(n, runs, repeats, load))
    print(text)
    if write:
        _common.write_section("engine_scale_compare", text)


def _compare_table(
    n: int, runs: dict[str, list[dict[str, Any]]], repeats: int, load: str
) -> list[str]:
    """Medians of each side of `--compare-with`, and this engine's cost against the others."""
    rows = [
        "### Against another commit, same run (`engine_scale.py --workers-only --compare-with`)",
        "",
        f"{_common.machine()}; {_common.today()}; mosquitto 2 on loopback; {load} (shared "
        f"machine). {n:,} devices publishing once a second with `--workers 2`, {repeats} runs "
        "of each side, the order turning each time; medians. Client CPU-seconds per 10,000 "
        "messages the broker counted (mosquitto's apart).",
        "",
        "| side | broker msg/s | client CPU-seconds per 10k msg | each run | mosquitto |",
        "|---|---|---|---|---|",
    ]
    medians: dict[str, float] = {}
    for label, results in runs.items():
        costs = [sum(v for name, v in per_10k(r).items() if name != "mosquitto") for r in results]
        medians[label] = _common.median(costs)
        mosquitto = _common.median(per_10k(r)["mosquitto"] for r in results)
        rate = _common.median(r["broker"] for r in results)
        each = ", ".join(f"{c:.3f}" for c in costs)
        rows.append(f"| {label} | {rate:,.0f} | {medians[label]:.3f} | {each} | {mosquitto:.3f} |")
    ours = medians.pop("this engine")
    rows += [
        "",
        "This engine's CPU per message: "
        + "; ".join(f"{ours / other:.2f}x {label}'s" for label, other in medians.items())
        + ".",
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the devices")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each connect case")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/performance.md")
    parser.add_argument(
        "--workers-only",
        action="store_true",
        help="only the --workers 2 case (--repeats times), printed (written with --compare-with)",
    )
    parser.add_argument(
        "--window", type=float, default=WINDOW, help="seconds of each publish measurement"
    )
    parser.add_argument(
        "--compare-with",
        type=Path,
        help="with --workers-only: also run the engine exported to this folder, and MQTT.js",
    )
    parser.add_argument("--compare-label", help="what the --compare-with folder holds")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    scale = 10 if args.quick else 1
    if args.workers_only:
        workers_only(
            10000 // scale,
            args.window,
            args.repeats,
            args.compare_with,
            args.compare_label,
            write=not args.no_write and not args.quick,
        )
        return
    _common.raise_fd_limit()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="engine-scale-") as tmp:
        workdir = Path(tmp)
        from iotsim_tui.certs import init_certs

        certs = workdir / "certs"
        init_certs(certs)
        settings = ["sys_interval 1", "max_queued_messages 1000"]
        with _common.run_mosquitto(workdir, certs=certs, settings=settings) as broker:
            assert broker.tls_port is not None
            connects = []
            for label, n, port, ca in [
                ("plain", 1000 // scale, broker.port, None),
                ("plain", 10000 // scale, broker.port, None),
                ("TLS", 3000 // scale, broker.tls_port, str(certs / "ca.crt")),
            ]:
                spec = {"case": "connect", "n": n, "port": port, "ca": ca}
                runs: dict[str, list[dict[str, Any]]] = {"bare": [], "engine": []}
                for repeat in range(args.repeats):
                    # Alternate who goes first, so a change in the machine's load hits both.
                    for mode in ("bare", "engine") if repeat % 2 == 0 else ("engine", "bare"):
                        runs[mode].append(run_child({**spec, "mode": mode}))
                    print(f"connect {n} {label}: {runs['bare'][-1]} {runs['engine'][-1]}")
                connects.append((label, n, runs["bare"], runs["engine"]))
            publishes = []
            with BrokerCounter(broker.port) as counter:
                n = 5000 // scale
                for mode in ("bare", "engine"):
                    result = run_child(
                        {"case": "publish", "n": n, "port": broker.port, "mode": mode}
                    )
                    result["broker"] = counter.rate(*result["window"])
                    publishes.append((mode, n, result))
                    print(f"publish {n} {mode}: {result}", flush=True)
                n = 10000 // scale
                result = workers_case(broker, n, workdir, counter, window=args.window)
                result["broker"] = counter.rate(*result["window"])
                print(_workers_line(n, result), flush=True)
                publishes.append(("engine, --workers 2", n, result))
                _wait_gone(counter)
                folder, note = _mqttjs.install(workdir)
                reference = None
                if folder is not None:
                    reference = mqttjs_case(broker, n, folder, counter, window=args.window)
                    reference["broker"] = counter.rate(*reference["window"])
                    print(_workers_line(n, reference, note), flush=True)
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    text = "\n".join(_table(connects, publishes, args.repeats, load, (note, reference)))
    print(text)
    if not args.no_write:
        _common.write_section("engine_scale", text)


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return _common.median(run[key] for run in runs)


def _table(
    connects: list[Any],
    publishes: list[Any],
    repeats: int,
    load: str,
    reference: tuple[str, dict[str, Any] | None],
) -> list[str]:
    rows = [
        "## Device engine at scale (`benchmarks/engine_scale.py`)",
        "",
        f"{_common.machine()}; {_common.today()}; mosquitto 2 on loopback; {load} (the machine "
        f"is shared: figures move with its load). Connect figures are medians of {repeats} "
        "runs, the two sides alternating, each case in a fresh process; the ratio is the "
        "median of the per-run ratios. The engine runs with a profile's default settings "
        "(connection ramp: 5,000 a second, 200 in flight); the bare loop has no ramp.",
        "",
        "| clients | bare aiomqtt: connect s | engine: connect s | ratio (target <= 1.3) "
        "| bare KB each | engine KB each (target <= 25) | bare stop s | engine stop s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ratios: dict[str, float] = {}
    for label, n, bare, engine in connects:
        ratio = _common.median(
            e["connect_s"] / b["connect_s"] for b, e in zip(bare, engine, strict=True)
        )
        ratios[f"{n} {label}"] = ratio
        rows.append(
            f"| {n:,} {label} | {_median(bare, 'connect_s'):.2f} | "
            f"{_median(engine, 'connect_s'):.2f} | {ratio:.2f} | {_median(bare, 'kb_each'):.1f} "
            f"| {_median(engine, 'kb_each'):.1f} | {_median(bare, 'stop_s'):.2f} | "
            f"{_median(engine, 'stop_s'):.2f} |"
        )
    rows += [
        "",
        "One run each: every device publishes a small JSON payload (a random walk and a "
        "counter) once a second, QoS 0. The bare loop is a task per device with "
        "`await client.publish()`; CPU is that of the publishing process(es).",
        "",
        "| every device publishes once a second | devices | client msg/s | broker msg/s "
        "| CPU (cores) | msg per CPU-second | CPU-seconds per 10k msg |",
        "|---|---|---|---|---|---|---|",
    ]
    per_cpu: dict[str, float] = {}
    for mode, n, result in publishes:
        sent = result.get("sent_per_s", result["broker"])
        per_cpu[mode] = sent / result["cpu_share"] if result["cpu_share"] else float("nan")
        rows.append(
            f"| {mode} | {n:,} | {sent:,.0f} | {result['broker']:,.0f} | "
            f"{result['cpu_share']:.2f} | {per_cpu[mode]:,.0f} | {10_000 / per_cpu[mode]:.3f} |"
        )
    workers_n, workers = publishes[-1][1], publishes[-1][2]
    costs = per_10k(workers)
    rows += [
        "",
        f"`--workers 2` with {workers_n:,} devices, CPU-seconds per 10,000 messages the broker "
        "counted, by process (CPU-seconds hold on a loaded machine, where wall-clock rates do "
        "not): " + ", ".join(f"{name} {seconds:.3f}" for name, seconds in costs.items()) + ".",
    ]
    rows += ["", *_reference_rows(workers_n, workers, reference)]
    rows += ["", *_verdicts(connects, publishes, ratios, per_cpu)]
    return rows


def _reference_rows(
    n: int, workers: dict[str, Any], reference: tuple[str, dict[str, Any] | None]
) -> list[str]:
    """The engine with `--workers 2` and MQTT.js side by side, the same load in the same run."""
    note, result = reference
    if result is None:
        return [f"Reference: {note}."]
    rows = [
        f"Reference, same run, right after the engine: {n:,} {note} clients in one node "
        "process, each publishing the same payload once a second at QoS 0 (`npm install mqtt` "
        "into a temporary folder). CPU is the client side's; mosquitto's is listed apart.",
        "",
        f"| {n:,} devices, 1 msg/s each | broker msg/s | client CPU (% of a core) "
        "| client CPU-seconds per 10k msg | mosquitto CPU-seconds per 10k msg |",
        "|---|---|---|---|---|",
    ]
    costs = {}
    for label, run in (("engine, `--workers 2`", workers), (note, result)):
        per = per_10k(run)
        costs[label] = client = sum(s for name, s in per.items() if name != "mosquitto")
        rows.append(
            f"| {label} | {run['broker']:,.0f} | {run['cpu_share']:.1%} | {client:.3f} "
            f"| {per['mosquitto']:.3f} |"
        )
    engine, other = costs.values()
    rows += ["", f"Engine CPU per message: {engine / other:.2f}x {note}'s in this run."]
    return rows


def _verdicts(
    connects: list[Any],
    publishes: list[Any],
    ratios: dict[str, float],
    per_cpu: dict[str, float],
) -> list[str]:
    """One line per target of issue 6, saying whether this run met it."""

    def verdict(met: bool) -> str:
        return "met" if met else "**not met**"

    small, large, tls = connects
    workers_n, workers = publishes[-1][1], publishes[-1][2]
    offered = float(workers_n)  # every device publishes once a second
    lines = ["Targets in this run:", ""]
    if large[1] != 10_000:
        lines += ["(`--quick`: a tenth of the devices; the targets are for the full sizes.)", ""]
    ratio = ratios[f"{large[1]} {large[0]}"]
    kb = _median(large[3], "kb_each")
    lines.append(
        f"- {large[1]:,} plain devices connected in {ratio:.2f}x the bare loop's time "
        f"(<= 1.3x): {verdict(ratio <= 1.3)}; {kb:.1f} KB each (<= 25): {verdict(kb <= 25)}"
    )
    ratio = ratios[f"{tls[1]} {tls[0]}"]
    lines.append(
        f"- {tls[1]:,} TLS devices connected in {ratio:.2f}x the bare loop's time (<= 1.3x): "
        f"{verdict(ratio <= 1.3)}"
    )
    stop = _median(small[3], "stop_s")
    lines.append(f"- stopping {small[1]:,} devices: {stop:.2f} s (< 1 s): {verdict(stop < 1.0)}")
    costs = per_10k(workers)
    cores = sum(costs.values()) * offered / 10_000
    lines.append(
        f"- CPU for {offered:,.0f} msg/s with `--workers 2`, mosquitto included: {cores:.2f} "
        f"cores (<= 2, the machine's): {verdict(cores <= 2)}"
    )
    share = workers["broker"] / offered
    lines.append(
        f"- {workers_n:,} devices with `--workers 2`: the broker counted {share:.1%} of "
        f"{offered:,.0f} msg/s (>= 98%): {verdict(share >= 0.98)}"
    )
    engine, bare = per_cpu["engine"], per_cpu["bare"]
    lines.append(
        f"- one process: {engine:,.0f} msg per CPU-second, {engine / bare:.1f}x the bare "
        f"loop's {bare:,.0f} (>= 1x): {verdict(engine >= bare)}"
    )
    return lines


if __name__ == "__main__":
    main()
