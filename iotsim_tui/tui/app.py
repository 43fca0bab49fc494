"""The terminal app (being built): until it exists, opening it says so and exits 2."""

from __future__ import annotations

from pathlib import Path

from iotsim_tui.errors import UsageError


def run_app(profiles: list[Path], *, start_broker: bool = True) -> int:
    """Open the app on `profiles`; returns the exit code."""
    raise UsageError(
        "the terminal app is not available yet; use `iotsim-tui validate PROFILE` meanwhile"
    )
