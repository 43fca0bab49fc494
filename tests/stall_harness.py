"""Run the whole suite under stress, to find the tests that only pass on a quiet machine.

    .venv/bin/python tests/stall_harness.py [--runs 5] [--checkout .] [--summary FILE] [-- ARGS]

Each run starts ``.venv/bin/pytest -n 4 -q`` (plus ARGS) in the checkout beside two busy
loops (one per core here), and about once a second stops one of the suite's own processes
(SIGSTOP) for a random 0 to 0.5 s, then lets it go on (SIGCONT). The processes it may stop
are the suite's pytest and whatever descends from it, found from pytest's PID: the xdist
workers, the brokers, mosquitto, tmux clients and terminals they started. Nothing else on
the machine is touched, and every stopped process is continued before the harness moves on
or exits, even when interrupted.

Everything is bounded: after --run-limit seconds a run is interrupted as Ctrl-C does (pytest
still reports the failures so far) and killed a minute later, the busy loops end with their
run, and no run starts after --budget seconds. Each run's output goes to ``stall_run_N.log``
beside the summary file, and one line per run is added to the summary: exit code, duration,
load average, pytest's last line.
The harness exits 0 only when every run passed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

STALL_EVERY = 1.0  # seconds between two stalls
LONGEST_STALL = 0.5  # a stall lasts a random 0 to this many seconds
INTERRUPT_GRACE = 60  # seconds pytest has to report after Ctrl-C at the run limit


def busy_loop(seconds: int) -> subprocess.Popen[bytes]:
    """One core kept busy, ending by itself after `seconds` at the latest."""
    return subprocess.Popen(["timeout", str(seconds), "sh", "-c", "while :; do :; done"])


def suite_processes(suite: psutil.Process) -> list[psutil.Process]:
    """The suite's pytest and every process descended from it, alive now."""
    try:
        return [suite, *suite.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def stall_one(suite: psutil.Process, rng: random.Random) -> None:
    """Stop one of the suite's processes for a random 0 to LONGEST_STALL seconds."""
    processes = suite_processes(suite)
    if not processes:
        return
    victim = rng.choice(processes)
    try:
        # One that a test stopped itself stays stopped: continuing it would change the test.
        if victim.status() == psutil.STATUS_STOPPED:
            return
        victim.send_signal(signal.SIGSTOP)
    except psutil.Error:
        return
    try:
        time.sleep(rng.uniform(0.0, LONGEST_STALL))
    finally:
        with contextlib.suppress(psutil.Error):
            victim.send_signal(signal.SIGCONT)


def end_suite(suite: psutil.Popen) -> None:
    """End a suite that ran past its limit: first as Ctrl-C does, so that pytest still reports
    the failures so far, then (after INTERRUPT_GRACE seconds) by killing what is left."""
    for process in suite_processes(suite):
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGCONT)
    with contextlib.suppress(psutil.Error):
        suite.send_signal(signal.SIGINT)
    with contextlib.suppress(psutil.TimeoutExpired):
        suite.wait(INTERRUPT_GRACE)
        return
    processes = suite_processes(suite)
    for process in reversed(processes):
        with contextlib.suppress(psutil.Error):
            process.kill()


def one_run(checkout: Path, log: Path, pytest_args: list[str], run_limit: int) -> tuple[int, float]:
    """The suite once under stalls and two busy loops: its exit code and duration."""
    rng = random.Random()
    hogs = [busy_loop(run_limit + INTERRUPT_GRACE) for _ in range(2)]
    started = time.monotonic()
    try:
        with log.open("wb") as output:
            suite = psutil.Popen(
                [str(checkout / ".venv/bin/pytest"), "-n", "4", "-q", *pytest_args],
                cwd=checkout,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            try:
                while suite.poll() is None:
                    if time.monotonic() - started > run_limit:
                        end_suite(suite)
                        break
                    stall_one(suite, rng)
                    time.sleep(STALL_EVERY)
            finally:
                for process in suite_processes(suite):
                    with contextlib.suppress(psutil.Error):
                        process.send_signal(signal.SIGCONT)
                code = suite.wait()
    finally:
        for hog in hogs:
            hog.terminate()
            hog.wait()
    return code, time.monotonic() - started


def last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="suite runs, one after another")
    parser.add_argument("--checkout", type=Path, default=Path(), help="folder with .venv/")
    parser.add_argument("--summary", type=Path, default=Path("/tmp/stall_summary.log"))
    parser.add_argument("--run-limit", type=int, default=900, help="seconds before a run is killed")
    parser.add_argument("--budget", type=int, default=3600, help="no run starts after this (s)")
    parser.add_argument("--stop-on-failure", action="store_true", help="no run after a failed one")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest after --")
    options = parser.parse_args(argv)
    # A plain `kill` of the harness still continues what it stopped (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    checkout = options.checkout.resolve()
    if not (checkout / ".venv/bin/pytest").exists():
        parser.error(f"{checkout}/.venv/bin/pytest not found: run `make .venv/.installed` there")
    options.summary.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + options.budget
    failed = 0
    for run in range(1, options.runs + 1):
        if time.monotonic() > deadline:
            break
        log = options.summary.parent / f"stall_run_{run}.log"
        load_before = os.getloadavg()[0]
        code, seconds = one_run(checkout, log, options.pytest_args, options.run_limit)
        load_after = os.getloadavg()[0]
        line = (
            f"{time.strftime('%H:%M:%S')} run {run} exit {code} {seconds:.0f}s "
            f"load {load_before:.2f}->{load_after:.2f} | {last_line(log)}"
        )
        print(line, flush=True)
        with options.summary.open("a") as summary:
            summary.write(line + "\n")
        if code != 0:
            failed += 1
            if options.stop_on_failure:
                break
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
