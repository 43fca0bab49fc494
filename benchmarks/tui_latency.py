"""Keypress-to-screen latency of the app, idle and with 1,000 devices publishing every second.

    python benchmarks/tui_latency.py [--quick] [--no-write] [--startup-only]

The app runs as users run it: `iotsim-tui PROFILE` in a real terminal (a private tmux server,
120 x 40), with its bundled broker on a free port. A keypress is `tmux send-keys Down` in the
network tree; it has reached the screen when `tmux capture-pane` shows the next device's name
in the device log's title. Each sample is the time from sending the key to that screen, polled
every ~2 ms (the poll itself costs ~2-4 ms: the figures include it). Cases:

0. reference: a minimal Textual app (a tree of as many devices and a title line that shows
   the highlighted one), driven the same way;
1. idle: a network of 1,000 devices, none started;
2. under load: the same 1,000 devices started, each publishing a small JSON once a second to
   the bundled broker, a command topic subscribed each; samples start once all are connected,
   and a sample ends only when the log pane also shows a line of the device's own telemetry
   (its kept log, sent by the simulation's process when the device is selected).

Then `q` with the 1,000 devices still running: the time until the app's process has exited
(the simulation's process may finish stopping its devices after that).

Also start-up to the first frame: from starting the process to the network's name on screen,
against a minimal Textual app (one Static) started the same way in the same run; and the time
from a key to its dialog on screen (c settings, a add device, u subscribe), idle.
Targets (issue 4): p95 <= 100 ms under load; start-up < 1 s. Results replace the `tui_latency`
section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import _common
import psutil
from _common import ROOT

from iotsim_tui.profiles.load import load_network
from iotsim_tui.profiles.model import Telemetry
from iotsim_tui.profiles.save import save_network

SIZE = ("120", "40")
READY_TIMEOUT = 60.0
SAMPLE_TIMEOUT = 5.0
"""A keypress not on screen after this long counts as this long (and is reported)."""
MINIMAL_APP = """
import sys
from textual.app import App
from textual.widgets import Static, Tree
class Minimal(App):
    def compose(self):
        yield Static(" TS1 · first", id="title")
        tree = Tree("devices")
        tree.show_root = False
        for n in range(1, int(sys.argv[1]) + 1):
            tree.root.add_leaf(f"TS{n}", data=f"TS{n}")
        yield tree
        yield Static("MINIMAL_READY")
    def on_mount(self):
        self.query_one(Tree).focus()
    def on_tree_node_highlighted(self, event):
        self.query_one("#title", Static).update(f" {event.node.data} · selected")
