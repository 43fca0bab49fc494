"""Helpers every benchmark shares: free ports, brokers as child processes, RSS, medians, and
writing one section of docs/performance.md.

Benchmarks run from the repository root (`python benchmarks/NAME.py`) and import this module
as `_common`; it needs nothing outside the standard library, psutil and the package itself.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PERFORMANCE_MD = ROOT / "docs" / "performance.md"
HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(
    port: int,
    host: str = HOST,
    timeout: float = 60.0,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Return once host:port accepts TCP connections; raise when `process` exits or time runs out.

    The error includes the end of `log`, the starting process's output.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            exited = process is not None and process.poll() is not None
            if exited or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:] if log is not None else ""
                why = f"exited ({process.returncode})" if exited and process else "timed out"
                raise RuntimeError(f"nothing listens on {host}:{port}: {why}\n{tail}") from None
            time.sleep(0.02)


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss(pid: int) -> int:
    """Resident set size of a process, in bytes."""
    return int(psutil.Process(pid).memory_info().rss)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def median(values: Iterable[float]) -> float:
    """The median, or NaN for no values."""
    items = list(values)
    return statistics.median(items) if items else float("nan")


def machine() -> str:
    """One line about this machine: CPU, cores, memory, OS, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def today() -> str:
    """The date and time of the run, UTC."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_section(name: str, markdown: str, path: Path = PERFORMANCE_MD) -> None:
    """Replace this benchmark's section of docs/performance.md (between its markers).

    The section lives between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; it is added
    at the end when the markers are missing. Other sections are left as they are.
    """
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Performance\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".md.tmp")
    temporary.write_text(text)
    temporary.replace(path)


@dataclass
class BrokerProcess:
    """A broker started by a benchmark: its listeners and its process handle."""

    name: str
    port: int
    tls_port: int | None
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        """The broker's process id."""
        return self.process.pid


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a child process this benchmark started: SIGTERM, then SIGKILL."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def mosquitto_binary() -> str | None:
    """Where mosquitto is installed (Debian puts it in /usr/sbin), or None."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


StartCommand = Callable[[int, "int | None"], list[str]]


def _start(
    name: str, workdir: Path, command: StartCommand, *, tls: bool, code: Path | None = None
) -> BrokerProcess:
    """Start a broker on free ports; pick new ones if another program took them first.

    `code`: a folder holding another version of iotsim_tui to run (an export of a commit).
    """
    for attempt in range(1, 4):
        port = free_port()
        tls_port = free_port() if tls else None
        log_path = workdir / f"{name}-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command(port, tls_port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=code or ROOT,
                env=None if code is None else {**os.environ, "PYTHONPATH": str(code)},
            )
        try:
            for listener in (port, tls_port):
                if listener is not None:
                    wait_for_port(listener, process=process, log=log_path)
        except RuntimeError:
            stop(process)
            # Free ports are picked before the broker binds them; on a busy machine another
            # program sometimes wins the race. Anything else is a real failure.
            if attempt == 3 or "in use" not in log_path.read_text(errors="replace"):
                raise
            continue
        return BrokerProcess(name, port, tls_port, process)
    raise AssertionError("unreachable")


@contextmanager
def run_mosquitto(
    workdir: Path, *, certs: Path | None = None, settings: Iterable[str] = ()
) -> Iterator[BrokerProcess]:
    """mosquitto on free ports: plain, and TLS when `certs` holds ca/server files."""
    binary = mosquitto_binary()
    if binary is None:
        raise SystemExit("mosquitto is not installed (apt-get install mosquitto)")
    settings = list(settings)

    def command(port: int, tls_port: int | None) -> list[str]:
        # As root mosquitto would drop to the "mosquitto" user, who cannot read a 0700 folder.
        lines = [f"user {getpass.getuser()}", "per_listener_settings false"]
        lines += ["allow_anonymous true", *settings, f"listener {port} {HOST}"]
        if certs is not None:
            lines += [
                f"listener {tls_port} {HOST}",
                f"cafile {certs / 'ca.crt'}",
                f"certfile {certs / 'server.crt'}",
                f"keyfile {certs / 'server.key'}",
            ]
        config = workdir / f"mosquitto-{port}.conf"
        config.write_text("\n".join(lines) + "\n")
        return [binary, "-c", str(config)]

    broker = _start("mosquitto", workdir, command, tls=certs is not None)
    try:
        yield broker
    finally:
        stop(broker.process)


@contextmanager
def run_bundled(
    workdir: Path,
    *,
    certs: Path | None = None,
    settings: Iterable[str] = (),
    code: Path | None = None,
) -> Iterator[BrokerProcess]:
    """The bundled broker (`iotsim-tui broker`) on free ports, with `settings` as TOML lines.

    `code`: run the iotsim_tui found in that folder (another commit's export) instead.
    """
    config = workdir / "bundled.toml"
    config.write_text("[broker]\n" + "\n".join(settings) + "\n")

    def command(port: int, tls_port: int | None) -> list[str]:
        args = ["--config", str(config), "--port", str(port), "--log-level", "warning"]
        if certs is not None:
            args += ["--tls-port", str(tls_port), "--certs", str(certs)]
        return [sys.executable, "-m", "iotsim_tui", "broker", *args]

    broker = _start("iotsim-tui", workdir, command, tls=certs is not None, code=code)
    try:
        yield broker
    finally:
        stop(broker.process)
