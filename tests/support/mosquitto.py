"""A real mosquitto broker on a free loopback port, for interop tests and benchmarks."""

from __future__ import annotations

import getpass
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import free_port


@dataclass(frozen=True)
class RunningMosquitto:
    """A mosquitto process started by a test; `tls_port` is set when it was given certs."""

    host: str
    port: int
    tls_port: int | None
    process: subprocess.Popen[bytes]


def mosquitto_path() -> str | None:
    """Where mosquitto is installed (Debian puts it in /usr/sbin), or None."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


STARTS = 3
"""Tries at a fresh port: a port found free can be taken before mosquitto binds it."""

READY_TIMEOUT = 30.0
"""Seconds mosquitto may take to open its listeners on a loaded machine."""


class PortTaken(RuntimeError):
    """Mosquitto could not bind a port that was free a moment before."""


@contextmanager
def run_mosquitto(
    workdir: Path,
    *,
    certs: Path | None = None,
    require_client_cert: bool = False,
    extra_config: str = "",
) -> Iterator[RunningMosquitto]:
    """Start mosquitto on free ports (plain, and TLS when `certs` holds ca/server files)."""
    binary = mosquitto_path()
    if binary is None:
        raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
    for attempt in range(1, STARTS + 1):
        port = free_port()
        tls_port = None if certs is None else free_port()
        lines = [
            # Started as root, mosquitto would drop to the "mosquitto" user, who cannot read a
            # certificate folder made 0700: keep the user that made it.
            *([] if "user " in extra_config else [f"user {getpass.getuser()}"]),
            "per_listener_settings false",
            "allow_anonymous true",
            "max_queued_messages 100000",
            f"listener {port} 127.0.0.1",
        ]
        if certs is not None:
            lines += [
                f"listener {tls_port} 127.0.0.1",
                f"cafile {certs / 'ca.crt'}",
                f"certfile {certs / 'server.crt'}",
                f"keyfile {certs / 'server.key'}",
                f"require_certificate {'true' if require_client_cert else 'false'}",
            ]
        config = workdir / f"mosquitto-{port}.conf"
        config.write_text("\n".join(lines) + "\n" + extra_config)
        log_path = workdir / f"mosquitto-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=log)
        try:
            wait_running(process, log_path)
        except PortTaken:
            if attempt == STARTS:
                raise
            continue
        except BaseException:
            stop(process)
            raise
        try:
            yield RunningMosquitto("127.0.0.1", port, tls_port, process)
        finally:
            stop(process)
        return


def wait_running(
    process: subprocess.Popen[bytes], log_path: Path, timeout: float = READY_TIMEOUT
) -> None:
    """Return once mosquitto says it runs (every listener is open by then).

    Its own log line is the signal rather than a connection to the port, which could reach
    another program that took the port, and leaves a connection in mosquitto's log.

    Raises:
        PortTaken: A listener's port was in use (mosquitto exited).
        RuntimeError: Mosquitto exited for another reason, or did not start in `timeout` s.
    """
    deadline = time.monotonic() + timeout
    while True:
        text = log_path.read_text(errors="replace")
        if re.search(r"^\d+: mosquitto version \S+ running$", text, re.M):
            return
        if process.poll() is not None:
            text = log_path.read_text(errors="replace")
            kind = PortTaken if "Address already in use" in text else RuntimeError
            raise kind(f"mosquitto exited ({process.returncode}):\n{text}")
        if time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"mosquitto did not start in {timeout:g} s:\n{text}")
        time.sleep(0.02)


def stop(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Terminate a broker's process and reap it (killed if it lingers `timeout` s)."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
