"""CPU time the app spends opening a dialog: network settings (c), add device (a), subscribe
(u) and the eavesdrop view (w), on the bundled HEALTH_CARE network, idle.

    python benchmarks/dialog_open.py [--rounds N] [--no-write] [--profile KEY]

The app runs headless under Textual's Pilot, as the tests drive it (no broker: the dialogs do
not need one). One open is the key, then the app's loop until the dialog is the top screen and
has been laid out and painted; its cost is the process's CPU time over that span (user +
system, every thread), and the wall time beside it. Escape closes the dialog between opens.
The first open of each dialog is reported apart (it imports nothing: the app loads the dialog
modules in the background after its first frame, and the script waits for that). Reference:
opening a minimal modal screen (one Static) the same way in the same run.

`--profile c` prints where the CPU time of opening that dialog goes (cProfile, cumulative).
Results replace the `dialog_open` section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import _common
from _common import ROOT
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.pilot import Pilot
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from iotsim_tui.tui.app import IotsimApp, make_app

PROFILE = ROOT / "profiles" / "health_care.toml"
NOTE = (
    "Where the time went (cProfile of 6 opens of c; the count of Python calls, which the load "
    "does not change, beside the seconds): every widget costs CPU when it is made, styled, laid "
    "out and drawn. Earlier rounds built the certificate fields only once TLS is on and stopped "
    "rebuilding the main screen's footer on every open (the old keys it kept made each garbage "
    "collection longer). This round: a dialog was styled twice as it opened (each widget as it "
    "was mounted, then all of them again when the screen was shown), laid out four times (the "
    "second pass, at the size it already had, laid out the main screen under it too), restyled "
    "every compact control as it was made (before it was even mounted) and every text field as "
    "it marked itself valid. Now a dialog shown for the first time is not restyled nor laid out "
    "again at the same size (a resize, or coming back from a dialog over it, goes through as "
    "usual), nothing is styled before it is mounted, text fields start marked valid, and a "
    "field is one row widget that draws its own label (no Label and no wrapper per field); the "
    "line about the whole form and the certificates' status are made when there is something "
    "to say. Widgets per dialog: c 57 -> 43, a 27 -> 21, u 28 -> 24. Calls per 6 opens: c "
    "5.85 M -> 3.2 M, a 3.0 M -> 1.8 M. The dimmed main screen under a dialog is drawn through "
    "the dialog's translucent backdrop each time the dialog is drawn (twice per open, about a "
    "fifth of c's open before this round); its tint is now worked out once per style, which "
    "halves that part with the same picture (the reference, a plain modal, still pays it in "
    "full). Before -> after, the old commit (a098e51) and this one run alternately, two runs "
    "each, later opens, CPU median; at load 12-19 (the machine shared by others): reference "
    "32-34 -> 32-38 ms, c 270-274 -> 120-140 ms, a 121-124 -> 66-73 ms, u 128-157 -> 74-90 ms, "
    "w 71-82 -> 61-69 ms; at load 2.7-4.9: reference 28-29 -> 29-31 ms, c 188-246 -> 102-117 "
    "ms, a 97-104 -> 65-66 ms, u 110-138 -> 70 ms, w 57-62 -> 55-60 ms, and wall c 409-621 -> "
    "198-314 ms, a 267-284 -> 159-226 ms, u 249-387 -> 164-282 ms. In those paired runs every "
    "dialog took under 150 ms of CPU per open (a single run on a busier machine may show "
    "more, the reference's CPU too), but not of wall time: even the reference modal takes about "
    "100 ms from the key to painted here (Textual lays out and paints on its refresh timer, "
    "and the machine is shared), and c about 100 ms more than its CPU. Not tried: one settings "
    "screen kept and refilled between opens (a closed dialog must leave no widgets behind, and "
    "refilling every field, error and TLS part is a second way to fill the dialog), and a "
    "lighter choice than Textual's Select (about 16 ms each; c has one, u two)."
)

PROFILE_OUT = str(Path(tempfile.gettempdir()) / "dialog_open.prof")
"""Where `--profile` leaves its full statistics (for `pstats`)."""
WAIT = 30.0
"""Seconds a dialog may take to show before the run fails (a loaded machine is slow)."""


class MinimalDialog(ModalScreen[None]):
    """The reference: a modal screen with one line of text."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        yield Static("A minimal dialog")


def _dialogs() -> list[tuple[str, str, type[Screen[Any]]]]:
    from iotsim_tui.tui.screens.device_form import DeviceScreen
    from iotsim_tui.tui.screens.eavesdrop import EavesdropScreen
    from iotsim_tui.tui.screens.network_form import NetworkSettingsScreen
    from iotsim_tui.tui.screens.subscribe import SubscribeScreen

    return [
        ("ref", "minimal modal screen (reference)", MinimalDialog),
        ("c", "c: network settings", NetworkSettingsScreen),
        ("a", "a: add a device", DeviceScreen),
        ("u", "u: subscribe", SubscribeScreen),
        ("w", "w: eavesdrop view", EavesdropScreen),
    ]