Minimal().run()
"""


NOTE = (
    "The simulation runs in a child process of its own (`runner/process.py`, forked from a "
    "server that has the engine imported, in a session of its own whose CPU weight is lowered "
    "by nice 5, so a key goes first when both are ready to run). It sends the app digests "
    "(`runner/digest.py`), at most ten a second: the statuses that changed, message counts, new "
    "topics, and every event of the selected device; selecting a device sends its kept events "
    "first. Profiled under this load (py-spy on the app in tmux, and a Pilot run counting "
    "layouts and redraws), the app's CPU went to drawing, not to events: folding a thousand "
    "events a second was ~5% of it. Selecting a device with 200 kept events formatted and drew "
    "all of them (230-480 ms on this machine; now only the rows on screen, ~1 ms plus those "
    "rows, `tui/widgets/log_view.py`); every new log row asked for a layout of the whole screen "
    "(~50 ms each, 5 a second; now only the log's scrollbars change); the subscriptions table "
    "was rebuilt every second; and a full garbage collection took ~180 ms (~20 ms since what "
    "exists after the first frame is frozen out of its way). Quitting with 1,000 devices "
    "running took 3-6 s because the app's shutdown cancelled the wait for the simulation to "
    "stop and multiprocessing then joined it at exit; the app now lets it finish alone after "
    "0.2 s (the terminal is back ~0.2 s after q; the rest is the bundled broker's stop). "
    "Start-up is timed with the app's modules compiled, as after a user's first run (this "
    "machine sets PYTHONDONTWRITEBYTECODE, so each start compiled them again: ~1.1 s), and with "
    "the garbage collector off until the first frame. "
    "Figures on this shared machine move with its load: the reference's row shows how much. "
    "An earlier run the same night at load 4.2 (with a 0.5 s wait at quit): reference p50 59, "
    "p95 74 ms; idle 79, 103 ms; under load 107, 177 ms (1.8x the reference's median); quit "
    "1.45 s. Before these changes (2026-11-25, load 2.0): under load p50 84 ms, p95 159 ms, "
    "max 328 ms, with the log's title alone as the end of a sample."
)

PROCESS_ROLES = ("app", "simulation (child process)", "bundled broker")


def _app_processes(term: Terminal) -> dict[str, psutil.Process]:
    """The app's process, its simulation's child process and its bundled broker, by role."""
    shell = psutil.Process(int(term.tmux("display", "-p", "-t", "app", "#{pane_pid}")))
    found: dict[str, psutil.Process] = {}
    for process in [shell, *shell.children(recursive=True)]:
        try:
            line = " ".join(process.cmdline())
            parent = process.parent()
            parent_line = " ".join(parent.cmdline()) if parent is not None else ""
        except psutil.Error:
            continue
        if "forkserver" in line:
            # Forked from the fork server: the same command line, the server as its parent.
            if "forkserver" in parent_line:
                found.setdefault(PROCESS_ROLES[1], process)
        elif "broker" in line and "resource_tracker" not in line:
            found.setdefault(PROCESS_ROLES[2], process)
        elif "iotsim-tui" in line:
            found.setdefault(PROCESS_ROLES[0], process)
    return found


def _cpu_seconds(processes: dict[str, psutil.Process]) -> dict[str, float]:
    seconds = {}
    for role, process in processes.items():
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            seconds[role] = times.user + times.system
    return seconds


def _cpu_share(
    processes: dict[str, psutil.Process], before: dict[str, float], elapsed: float
) -> dict[str, float]:
    """Percent of one core each process used since `before`."""
    after = _cpu_seconds(processes)
    return {
        role: 100 * (after[role] - before[role]) / elapsed
        for role in PROCESS_ROLES
        if role in after and role in before
    }


class Terminal:
    """A private tmux server with one 120 x 40 window running one command."""

    def __init__(self, workdir: Path, name: str) -> None:
        self.socket = workdir / f"{name}.sock"

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-S", str(self.socket), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return result.stdout

    def start(self, command: str) -> float:
        """Start `command`; returns time.perf_counter() just before."""
        self.tmux("new-session", "-d", "-s", "app", "-x", SIZE[0], "-y", SIZE[1], "sleep 3600")
        self.tmux("set", "-s", "escape-time", "0")
        started = time.perf_counter()
        self.tmux("respawn-pane", "-k", "-t", "app", command)
        return started

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "app")

    def wait(self, seen: Callable[[str], bool], limit: float) -> float | None:
        """perf_counter() when the screen first satisfies `seen`, or None after `limit` s."""
        deadline = time.perf_counter() + limit
        while time.perf_counter() < deadline:
            if seen(self.screen()):
                return time.perf_counter()
            time.sleep(0.002)
        return None

    def close(self) -> None:
        """Stop the tmux server, then, by their pids, what it ran that outlives it.

        An app whose terminal went away does not always exit (seen: iotsim-tui left running at
        ~20% of a core), and left over it would load every later measurement.
        """
        left: list[psutil.Process] = []
        with contextlib.suppress(subprocess.SubprocessError, ValueError, psutil.Error):
            shell = psutil.Process(int(self.tmux("display", "-p", "-t", "app", "#{pane_pid}")))
            left = [shell, *shell.children(recursive=True)]
        subprocess.run(
            ["tmux", "-S", str(self.socket), "kill-server"], capture_output=True, check=False
        )
        _, alive = psutil.wait_procs(left, timeout=5)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.terminate()
        _, alive = psutil.wait_procs(alive, timeout=5)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()


def _command(workdir: Path, program: list[str]) -> str:
    args = " ".join(program)
    return f"cd {workdir} && env -u COLUMNS -u LINES XDG_STATE_HOME={workdir / 'state'} {args}"


def _profile(workdir: Path, devices: int) -> Path:
    fleet = load_network(ROOT / "profiles" / "fleet_1000.toml")
    template = fleet.templates[0]
    telemetry = tuple(replace(t, interval=1.0) for t in template.telemetry) or (
        Telemetry("fleet/{id}/temperature", interval=1.0),
    )
    network = replace(
        fleet,
        name="FLEET_BENCH",
        broker=replace(fleet.broker, port=_quiet_port()),
        templates=(replace(template, count=devices, telemetry=telemetry),),
    )
    path = workdir / "fleet_bench.toml"
    save_network(network, path)
    return path


def _quiet_port() -> int:
    """A free port below the ephemeral range, so that the many client connections other
    programs open on this machine cannot take it before the app's broker binds it."""
    for _ in range(200):
        port = random.randrange(20_000, 32_000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return _common.free_port()


def _title_shows(device_id: str, *, with_log: bool = False) -> Callable[[str], bool]:
    """The device's name in the log's title (and, `with_log`, its telemetry in the log)."""
    needle = f" {device_id} · "
    telemetry = f"fleet/{device_id}/"

    def shows(screen: str) -> bool:
        lines = screen.splitlines()
        if not any(needle in line for line in lines[:4]):
            return False
        return not with_log or any(telemetry in line for line in lines[4:])

    return shows


def _samples(
    term: Terminal, ids: list[str], count: int, *, with_log: bool = False
) -> tuple[list[float], int]:
    """Latencies in ms of `count` Down/Up presses between two devices; and how many timed out."""
    latencies: list[float] = []
    missed = 0
    at = 0
    for number in range(count):
        key, at = ("Down", 1) if at == 0 else ("Up", 0)
        sent = time.perf_counter()
        term.tmux("send-keys", "-t", "app", key)
        shown = term.wait(_title_shows(ids[at], with_log=with_log), SAMPLE_TIMEOUT)
        if shown is None:
            missed += 1
            shown = sent + SAMPLE_TIMEOUT
        latencies.append((shown - sent) * 1000)
        time.sleep(0.15 + 0.05 * (number % 3))  # keys a person types, not a flood
    return latencies, missed


def _quit(term: Terminal, processes: dict[str, psutil.Process]) -> dict[str, float | None]:
    """Press q with every device running; seconds until the app's process and the
    simulation's process have exited (None: not within READY_TIMEOUT)."""
    pressed = time.perf_counter()
    term.tmux("send-keys", "-t", "app", "q")  # the app stops its broker too
    exited: dict[str, float | None] = {}
    for role in PROCESS_ROLES[:2]:
        process = processes.get(role)
        if process is None:
            continue
        with contextlib.suppress(psutil.NoSuchProcess):
            try:
                process.wait(READY_TIMEOUT)
            except psutil.TimeoutExpired:
                exited[role] = None
                continue
        exited[role] = time.perf_counter() - pressed
    return exited


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _startup(workdir: Path, program: list[str], ready: str, runs: int) -> list[float]:
    times = []
    for run in range(runs):
        term = Terminal(workdir, f"start-{ready[:4]}-{run}")
        try:
            started = term.start(_command(workdir, program))
            shown = term.wait(lambda screen: ready in screen, READY_TIMEOUT)
            if shown is None:
                raise SystemExit(f"{ready} never appeared:\n{term.screen()}")
            times.append(shown - started)
        finally:
            term.close()
    return times


def measure_startup(workdir: Path, devices: int, runs: int) -> dict[str, object]:
    """Start-up to the first frame, ours and the minimal app's, alternating run by run.

    The app's modules are compiled first, as Python does on a user's first run: where
    PYTHONDONTWRITEBYTECODE is set (as on this machine), every start would compile them
    again, while Textual's were compiled when pip installed it.
    """
    compileall.compile_dir(ROOT / "iotsim_tui", quiet=1)
    app = [str(Path(sys.executable).with_name("iotsim-tui"))]
    (workdir / "minimal.py").write_text(MINIMAL_APP)
    profile = _profile(workdir, devices)
    ours: list[float] = []
    minimal: list[float] = []
    for _ in range(runs):  # alternating, so that a busy spell of the machine hits both
        ours += _startup(workdir, [*app, "--no-broker", str(profile)], "FLEET_BENCH", 1)
        minimal_app = [sys.executable, "minimal.py", str(devices)]
        minimal += _startup(workdir, minimal_app, "MINIMAL_READY", 1)
    dialogs = measure_dialogs(workdir, 3 if runs < 5 else 6)
    return {"startup": ours, "startup_minimal": minimal, "dialogs": dialogs}


DIALOGS = (
    ("c", "network settings", "Network settings"),
    ("a", "add a device", "Add a device to"),
    ("u", "subscribe", "to a command topic"),
)
"""Keys that open a dialog, what it is, and words of its title."""


def measure_dialogs(workdir: Path, rounds: int) -> dict[str, list[float]]:
    """Key to dialog on screen (ms), idle, on the bundled HEALTH_CARE network: `rounds`
    opens of each dialog in turn, the first of each 2 s after the first frame (a person reads
    the screen before a key)."""
    app = str(Path(sys.executable).with_name("iotsim-tui"))
    profile = ROOT / "profiles" / "health_care.toml"
    times: dict[str, list[float]] = {name: [] for _, name, _ in DIALOGS}
    term = Terminal(workdir, "dialogs")
    try:
        term.start(_command(workdir, [app, "--no-broker", str(profile)]))
        if term.wait(lambda s: " · " in "".join(s.splitlines()[:4]), READY_TIMEOUT) is None:
            raise SystemExit(f"no device selected:\n{term.screen()}")
        time.sleep(2.0)
        for _ in range(rounds):
            for key, name, title in DIALOGS:
                sent = time.perf_counter()
                term.tmux("send-keys", "-t", "app", key)
                shown = term.wait(lambda s, title=title: title in s, SAMPLE_TIMEOUT)
                times[name].append(((shown or sent + SAMPLE_TIMEOUT) - sent) * 1000)
                term.tmux("send-keys", "-t", "app", "Escape")
                if term.wait(lambda s, title=title: title not in s, SAMPLE_TIMEOUT) is None:
                    raise SystemExit(f"the {name} dialog did not close:\n{term.screen()}")
                time.sleep(0.2)
    finally:
        term.close()
    return times


def dialogs_report(times: dict[str, list[float]]) -> str:
    """The dialog table: first open, then the median and max of the later ones."""
    lines = [
        "| key to dialog on screen, idle | first open ms | later opens p50 ms | max ms |",
        "|---|---:|---:|---:|",
    ]
    for key, name, _ in DIALOGS:
        values = times[name]
        later = statistics.median(values[1:]) if len(values) > 1 else float("nan")
        lines.append(f"| {key}: {name} | {values[0]:.0f} | {later:.0f} | {max(values):.0f} |")
    return "\n".join(lines)


def startup_report(figures: dict[str, object]) -> str:
    """The start-up table: median, spread and ratio to the minimal app."""
    startup = figures["startup"]
    minimal = figures["startup_minimal"]
    assert isinstance(startup, list)
    assert isinstance(minimal, list)
    start = statistics.median(startup)
    start_minimal = statistics.median(minimal)
    dialogs = figures["dialogs"]
    assert isinstance(dialogs, dict)
    return "\n".join(
        [
            f"| start-up to first frame ({len(startup)} runs each) | median s | min-max s "
            "| ratio | target |",
            "|---|---:|---:|---:|---|",
            f"| iotsim-tui, {figures['devices']:,}-device profile, no broker | {start:.2f} | "
            f"{min(startup):.2f}-{max(startup):.2f} | {start / start_minimal:.1f}x | "
            f"< 1 s {'met' if start < 1 else 'NOT met'} |",
            f"| minimal Textual app, same tree (reference) | {start_minimal:.2f} | "
            f"{min(minimal):.2f}-{max(minimal):.2f} | 1.0x | |",
            "",
            dialogs_report(dialogs),
        ]
    )


def measure(quick: bool) -> dict[str, object]:
    """Run every case; returns the figures."""
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is not installed")
    _common.raise_fd_limit()
    devices = 200 if quick else 1000
    count = 20 if quick else 60
    app = [str(Path(sys.executable).with_name("iotsim-tui"))]
    with tempfile.TemporaryDirectory(prefix="tui-latency-") as folder:
        workdir = Path(folder)
        starts = measure_startup(workdir, devices, 3 if quick else 7)
        minimal_app = [sys.executable, "minimal.py", str(devices)]

        term = Terminal(workdir, "minimal")
        try:
            term.start(_command(workdir, minimal_app))
            if term.wait(lambda s: "MINIMAL_READY" in s, READY_TIMEOUT) is None:
                raise SystemExit(f"the minimal app did not start:\n{term.screen()}")
            term.tmux("send-keys", "-t", "app", "Down", "Up")
            time.sleep(0.5)
            reference, reference_missed = _samples(term, ["TS1", "TS2"], count)
        finally:
            term.close()

        profile = _profile(workdir, devices)  # a port picked now, not before the start-ups
        term = Terminal(workdir, "latency")
        try:
            term.start(_command(workdir, [*app, str(profile)]))
            if term.wait(lambda s: "bundled broker running" in s, READY_TIMEOUT) is None:
                log = workdir / "state" / "iotsim-tui" / "iotsim-tui.log"
                problem = log.read_text() if log.exists() else ""
                raise SystemExit(f"the app did not start its broker:\n{problem}{term.screen()}")
            ids = ["TS1", "TS2"]
            if term.wait(_title_shows(ids[0]), READY_TIMEOUT) is None:
                raise SystemExit(f"TS1 not selected:\n{term.screen()}")
            idle, idle_missed = _samples(term, ids, count)
            term.tmux("send-keys", "-t", "app", "S")
            up = f"{devices}/{devices}"
            connected = term.wait(lambda s: up in s, READY_TIMEOUT)
            if connected is None:
                raise SystemExit(f"not every device connected:\n{term.screen()}")
            time.sleep(3.0)  # every device has published by now
            processes = _app_processes(term)
            load_loaded = os.getloadavg()[0]
            before = _cpu_seconds(processes)
            began = time.perf_counter()
            loaded, loaded_missed = _samples(term, ids, count, with_log=True)
            cpu_loaded = _cpu_share(processes, before, time.perf_counter() - began)
            quit_seconds = _quit(term, processes)
        finally:
            term.close()
    return {
        "load": os.getloadavg()[0],
        "devices": devices,
        "count": count,
        "reference": reference,
        "reference_missed": reference_missed,
        "idle": idle,
        "idle_missed": idle_missed,
        "loaded": loaded,
        "loaded_missed": loaded_missed,
        "cpu_loaded": cpu_loaded,
        "quit": quit_seconds,
        "load_loaded": load_loaded,
        **starts,
    }


def report(figures: dict[str, object]) -> str:
    """The markdown section for docs/performance.md."""
    idle = figures["idle"]
    loaded = figures["loaded"]
    assert isinstance(idle, list)
    assert isinstance(loaded, list)
    p95_loaded = _percentile(loaded, 0.95)
    reference = figures["reference"]
    assert isinstance(reference, list)
    cpu_loaded = figures["cpu_loaded"]
    assert isinstance(cpu_loaded, dict)
    rows = [
        ("minimal Textual app: a tree and a title (reference)", reference, 0),
        ("iotsim-tui idle", idle, figures["idle_missed"]),
        (
            f"iotsim-tui, {figures['devices']:,} devices publishing 1/s",
            loaded,
            figures["loaded_missed"],
        ),
    ]
    lines = [
        "## Keypress latency of the app (`benchmarks/tui_latency.py`)",
        "",
        f"Run {_common.today()} on {_common.machine()}, load average {figures['load']:.1f} "
        "(the machine is shared: the reference suffers alike). The app in a real terminal (tmux, "
        "120 x 40) with its bundled broker; a sample is `send-keys Down`/`Up` in the network "
        "tree until `capture-pane` shows the other device in the log's title, and under load "
        "also a line of its telemetry in the log (polled every ~2 ms; each poll costs ~2-4 ms, "
        f"included). {figures['count']} samples per case; load average "
        f"{figures['load_loaded']:.1f} when the loaded samples began.",
        "",
        "| case | p50 ms | p95 ms | max ms | not shown in 5 s | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, values, missed in rows:
        target = ""
        if values is loaded:
            target = "p95 <= 100 ms " + ("met" if p95_loaded <= 100 else "NOT met")
        lines.append(
            f"| {name} | {statistics.median(values):.0f} | {_percentile(values, 0.95):.0f} | "
            f"{max(values):.0f} | {missed} | {target} |"
        )
    ratio = statistics.median(loaded) / statistics.median(reference)
    idle_ratio = statistics.median(idle) / statistics.median(reference)
    quit_times = figures["quit"]
    assert isinstance(quit_times, dict)

    def seconds(role: str) -> str:
        value = quit_times.get(role)
        return "not within a minute" if value is None else f"{value:.2f} s"

    lines += [
        "",
        f"Medians against the reference: idle {idle_ratio:.1f}x, under load {ratio:.1f}x.",
        "",
        f"Quit (q) with the {figures['devices']:,} devices running: the app's process exited "
        f"after {seconds(PROCESS_ROLES[0])} (target: about a second), the simulation's "
        f"process after {seconds(PROCESS_ROLES[1])}.",
        "",
        "CPU during the samples under load, in % of one core: "
        + ", ".join(f"{role} {share:.0f}" for role, share in cpu_loaded.items())
        + ".",
        "",
        startup_report(figures),
        "",
        NOTE,
    ]
    return "\n".join(lines)


def main() -> None:
    """Measure, print, and write the docs section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 devices, fewer samples")
    parser.add_argument("--no-write", action="store_true", help="leave docs/performance.md")
    parser.add_argument(
        "--startup-only",
        type=int,
        metavar="RUNS",
        help="measure only start-up to the first frame, RUNS times each (1,000 devices)",
    )
    args = parser.parse_args()
    if args.startup_only:
        _common.raise_fd_limit()
        with tempfile.TemporaryDirectory(prefix="tui-startup-") as folder:
            starts = measure_startup(Path(folder), 1000, args.startup_only)
        print(startup_report({"devices": 1000, **starts}))
        return
    figures = measure(args.quick)
    text = report(figures)
    print(text)
    if not (args.quick or args.no_write):
        _common.write_section("tui_latency", text)


if __name__ == "__main__":
    main()
