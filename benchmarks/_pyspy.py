"""Where a process's CPU goes: a short py-spy profile, summed by function and by area.

py-spy (PyPI: `pip install py-spy`) samples a running Python process from outside, without
pausing it (`--nonblocking`); its raw output is one line per distinct stack, frames separated
by ";" from the outermost, then the number of samples. Idle samples are left out by py-spy, so
the counts are CPU time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")

AREAS = (
    ("iotsim_tui/engine/", "engine (devices, telemetry, ledger)"),
    ("iotsim_tui/protocol/", "MQTT codec (protocol/)"),
    ("iotsim_tui/headless/", "headless run (summary, display)"),
    ("iotsim_tui/", "iotsim-tui, other"),
    ("paho/", "paho-mqtt"),
    ("aiomqtt/", "aiomqtt"),
    ("asyncio/", "asyncio (event loop, transports)"),
    ("selectors.py", "asyncio (event loop, transports)"),
    ("socket.py", "sockets"),
    ("json/", "json"),
    ("random.py", "random"),
)
"""Path part -> the area a leaf frame's time is counted in (first match wins)."""


@dataclass
class Profile:
    """Samples of one process, by leaf function (self time) and by area."""

    samples: int = 0
    """Samples of work: those in the event loop's wait (`waiting`) are not counted here."""
    waiting: int = 0
    """Samples caught in the event loop's epoll wait: py-spy counts a thread as busy on its
    way into or out of the system call, though the loop is waiting, not working."""
    leaves: Counter[str] = field(default_factory=Counter)
    areas: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    """Samples in which a function was anywhere on the stack (itself or what it called)."""
    seconds: float = 0.0
    rate: int = 0

    def top(self, count: int = 10) -> list[tuple[str, float]]:
        """The functions that took the most CPU themselves, with their share of the samples."""
        return [(name, n / self.samples) for name, n in self.leaves.most_common(count)]

    def top_inclusive(self, count: int = 10, within: str = "") -> list[tuple[str, float]]:
        """The functions with the most CPU in them or what they called (`within`: a path part
        the function's file must hold, such as "iotsim_tui/")."""
        chosen = [(name, n) for name, n in self.inclusive.most_common() if within in name]
        return [(name, n / self.samples) for name, n in chosen[:count]]

    def by_area(self) -> list[tuple[str, float]]:
        """Each area's share of the samples, largest first."""
        return [(name, n / self.samples) for name, n in self.areas.most_common()]


def available() -> str | None:
    """The py-spy binary next to this Python, or on PATH; None when it is not installed."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start(pid: int, seconds: float, output: Path, rate: int = 50) -> subprocess.Popen[bytes]:
    """Start sampling `pid` for `seconds`, `rate` times a second, into `output` (raw)."""
    binary = available()
    if binary is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    return subprocess.Popen(
        [
            *(binary, "record", "--pid", str(pid), "--duration", f"{seconds:.0f}"),
            *("--rate", str(rate), "--format", "raw", "--nonblocking"),
            *("--output", str(output)),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def read(output: Path, seconds: float, rate: int = 50) -> Profile:
    """Sum py-spy's raw output."""
    profile = Profile(seconds=seconds, rate=rate)
    for line in output.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        leaf = stack.rsplit(";", 1)[-1]
        match = _FRAME.match(leaf)
        function, file = (match["function"], match["file"]) if match else (leaf, "")
        short = _short(file)
        if function.endswith("select") and short == "selectors.py":
            profile.waiting += n
            continue
        profile.samples += n
        profile.leaves[f"{function} ({short})"] += n
        seen: set[str] = set()
        for frame in stack.split(";"):
            found = _FRAME.match(frame)
            name = f"{found['function']} ({_short(found['file'])})" if found else frame
            if name not in seen:
                seen.add(name)
                profile.inclusive[name] += n
        profile.areas[_area(file)] += n
    return profile


def _short(file: str) -> str:
    """A frame's file without the folders before the package (`paho/mqtt/client.py`)."""
    if "site-packages/" in file:
        return file.split("site-packages/", 1)[1]
    if "iotsim_tui/" in file:
        return "iotsim_tui/" + file.split("iotsim_tui/", 1)[1]
    if "lib/python3" in file:
        return file.split("lib/python3", 1)[1].partition("/")[2]
    return file


def _area(file: str) -> str:
    for part, area in AREAS:
        if part in file:
            return area
    return "other (interpreter, standard library)"
