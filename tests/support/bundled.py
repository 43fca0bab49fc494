"""The bundled broker as a real subprocess on free loopback ports, for tests of any package.

    with run_bundled_broker(tmp_path) as broker:              # plain
        ... connect to broker.host, broker.port ...
    with run_bundled_broker(tmp_path, tls=True, require_client_cert=True) as broker:
        ... broker.tls_port, broker.certs / "ca.crt", tests.support.certs.client_pair(...) ...

`bundled_broker(...)` is the same as an async context manager around `BundledBroker`, for
tests that run in an event loop. Both skip the test when the broker command is missing.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from iotsim_tui.broker.launch import BrokerLaunch
from iotsim_tui.broker.process import BundledBroker
from tests.support.certs import make_cert_dir
from tests.support.mosquitto import stop

READY_TIMEOUT = 30.0


def broker_available() -> bool:
    """True once the broker command (`iotsim_tui.broker.command`) exists."""
    return importlib.util.find_spec("iotsim_tui.broker.command") is not None


def skip_without_broker() -> None:
    """Skip the calling test, with the reason, while the broker command does not exist."""
    if not broker_available():
        pytest.skip("the bundled broker command (iotsim_tui.broker.command) does not exist yet")


@dataclass(frozen=True)
class RunningBundled:
    """A bundled broker started by a test; ports are None for listeners it does not have."""

    host: str
    port: int | None
    tls_port: int | None
    certs: Path | None
    log: Path
    process: subprocess.Popen[bytes]


def _launch(
    tmp_path: Path,
    *,
    plain: bool,
    tls: bool,
    certs: Path | None,
    require_client_cert: bool,
    password_file: Path | None,
    allow_anonymous: bool,
) -> BrokerLaunch:
    if tls and certs is None:
        made = tmp_path / "certs"
        certs = made if (made / "ca.crt").exists() else make_cert_dir(tmp_path)
    # Port 0: the broker picks free ports itself and reports them, so no other test can
    # take them between our choice and its bind.
    return BrokerLaunch(
        plain_port=0 if plain else None,
        tls_port=0 if tls else None,
        certs_dir=certs if tls else None,
        require_client_cert=require_client_cert,
        password_file=password_file,
        allow_anonymous=allow_anonymous,
    )


@contextmanager
def run_bundled_broker(
    tmp_path: Path,
    *,
    plain: bool = True,
    tls: bool = False,
    certs: Path | None = None,
    require_client_cert: bool = False,
    password_file: Path | None = None,
    allow_anonymous: bool = True,
    extra_args: tuple[str, ...] = (),
) -> Iterator[RunningBundled]:
    """Run `iotsim-tui broker` on free ports until the block ends; its log goes to a file.

    With `tls` and no `certs`, a fresh certificate folder is made in `tmp_path / "certs"`.
    """
    skip_without_broker()
    launch = _launch(
        tmp_path,
        plain=plain,
        tls=tls,
        certs=certs,
        require_client_cert=require_client_cert,
        password_file=password_file,
        allow_anonymous=allow_anonymous,
    )
    log_path = tmp_path / f"bundled-broker-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "iotsim_tui", *launch.arguments(), *extra_args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        ready = _wait_ready(process, log_path, [kind for kind, _ in launch.listeners])
        yield RunningBundled(
            host=launch.bind,
            port=ready.get("plain"),
            tls_port=ready.get("tls"),
            certs=launch.certs_dir,
            log=log_path,
            process=process,
        )
    finally:
        stop(process, timeout=10)


def _wait_ready(
    process: subprocess.Popen[bytes], log_path: Path, kinds: list[str]
) -> dict[str, int]:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        ready: dict[str, int] = {}
        text = log_path.read_text(errors="replace")
        for line in text.splitlines():
            if line.startswith("ready: "):
                kind, _, address = line[len("ready: ") :].partition(" ")
                ready[kind] = int(address.rpartition(":")[2])
        if all(kind in ready for kind in kinds):
            return ready
        if process.poll() is not None:
            raise RuntimeError(f"the bundled broker exited ({process.returncode}):\n{text}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the bundled broker was not ready in {READY_TIMEOUT} s:\n{text}")
        time.sleep(0.02)


@asynccontextmanager
async def bundled_broker(
    tmp_path: Path,
    *,
    plain: bool = True,
    tls: bool = False,
    certs: Path | None = None,
    require_client_cert: bool = False,
    password_file: Path | None = None,
    allow_anonymous: bool = True,
) -> AsyncIterator[BundledBroker]:
    """The supervisor itself, started on free ports; read them from `broker.listening`."""
    skip_without_broker()
    launch = _launch(
        tmp_path,
        plain=plain,
        tls=tls,
        certs=certs,
        require_client_cert=require_client_cert,
        password_file=password_file,
        allow_anonymous=allow_anonymous,
    )
    async with BundledBroker(launch, ready_timeout=READY_TIMEOUT) as broker:
        yield broker
