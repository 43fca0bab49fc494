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

The fleet cases and the MQTT.js reference are in _fleet_runs.py, the tables in
_engine_scale_tables.py. Each case runs in a fresh child process, bounded in time. The engine
runs with a profile's default settings (its connection ramp included), as users get it.
Targets (issue 6): 10,000 plain devices connected in at most 1.3x the bare loop's time and at
most 25 KB RSS each; 3,000 TLS devices in at most 1.3x the bare loop's time; stopping 1,000
devices in under a second; 10,000 msg/s sustained with `--workers 2` (at least 98% counted by
the broker); in one process at least the bare loop's rate per CPU-second. The results, with a
line per target saying whether this run met it, replace the `engine_scale` section of
docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import _engine_scale_tables as _tables
import _mqttjs
import aiomqtt
from _common import HOST
from _fleet_runs import (
    CASE_TIMEOUT,
    WARMUP,
    WINDOW,
    BrokerCounter,
    mqttjs_case,
    wait_gone,
    workers_case,
    workers_line,
)

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
                        wait_gone(counter)
                    result["broker"] = counter.rate(*result["window"])
                    print(workers_line(n, result, label), flush=True)
                    runs.setdefault(label, []).append(result)
    if compare_with is None:
        return
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    text = "\n".join(_tables.compare_table(n, runs, repeats, load))
    print(text)
    if write:
        _common.write_section("engine_scale_compare", text)


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
                print(workers_line(n, result), flush=True)
                publishes.append(("engine, --workers 2", n, result))
                wait_gone(counter)
                folder, note = _mqttjs.install(workdir)
                reference = None
                if folder is not None:
                    reference = mqttjs_case(broker, n, folder, counter, window=args.window)
                    reference["broker"] = counter.rate(*reference["window"])
                    print(workers_line(n, reference, note), flush=True)
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    text = "\n".join(_tables.table(connects, publishes, args.repeats, load, (note, reference)))
    print(text)
    if not args.no_write:
        _common.write_section("engine_scale", text)


if __name__ == "__main__":
    main()
