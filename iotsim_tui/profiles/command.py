"""`iotsim-tui validate PROFILE...`: check network profiles and report every problem."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iotsim_tui.errors import ProfileError
from iotsim_tui.profiles.expand import devices_of
from iotsim_tui.profiles.load import load_network
from iotsim_tui.words import agreeing, counted


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `iotsim-tui validate`."""
    parser.add_argument(
        "profiles", nargs="+", type=Path, metavar="PROFILE", help="network profiles (TOML)"
    )


def run(args: argparse.Namespace) -> int:
    """Print one line per valid profile and every problem of the others; 1 if any failed."""
    failed = 0
    for path in args.profiles:
        try:
            network = load_network(path)
        except ProfileError as error:
            failed += 1
            print(error.message, file=sys.stderr, flush=True)
            continue
        count = len(devices_of(network))
        lab = network.lab
        extra = (
            f", a lab of {counted(len(lab.steps), 'step')} and {counted(len(lab.checks), 'check')}"
            if lab.checks
            else ""
        )
        print(f"ok  {path}: {network.name}, {counted(count, 'device')}{extra}", flush=True)
    if failed:
        print(_not_valid(failed, len(args.profiles)), file=sys.stderr)
    return 1 if failed else 0


def _not_valid(failed: int, total: int) -> str:
    """The closing line, e.g. "1 of 3 profiles is not valid"."""
    if total == 1:
        return "the profile is not valid"
    return f"{failed:,} of {counted(total, 'profile')} {agreeing(failed, 'is', 'are')} not valid"
