"""Time from choosing a TLS lesson to its result on screen, for each of the eight lessons.

    python benchmarks/lesson_latency.py [--rounds 5] [--quick] [--no-write]

The app runs under Textual's Pilot (headless, 120 x 40) on a network with TLS on, without its
own bundled broker (a lesson starts a broker of its own). The lessons screen is opened with
`l`; a sample is the wall time from pressing a lesson's number to its three panes filled and
the next frame processed. Everything a lesson does is in it: certificates made in a new
temporary folder, the bundled broker started as a process and stopped, the relay, the device,
the command where there is one, and the folder removed.

Reference, in the same run and alternating with it: the same lesson run headless
(`run_lesson` in this process, as `iotsim-tui lab lesson` does), so the ratio is what the
screen adds. Target (issue 10): the median under 2 s for every lesson. The results replace
the `lesson_latency` section of docs/performance.md (unless `--no-write` or `--quick`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import _common

from iotsim_tui.lab.lessons import LESSONS, Lesson
from iotsim_tui.lab.lessons_run import run_lesson
from iotsim_tui.profiles.model import BrokerSettings, Device, Network, Subscription, TLSSettings
from iotsim_tui.profiles.save import save_network

TARGET = 2.0
"""Seconds from choosing a lesson to its result on screen (median)."""
WAIT = 60.0


def _network() -> Network:
    return Network(
        "NDE_FINANCE_NETWORK",
        broker=BrokerSettings(tls=TLSSettings(enabled=True, ca="certs/ca.crt")),
        devices=(Device("Temperature_Sensor", "TS1", subscribe=(Subscription("High_Tempe"),)),),
    )


async def _headless(lesson: Lesson) -> float:
    started = time.perf_counter()
    result = await run_lesson(lesson, _network())
    elapsed = time.perf_counter() - started
    if not result.as_expected:
        raise SystemExit(f"lesson {lesson.name} did not go as expected: {result.reason}")
    return elapsed


async def _in_the_app(folder: Path, rounds: int) -> dict[str, list[float]]:
    from iotsim_tui.tui.app import make_app
    from iotsim_tui.tui.screens.lessons import LessonsScreen

    profile = folder / "lab.toml"
    save_network(_network(), profile)
    app = make_app(
        [profile], start_broker=False, certs_dir=folder / "certs", log_file=folder / "app.log"
    )
    times: dict[str, list[float]] = {lesson.name: [] for lesson in LESSONS}
    headless: dict[str, list[float]] = {lesson.name: [] for lesson in LESSONS}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("l")
        await _until(pilot, lambda: isinstance(app.screen, LessonsScreen))
        screen = app.screen
        assert isinstance(screen, LessonsScreen)
        for _ in range(rounds):
            for number, lesson in enumerate(LESSONS, 1):
                headless[lesson.name].append(await _headless(lesson))
                screen.shown_at = None
                started = time.perf_counter()
                await pilot.press(str(number))
                await _until(pilot, lambda: screen.shown_at is not None)
                await pilot.pause()  # the frame with the result
                times[lesson.name].append(time.perf_counter() - started)
        await pilot.press("escape")
    return {
        **{f"app:{name}": values for name, values in times.items()},
        **{f"headless:{name}": values for name, values in headless.items()},
    }


async def _until(pilot: object, condition: object) -> None:
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    assert callable(condition)
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for a lesson's result")
        await pilot.pause(0.005)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="samples per lesson (default 5)")
    parser.add_argument("--quick", action="store_true", help="one round; docs untouched")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    rounds = 1 if args.quick else max(1, min(args.rounds, 50))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="lesson-bench-") as folder:
        results = asyncio.run(_in_the_app(Path(folder), rounds))
    load_after = os.getloadavg()[0]
    report = _report(results, rounds, load_before, load_after)
    print(report)
    if not (args.quick or args.no_write):
        _common.write_section("lesson_latency", report)
    return 0


def _report(
    results: dict[str, list[float]], rounds: int, load_before: float, load_after: float
) -> str:
    median = _common.median
    rows = []
    worst = 0.0
    for number, lesson in enumerate(LESSONS, 1):
        app = median(results[f"app:{lesson.name}"])
        headless = median(results[f"headless:{lesson.name}"])
        worst = max(worst, app)
        rows.append(
            f"| {number}. {lesson.name} | {headless * 1000:,.0f} | {app * 1000:,.0f} "
            f"| {app / headless:.2f}x |"
        )
    verdict = "met" if worst < TARGET else "NOT met"
    return "\n".join(
        [
            "## TLS lessons: from choosing one to its result on screen "
            "(`benchmarks/lesson_latency.py`)",
            "",
            f"Run {_common.today()} on {_common.machine()}; load average {load_before:.1f} "
            f"before, {load_after:.1f} after (a machine shared with other work: figures on a "
            f"quiet one are lower). Median of {rounds} samples per lesson, headless and in the "
            "app alternating. Each sample is the whole lesson: certificates made in a new "
            "temporary folder, the bundled broker started as a process and stopped, the relay, "
            "the device, the command where there is one, the folder removed. In the app: from "
            "the lesson's key (Pilot, 120 x 40) to its three panes filled and the next frame.",
            "",
            "| Lesson | headless `run_lesson` (ms) | in the app, key to result (ms) | ratio |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            f"Target: under {TARGET:.0f} s from choosing a lesson to its result on screen "
            f"(median): slowest lesson {worst:.2f} s, {verdict}.",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
