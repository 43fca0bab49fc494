"""`iotsim-tui merge SUMMARY...`: the summaries of a run's shards added into one.

Each shard of a run shared by several hosts (`run --shard I/N --summary FILE`) writes its own
summary; the merge gives the summary one run of every device would have given: counts, ledgers
and errors by kind summed, percentiles from the shards' histograms added bucket by bucket
(never averaged), and rates over the time during which at least one shard ran (the union of
their windows). It first checks that the files are the shards of one run and cover it exactly
once. The exit code is that of `run` for the whole: 0 ok, 1 a device failed, 130 a shard was
stopped before its duration; 2 for files that cannot be merged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from iotsim_tui.engine import Summary
from iotsim_tui.headless.report import INTERRUPTED, final_report, summary_record
from iotsim_tui.headless.shards import (
    ShardSummary,
    check_coverage,
    read_summary,
    running_seconds,
)
from iotsim_tui.words import counted


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `iotsim-tui merge`."""
    parser.epilog = (
        "Exit codes: 0 every device of every shard ran without an error (or got its "
        "connection back with nothing dropped); 1 a device failed; 2 the files are not the "
        "shards of one run, each exactly once (the message names the files); 130 a shard "
        "was stopped before its --duration."
    )
    parser.add_argument(
        "summaries",
        nargs="+",
        type=Path,
        metavar="SUMMARY",
        help="the shards' summaries (`run --shard I/N --summary FILE`), one per shard",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the merged summary as JSON instead of text"
    )
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="also write the merged summary here as JSON"
    )


def run(args: argparse.Namespace) -> int:
    """Merge the summaries and print the result; the exit code `run` would have given."""
    from iotsim_tui.headless.main import write_summary

    shards = sorted((read_summary(path) for path in args.summaries), key=lambda s: s.index)
    check_coverage(shards)
    merged = replace(Summary.merge(s.summary for s in shards), probe=_probes(shards))
    seconds, exact = _seconds(shards)
    interrupted = any(shard.interrupted for shard in shards)
    record = merged_record(shards, merged, seconds, interrupted=interrupted)
    if args.out is not None:
        write_summary(args.out, record, option="--out")
    if args.json:
        text = json.dumps(record, indent=2, ensure_ascii=False)
    else:
        lines = _heading(shards, seconds, exact)
        lines += final_report(merged, shards[0].network, seconds, interrupted=interrupted)
        text = "\n".join(lines)
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # The reader of our output went away (`| head`): stop quietly, as `run` does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if interrupted:
        return INTERRUPTED
    return 0 if merged.ok else 1


def _probes(shards: list[ShardSummary]) -> str:
    """What the shards' latency probes timed, together (each shard probes its own devices)."""
    timed = [shard for shard in shards if shard.summary.latency.count]
    said = [
        f"shard {s.index}: {s.summary.probe}" for s in shards if s not in timed and s.summary.probe
    ]
    if timed:
        count = sum(shard.summary.latency.count for shard in timed)
        said.insert(
            0, f"{counted(count, 'message')} timed by the probes of {counted(len(timed), 'shard')}"
        )
    return "; ".join(said[:4])


def _seconds(shards: list[ShardSummary]) -> tuple[float, bool]:
    """The seconds the rates are over: the union of the shards' windows (True), or, when a
    shard has no window (its devices never started), the longest shard's seconds (False)."""
    windows = [shard.window for shard in shards if shard.window is not None]
    if len(windows) == len(shards):
        return running_seconds(windows), True
    return max(shard.seconds for shard in shards), False


def merged_record(
    shards: list[ShardSummary], merged: Summary, seconds: float, *, interrupted: bool
) -> dict[str, Any]:
    """The merged summary as JSON: `run`'s summary of the whole, and what it was made from."""
    record = summary_record(merged, shards[0].network, interrupted=interrupted, seconds=seconds)
    windows = [shard.window for shard in shards if shard.window is not None]
    record["profile"] = dict(shards[0].profile)
    record["window"] = (
        {
            "started_at": min(start for start, _ in windows),
            "stopped_at": max(stop for _, stop in windows),
            "running_seconds": round(seconds, 3),
        }
        if windows
        else None
    )
    record["merged"] = [
        {
            "file": shard.file,
            "shard": {"index": shard.index, "count": shard.count},
            "devices": shard.summary.devices,
            "seconds": shard.seconds,
            "interrupted": shard.interrupted,
            "ok": shard.summary.ok,
        }
        for shard in shards
    ]
    return record


def _heading(shards: list[ShardSummary], seconds: float, exact: bool) -> list[str]:
    first = shards[0]
    digest = first.profile.get("sha256")
    lines = [
        f"merged {counted(len(shards), 'shard')} of {first.profile.get('file')}"
        + (f" (sha256 {str(digest)[:12]})" if digest else "")
        + f": {', '.join(shard.file for shard in shards)}"
    ]
    lengths = [shard.seconds for shard in shards]
    over = (
        "while at least one shard ran (the union of their windows)"
        if exact
        else "the longest shard's (a shard's devices never started)"
    )
    lines.append(
        f"shards ran {min(lengths):.1f} s to {max(lengths):.1f} s each; "
        f"rates are over {seconds:.1f} s, {over}"
    )
    stopped = [shard.file for shard in shards if shard.interrupted]
    if stopped:
        lines.append(f"stopped before their --duration: {', '.join(stopped)}")
    return lines
