"""The `fleet_shards` section of docs/performance.md, from the outcomes of a run."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

import _common

if TYPE_CHECKING:
    from fleet_shards import Outcome

ROLES = ("shard", "broker", "subscriber")
MOONSHOT = 100_000


def _ms(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def _loads(values: tuple[float, ...]) -> str:
    return ", ".join(f"{x:.1f}" for x in values)


def markdown(
    options: argparse.Namespace,
    outcomes: list[Outcome],
    load: tuple[float, ...],
    load_after: tuple[float, ...],
) -> str:
    rate = options.devices / options.interval
    moonshot = options.devices >= MOONSHOT
    peak = max((o.load_peak for o in outcomes), default=0.0)
    shown = [arg for arg in sys.argv[1:] if arg not in ("--keep", "--no-write")]
    command = " ".join(["python benchmarks/fleet_shards.py", *shown])
    lines = [
        "## A fleet in shards against broker instances (`benchmarks/fleet_shards.py`)",
        "",
        f"{options.devices:,} devices, one message every {options.interval:g} s each "
        f"({rate:,.0f} msg/s offered), as {options.shards} shards (`iotsim-tui run --shard "
        f"i/{options.shards} --summary ...`, one process each) against {options.shards} broker "
        f"instances, each shard running {options.duration:g} s (its connection ramp included); "
        "the totals come from `iotsim-tui merge` of the shards' summaries, the deliveries from "
        "one `mosquitto_sub` per broker instance. "
        f"{_common.machine()}; {_common.today()}. Load average (1, 5, 15 min) {_loads(load)} "
        f"before, at most {peak:.1f} during, {_loads(load_after)} after: the 2 cores run "
        f"{options.shards} shards, {options.shards} brokers and {options.shards} subscribers "
        "together (and, on this shared machine, whatever else was running).",
        "",
        f"Repeat it with `{command}` (needs mosquitto, mosquitto-clients, an open-files limit "
        "above devices/shards + 1,000, and about 4 GB of free memory at 100,000 devices; "
        "`pip install py-spy` for the profile).",
    ]
    if not moonshot:
        lines += [
            "",
            "A smaller run than the moonshot (100,000 devices): the script with its defaults "
            "is the moonshot.",
        ]
    lines += [
        "",
        "| brokers | connected | all connected after | published | delivered | "
        "steady state: delivered msg/s (of offered) | merged summary |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        after = f"{o.all_connected_after:.1f} s" if o.all_connected_after is not None else "never"
        steady = o.steady_rate
        steady_text = (
            "-"
            if steady is None or o.steady is None
            else f"{steady:,.0f} ({steady / rate:.1%}) over {o.steady[0]:.0f} s"
        )
        result = "failed: " + o.merge_error[:80] if not o.merged else _result(o)
        lines.append(
            f"| {options.shards} x {o.broker} | {o.connected_at_end:,}/{o.devices:,} | {after} | "
            f"{o.published:,} | {o.delivered:,} ({o.delivered_share:.1%}) | {steady_text} | "
            f"{result} |"
        )
    lines += [
        "",
        "| brokers | shards' memory: running / peak | per device (running) | brokers' peak "
        "memory | CPU-seconds: "
        "shards / brokers / subscribers | cores in the steady state: shards / brokers / "
        "subscribers | connect time p50 / p99 | latency p50 / p99 (probe) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        cpu = " / ".join(f"{o.cpu.get(r, 0):.0f}" for r in ROLES)
        steady_cores = (
            " / ".join(f"{o.steady_cpu.get(r, 0) / o.steady[0]:.2f}" for r in ROLES)
            if o.steady and o.steady_cpu
            else "-"
        )
        connect = o.merged.get("connections", {}).get("connect_time", {})
        latency = o.merged.get("latency", {})
        lines.append(
            f"| {options.shards} x {o.broker} | {o.shard_running_rss / 2**20:,.0f} / "
            f"{o.shard_rss / 2**20:,.0f} MiB | "
            f"{o.shard_running_rss / max(o.devices, 1) / 1024:.1f} KB | "
            f"{o.broker_rss / 2**20:,.0f} MiB | "
            f"{cpu} | {steady_cores} | {_ms(connect.get('p50_ms'))} / "
            f"{_ms(connect.get('p99_ms'))} | {_ms(latency.get('p50_ms'))} / "
            f"{_ms(latency.get('p99_ms'))} |"
        )
    lines += [
        "",
        "A shard's memory while running is the largest RSS sampled (every 0.5 s) before its "
        "devices were told to stop; its peak is the kernel's high-water mark (VmHWM), which "
        "also holds the start and the clean disconnect of every device at the end; each is "
        "summed over the shards, and a shard's interpreter and imports are ~30 MB of it. "
        "The steady state runs from 10 s after the brokers counted "
        "99% of the devices connected to the shards' stop; its delivered rate is what the "
        "subscribers received in it. Latency is publish to delivery, timed by each shard's "
        "probe on 20 of its devices and merged from the shards' histograms.",
    ]
    lines += _error_lines(outcomes)
    lines += _profile_lines(outcomes)
    lines += ["", "Targets (issue 15, at 100,000 devices every 10 s):"]
    for o in outcomes:
        delivered = "met" if o.delivered_share >= 0.98 else "missed"
        if moonshot:
            running = "met" if o.shard_running_rss < 2 * 2**30 else "missed"
            peak = "met" if o.shard_rss < 2 * 2**30 else "missed"
            memory = (
                f"devices' memory {o.shard_running_rss / 2**20:,.0f} MiB while running "
                f"(< 2 GiB = 2,048 MiB: {running}), {o.shard_rss / 2**20:,.0f} MiB at the peak "
                f"({peak})"
            )
        else:
            memory = "devices' memory: judged at 100,000 devices only"
        steady = o.steady_rate
        offered = (
            f"; {steady:,.0f} msg/s delivered in the steady state ({steady / rate:.1%} of "
            f"{rate:,.0f})"
            if steady is not None
            else ""
        )
        lines.append(
            f"- {o.broker}: delivered {o.delivered_share:.1%} (>= 98%: {delivered}); "
            f"{memory}{offered}"
        )
    return "\n".join(lines)


def _result(o: Outcome) -> str:
    merged = o.merged
    words = "ok" if merged.get("ok") else "errors"
    if merged.get("interrupted"):
        words = "interrupted"
    kinds = merged.get("errors_by_kind") or {}
    if kinds:
        words += f", {sum(kinds.values()):,} errors"
    if merged.get("recovered"):
        words += f" ({merged['recovered']:,} devices connected again)"
    return f"{words} (exit {o.merge_exit})"


def _error_lines(outcomes: list[Outcome]) -> list[str]:
    lines = []
    for o in outcomes:
        kinds = o.merged.get("errors_by_kind") or {}
        for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:3]:
            lines.append(f"- {o.broker}: {n:,} x {kind}")
    if lines:
        lines = ["", "Errors by kind, from the merged summaries (the three largest):", *lines]
    return lines


def _profile_lines(outcomes: list[Outcome]) -> list[str]:
    profiled = next((o for o in outcomes if o.profile is not None and o.profile.samples), None)
    if profiled is None or profiled.profile is None:
        return []
    profile = profiled.profile
    lines = [
        "",
        f"Where a shard's CPU goes: py-spy on shard 1 (against {profiled.broker}) for "
        f"{profile.seconds:.0f} s of the steady state, {profile.rate} samples a second, without "
        f"pausing it: {profile.samples:,} samples of work, counted by the function running "
        f"(self time) and by its area; {profile.waiting:,} more caught the event loop in its "
        "epoll wait (the system call that waits for sockets, which py-spy counts as busy on "
        "the way in and out) and are left out.",
        "",
        "| area | share |",
        "|---|---|",
    ]
    lines += [f"| {area} | {share:.0%} |" for area, share in profile.by_area()]
    lines += ["", "| function (self time) | share |", "|---|---|"]
    lines += [f"| `{name.replace('|', '/')}` | {share:.1%} |" for name, share in profile.top(12)]
    return lines
