"""`iotsim-tui lab check PROFILE [--junit FILE] [--json]`: run a lab's steps, grade its checks.

Exit codes: 0 when every check passed, 1 when one failed (or the run could not finish), 2
for bad input (a profile with problems, no steps or checks, a broker that is not loopback),
in which case nothing is started.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from iotsim_tui.errors import IotsimError, ProfileError, UsageError
from iotsim_tui.profiles.load import load_network
from iotsim_tui.profiles.model import Network

PASSED, FAILED, BAD_INPUT = 0, 1, 2


def add_check_command(subparsers: Any) -> None:
    """Add `check` to the `lab` group's subcommands."""
    parser = subparsers.add_parser(
        "check",
        help="run a profile's lab steps headless and grade its checks (exit 0: all passed)",
        description="Run the network of PROFILE without a screen, with the bundled broker on "
        "free loopback ports, play its [lab] steps, and grade every check: a pass/fail table, "
        "exit 0 only when all pass, 1 when one fails, 2 for bad input.",
    )
    parser.add_argument("profile", type=Path, metavar="PROFILE", help="a profile with [lab]")
    parser.add_argument(
        "--junit", type=Path, metavar="FILE", help="also write the result as JUnit XML to FILE"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the result as JSON instead of the table"
    )
    parser.set_defaults(run=run_check)


def load_lab(path: Path) -> Network:
    """The profile at `path`, refused (UsageError) when it has no lab to run or is remote."""
    from iotsim_tui.lab.steps import refuse_remote

    network = load_network(path)
    if not network.lab.checks:
        raise UsageError(f"{path}: has no [lab] checks to grade (see docs/labs.md)")
    if not network.lab.steps:
        raise UsageError(
            f"{path}: has no [lab] steps: lab check runs the network by its steps "
            "(see docs/labs.md)"
        )
    refuse_remote(network)
    return network


def _check_junit(path: Path | None) -> None:
    if path is not None and not path.parent.is_dir():
        raise UsageError(f"--junit {path}: the folder {path.parent} does not exist")


def run_check(args: argparse.Namespace) -> int:
    """Run `lab check` as the arguments say; returns the exit code."""
    try:
        network = load_lab(args.profile)
        _check_junit(args.junit)
    except (ProfileError, UsageError) as error:
        print(f"iotsim-tui lab check: {error.message}", file=sys.stderr)
        return BAD_INPUT
    from iotsim_tui.lab import report
    from iotsim_tui.lab.steps import LabRun

    out = sys.stderr if args.json else sys.stdout

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    say(f"lab {network.name} ({args.profile}): {len(network.lab.steps)} steps")
    try:
        with tempfile.TemporaryDirectory(prefix="iotsim-lab-") as workdir:
            result = asyncio.run(LabRun(network, Path(workdir), say).run())
    except IotsimError as error:
        print(f"iotsim-tui lab check: {error.title.lower()}: {error.message}", file=sys.stderr)
        return FAILED
    if args.json:
        print(report.dumps(result))
    else:
        print(report.table(result))
    if args.junit is not None:
        try:
            args.junit.write_bytes(report.junit(result, str(args.profile)))
        except OSError as error:
            print(
                f"iotsim-tui lab check: {args.junit}: cannot be written: {error.strerror}",
                file=sys.stderr,
            )
            return BAD_INPUT
    return PASSED if result.passed else FAILED