def _cpu() -> float:
    return time.process_time()


async def _until(pilot: Pilot[int], condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await pilot.pause()


async def _open_once(
    app: IotsimApp,
    pilot: Pilot[int],
    key: str,
    kind: type[Screen[Any]],
    profiler: cProfile.Profile | None = None,
) -> tuple[float, float]:
    """CPU seconds and wall seconds from the key to the dialog laid out and painted."""
    base = app.screen
    if profiler is not None:
        profiler.enable()
    cpu, wall = _cpu(), time.perf_counter()
    if key == "ref":
        app.push_screen(MinimalDialog())
    else:
        await pilot.press(key)
    await _until(pilot, lambda: isinstance(app.screen, kind), f"the {key} dialog")
    # Laid out and painted: Textual has nothing left to refresh on the new screen.
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    spent = _cpu() - cpu, time.perf_counter() - wall
    if profiler is not None:
        profiler.disable()
    await pilot.press("escape")
    await _until(pilot, lambda: app.screen is base, f"the {key} dialog to close")
    await pilot.pause()
    return spent


async def _measure(rounds: int, profile_key: str | None) -> dict[str, list[tuple[float, float]]]:
    dialogs = _dialogs()
    results: dict[str, list[tuple[float, float]]] = {key: [] for key, _, _ in dialogs}
    with tempfile.TemporaryDirectory() as workdir:
        app = make_app(
            [PROFILE],
            start_broker=False,
            certs_dir=Path(workdir) / "certs",
            log_file=Path(workdir) / "iotsim-tui.log",
        )
        async with app.run_test(size=(120, 40)) as pilot:
            await _until(pilot, lambda: type(app.screen).__name__ == "MainScreen", "main screen")
            # The app imports the dialogs in a thread once the first frame is drawn.
            await _until(
                pilot,
                lambda: not any(w.group == "load" for w in app.workers),
                "the background imports",
            )
            await pilot.press("down")  # the first device, for u
            await pilot.pause()
            if profile_key is not None:
                kind = {k: c for k, _, c in dialogs}[profile_key]
                await _open_once(app, pilot, profile_key, kind)
                profiler = cProfile.Profile()
                for _ in range(rounds):
                    await _open_once(app, pilot, profile_key, kind, profiler)
                profiler.dump_stats(PROFILE_OUT)
                stats = pstats.Stats(profiler, stream=sys.stdout)
                stats.sort_stats("cumulative").print_stats(45)
                stats.sort_stats("tottime").print_stats(25)
                return results
            for _ in range(rounds + 1):
                for key, _, kind in dialogs:
                    results[key].append(await _open_once(app, pilot, key, kind))
    return results


def report(results: dict[str, list[tuple[float, float]]], rounds: int) -> str:
    """The markdown section: first open, median of the later ones, ratio to the reference."""
    load = os.getloadavg()[0]
    reference = statistics.median(cpu for cpu, _ in results["ref"][1:])
    lines = [
        "## Opening a dialog: CPU time (`benchmarks/dialog_open.py`)",
        "",
        f"{_common.today()}; {_common.machine()}; load average {load:.1f}.",
        f"The app under Pilot (headless, 120 x 40) on HEALTH_CARE, idle; {rounds} opens of each "
        "after a first one, in turn; CPU = the process's user + system time from the key to "
        "the dialog laid out and painted.",
        "",
        "| dialog | first open CPU ms | later opens CPU ms, median | wall ms, median | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, name, _ in _dialogs():
        first_cpu = results[key][0][0]
        cpu = statistics.median(c for c, _ in results[key][1:])
        wall = statistics.median(w for _, w in results[key][1:])
        lines.append(
            f"| {name} | {first_cpu * 1000:.0f} | {cpu * 1000:.0f} | {wall * 1000:.0f} "
            f"| {cpu / reference:.1f}x |"
        )
    lines += ["", NOTE]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure, print, and write the section unless told not to."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="opens per dialog after the first")
    parser.add_argument("--no-write", action="store_true", help="leave docs/performance.md")
    parser.add_argument("--profile", metavar="KEY", help="profile opening one dialog: c a u w")
    args = parser.parse_args()
    results = asyncio.run(_measure(args.rounds, args.profile))
    if args.profile:
        return
    text = report(results, args.rounds)
    print(text)
    if not args.no_write:
        _common.write_section("dialog_open", text)


if __name__ == "__main__":
    main()
