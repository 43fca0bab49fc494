"""The tables engine_scale.py writes to docs/performance.md, with a line per target."""

from __future__ import annotations

from typing import Any

import _common
from _fleet_runs import per_10k


def compare_table(
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


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return _common.median(run[key] for run in runs)


def table(
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
