"""A real mosquitto broker on a free loopback port, for interop tests and benchmarks."""

from __future__ import annotations

import getpass
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import free_port, wait_for_port


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
    port = free_port()
    lines = [
        # Started as root, mosquitto would drop to the "mosquitto" user, who cannot read a
        # certificate folder made 0700: keep the user that made it.
        *([] if "user " in extra_config else [f"user {getpass.getuser()}"]),
        "per_listener_settings false",
        "allow_anonymous true",
        "max_queued_messages 100000",
        f"listener {port} 127.0.0.1",
    ]
    tls_port = None
    if certs is not None:
        tls_port = free_port()
        lines += [
            f"listener {tls_port} 127.0.0.1",
            f"cafile {certs / 'ca.crt'}",
            f"certfile {certs / 'server.crt'}",
            f"keyfile {certs / 'server.key'}",
            f"require_certificate {'true' if require_client_cert else 'false'}",
        ]
    config = workdir / f"mosquitto-{port}.conf"
    config.write_text("\n".join(lines) + "\n" + extra_config)
    log = (workdir / f"mosquitto-{port}.log").open("wb")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=log)
    try:
        wait_for_port(port)
        if tls_port is not None:
            wait_for_port(tls_port)
        yield RunningMosquitto("127.0.0.1", port, tls_port, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
