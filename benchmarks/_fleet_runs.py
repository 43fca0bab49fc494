"""The `--workers 2` fleet and the MQTT.js reference against one mosquitto, for engine_scale.py.

Each case publishes from N devices once a second; mosquitto's own count of PUBLISH packets
($SYS, every second) gives the rate, and the CPU-seconds of each process over a window give
the cost per 10,000 messages (those hold on a loaded machine, where wall-clock rates do not).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
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
    wait_gone(counter)
    return {"window": [start, end], "cpu_share": cpu["node"] / (end - start), "cpu_seconds": cpu}


def wait_gone(counter: BrokerCounter) -> None:
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


def workers_line(n: int, result: dict[str, Any], label: str = "workers 2") -> str:
    costs = per_10k(result)
    parts = ", ".join(f"{name} {seconds:.3f}" for name, seconds in costs.items())
    client = sum(s for name, s in costs.items() if name != "mosquitto")
    return (
        f"{label}, {n:,} devices: broker {result['broker']:,.0f} msg/s; CPU-seconds per "
        f"10k messages: {parts}; client in all {client:.3f} (load {os.getloadavg()[0]:.1f})"
    )
