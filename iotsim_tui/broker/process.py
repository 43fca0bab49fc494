"""Run the bundled broker as its own process, for the app and the headless runner.

`BundledBroker` starts `iotsim-tui broker ...` in a child process (which Linux ends if this
process dies without stopping it), waits until each listener reports
`ready:` on stderr, keeps the broker's recent log lines in a bounded ring, and stops it with
SIGTERM (SIGKILL if it does not go). The caller talks to the broker over MQTT only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import ipaddress
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from iotsim_tui.errors import BrokerError
from iotsim_tui.profiles.model import Network

EXIT_PORT_IN_USE = 3
"""The broker's exit code when a listener's port is taken."""
MAX_LINE = 2_000
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class BrokerLaunch:
    """How to start the bundled broker: its listeners and who it lets in."""

    bind: str = "127.0.0.1"
    plain_port: int | None = 1883
    """The plain listener's port, None for none, 0 for any free port (see `listening`)."""
    tls_port: int | None = None
    certs_dir: Path | None = None
    """The folder with server.crt, server.key and (for client certificates) ca.crt."""
    require_client_cert: bool = False
    password_file: Path | None = None
    allow_anonymous: bool = True
    tls_version: str | None = None
    """The only TLS version the TLS listener speaks ("1.2" or "1.3"); None: both."""
    login: tuple[str, str] | None = field(default=None, repr=False)
    """A user name and password the broker lets in (a profile's credentials): written, hashed,
    to a password file of its own (0600, in a 0700 folder) when the broker starts, and
    removed when it stops. Never shown (`repr=False`) and never on a command line."""
    data_dir: Path | None = None
    """The folder of the broker's data file; None keeps everything in memory."""
    persistence: str = "periodic"
    """How the broker writes to `data_dir`: "periodic" or "sync" (see docs/broker.md)."""
    acl: str | None = None
    """The text of an ACL file (mosquitto's format), written beside the password file."""
    settings: tuple[tuple[str, bool | int | float], ...] = ()
    """More settings, named as in mosquitto.conf (`max_publish_rate`, `failed_login_delay`,
    `use_identity_as_username`, ...), written to a config file of this broker's own."""

    def __post_init__(self) -> None:
        if self.plain_port is None and self.tls_port is None:
            raise BrokerError("the bundled broker needs a plain or a TLS port")
        for port in (self.plain_port, self.tls_port):
            if port is not None and not 0 <= port <= 65535:
                raise BrokerError(f"port {port} is not between 1 and 65535 (0: any free port)")
        if self.plain_port and self.plain_port == self.tls_port:
            raise BrokerError(f"the plain and TLS listeners cannot share port {self.plain_port}")
        if self.tls_port is not None and self.certs_dir is None:
            raise BrokerError("a TLS listener needs a certificate folder")
        if self.require_client_cert and self.tls_port is None:
            raise BrokerError("client certificates can only be required on a TLS listener")
        if not self.allow_anonymous and self.password_file is None and self.login is None:
            raise BrokerError("without anonymous access the broker needs a password file")

    @classmethod
    def from_network(
        cls, network: Network, certs_dir: Path, data_dir: Path | None = None
    ) -> BrokerLaunch:
        """The broker a network's devices expect, on its effective port.

        With TLS enabled the broker listens with TLS, using the folder of the profile's CA
        file (or `certs_dir` when the profile names none), and requires client certificates
        when the profile gives its devices one; it also keeps the plain port
        `keep_plain_port` open when the profile asks for it.
        """
        broker = network.broker
        if not broker.is_local:
            raise BrokerError(
                f"network {network.name!r} uses the broker at {broker.host}, which is not "
                "this machine: the bundled broker only serves local hosts"
            )
        bind = broker.host if _is_ip(broker.host) else "127.0.0.1"
        # A profile with a user name and password gets a broker that checks them, so that a
        # wrong password shows as it would on a real broker.
        login = (broker.username, broker.password) if broker.username and broker.password else None
        acl, settings = defence_settings(network)
        if not broker.tls.enabled:
            return cls(
                bind=bind,
                plain_port=broker.effective_port,
                login=login,
                allow_anonymous=login is None,
                data_dir=data_dir,
                acl=acl,
                settings=settings,
            )
        folder = Path(broker.tls.ca).parent if broker.tls.ca else certs_dir
        return cls(
            bind=bind,
            plain_port=broker.keep_plain_port,
            tls_port=broker.effective_port,
            certs_dir=folder,
            require_client_cert=broker.tls.cert is not None,
            login=login,
            allow_anonymous=login is None,
            data_dir=data_dir,
            acl=acl,
            settings=settings,
        )

    @property
    def listeners(self) -> list[tuple[str, int]]:
        """("plain" | "tls", port) for each listener."""
        found = [("plain", self.plain_port), ("tls", self.tls_port)]
        return [(kind, port) for kind, port in found if port is not None]

    def arguments(self) -> list[str]:
        """The `iotsim-tui broker` command line for this launch."""
        args = ["broker", "--bind", self.bind]
        if self.plain_port is None:
            args.append("--no-plain")
        else:
            args += ["--port", str(self.plain_port)]
        if self.tls_port is not None:
            args += ["--tls-port", str(self.tls_port), "--certs", str(self.certs_dir)]
        if self.require_client_cert:
            args.append("--require-client-cert")
        if self.tls_version is not None:
            args += ["--tls-version", self.tls_version]
        if self.password_file is not None:
            args += ["--password-file", str(self.password_file)]
        if not self.allow_anonymous:
            args.append("--no-anonymous")
        if self.data_dir is not None:
            args += ["--persistence", self.persistence, "--data", str(self.data_dir)]
        return args


def data_folder(network_name: str) -> Path:
    """Where the app's bundled broker keeps a network's state.

    `$XDG_DATA_HOME/iotsim-tui/brokers/NAME` (`~/.local/share/...` without XDG_DATA_HOME), with
    characters other than letters, digits, `.`, `_` and `-` in the name replaced by `_`.
    """
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", network_name).lstrip(".") or "_"
    return Path(base) / "iotsim-tui" / "brokers" / safe


LOGIN_DELAY = (1.0, 30.0)
"""`login_delay` on: the first wait after a failed login, and the longest (it doubles)."""
PUBLISH_RATE = 20.0
"""`rate_limit` on: PUBLISH packets per second one client may send."""
QUEUED_MESSAGES = 100
"""`rate_limit` on: QoS 1/2 messages queued per client at most."""


def defence_settings(
    network: Network,
) -> tuple[str | None, tuple[tuple[str, bool | int | float], ...]]:
    """The ACL text and broker settings that the network's `[network.broker.defences]` ask for.

    `password` needs no setting here: a profile with a user name and password already gets a
    broker that refuses anonymous clients (`from_network`).
    """
    defences = network.broker.defences
    acl = None
    if defences.acl:
        from iotsim_tui.broker.device_acl import device_acl

        acl = device_acl(network)
    settings: list[tuple[str, bool | int | float]] = []
    tls = network.broker.tls
    if defences.identity and tls.enabled and tls.cert is not None:
        settings += [("use_identity_as_username", True), ("clientid_must_match_identity", True)]
    if defences.login_delay:
        first, longest = LOGIN_DELAY
        settings += [("failed_login_delay", first), ("failed_login_delay_max", longest)]
    if defences.rate_limit:
        settings += [("max_publish_rate", PUBLISH_RATE), ("max_queued_messages", QUEUED_MESSAGES)]
    return acl, tuple(settings)


def port_in_use_message(port: int, host: str) -> str:
    """What to tell the user when a listener's port is taken."""
    return (
        f"port {port} on {host} is already in use: another broker is running? stop it or pick "
        "another port in the network settings"
    )


def check_ports_free(launch: BrokerLaunch) -> None:
    """Raise BrokerError when something already listens on one of the launch's ports."""
    family = socket.AF_INET6 if ":" in launch.bind else socket.AF_INET
    for _, port in launch.listeners:
        if port == 0:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As the broker will: a port left in TIME_WAIT is free, a listening one is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((launch.bind, port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise BrokerError(port_in_use_message(port, launch.bind)) from None
                raise BrokerError(
                    f"cannot listen on {launch.bind}:{port}: {error.strerror or error}"
                ) from None


class BundledBroker:
    """The bundled broker as a child process: start, watch, stop.

    Use `async with BundledBroker(launch) as broker:` or call `start()` and `stop()`.
    Start it from an event loop whose thread lives as long as the broker should: on Linux
    the broker is ended when the thread that started it ends (normally the main thread).
    """

    def __init__(
        self,
        launch: BrokerLaunch,
        *,
        log_lines: int = 200,
        ready_timeout: float = 20.0,
        stop_timeout: float = 5.0,
        on_log: Callable[[str], None] | None = None,
        log_level: str | None = None,
    ) -> None:
        self.launch = launch
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self._on_log = on_log
        self._log_level = log_level
        self._log: deque[str] = deque(maxlen=log_lines)
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ready: dict[str, tuple[str, int]] = {}
        self._all_ready = asyncio.Event()
        self._stopping = False
        self._login_dir: Path | None = None
        """The folder of the password file made from the launch's login, while it runs."""

    async def __aenter__(self) -> BundledBroker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        """The broker's process id, once started."""
        return self._process.pid if self._process is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has ended, else None."""
        return self._process.returncode if self._process is not None else None

    @property
    def listening(self) -> dict[str, tuple[str, int]]:
        """("plain" | "tls") -> (host, port) as the broker reported them when ready."""
        return dict(self._ready)

    @property
    def log(self) -> list[str]:
        """The broker's most recent log lines, oldest first."""
        return list(self._log)

    async def start(self) -> None:
        """Start the broker and return once every listener is ready.

        Raises:
            BrokerError: A port is taken, the broker exited while starting, or it was not
                ready within `ready_timeout` seconds (it is then stopped).
        """
        if self.running:
            raise BrokerError(f"the bundled broker is already running (pid {self.pid})")
        check_ports_free(self.launch)
        arguments = self.launch.arguments() + self._private_arguments()
        if self._log_level is not None:
            arguments += ["--log-level", self._log_level]
        self._log.clear()
        self._ready.clear()
        self._all_ready.clear()
        self._stopping = False
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            str(os.getpid()),
            *arguments,
            # A pipe that closes when this process dies, for a broker that watches its stdin.
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            # Its own session: Ctrl-C in the terminal is the app's to handle, not the broker's.
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._reader = asyncio.create_task(self._read_log(), name="bundled-broker-log")
        exited = asyncio.create_task(self._process.wait())
        ready = asyncio.create_task(self._all_ready.wait())
        try:
            await asyncio.wait(
                {exited, ready}, timeout=self.ready_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:
            # Whoever started it gave up: never leave a broker behind.
            await self.stop()
            raise
        finally:
            ready.cancel()
            exited.cancel()
        if self._all_ready.is_set() and self.running:
            return
        if self.running:
            await self.stop()
            raise BrokerError(
                f"the bundled broker was not ready within {self.ready_timeout:g} s"
                + self._last_lines()
            )
        await self._drain_log()
        self._forget_login()
        code = self.returncode
        if code == EXIT_PORT_IN_USE:
            _, port = next(iter(self.launch.listeners))
            for line in reversed(self._log):
                if "already in use" in line:
                    port = _port_in(line, port)
                    break
            raise BrokerError(port_in_use_message(port, self.launch.bind))
        raise BrokerError(
            f"the bundled broker exited while starting (exit {code})" + self._last_lines()
        )

    async def stop(self) -> int | None:
        """Stop the broker: SIGTERM, then SIGKILL after `stop_timeout` s. Returns its exit code."""
        process = self._process
        if process is None:
            return None
        self._stopping = True
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), self.stop_timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        await self._drain_log()
        if process.stdin is not None:
            process.stdin.close()
        self._forget_login()
        return process.returncode

    def _private_arguments(self) -> list[str]:
        """Write the launch's login, ACL and settings to files of this broker's own (in a
        0700 folder removed when it stops); the arguments that name them."""
        launch = self.launch
        login = launch.login if launch.password_file is None else None
        if login is None and launch.acl is None and not launch.settings:
            return []
        self._forget_login()
        folder = Path(tempfile.mkdtemp(prefix="iotsim-broker-"))  # 0700
        self._login_dir = folder
        arguments: list[str] = []
        if login is not None:
            from iotsim_tui.broker.auth import PasswordFile

            users = PasswordFile()
            users.set(*login)
            users.save(folder / "passwords")  # 0600, scrypt-hashed
            arguments += ["--password-file", str(folder / "passwords")]
        if launch.acl is not None:
            (folder / "acl").write_text(launch.acl, encoding="utf-8")
            arguments += ["--acl-file", str(folder / "acl")]
        if launch.settings:
            import tomli_w

            config = {"broker": dict(launch.settings)}
            (folder / "broker.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
            arguments += ["--config", str(folder / "broker.toml")]
        return arguments

    def _forget_login(self) -> None:
        if self._login_dir is not None:
            shutil.rmtree(self._login_dir, ignore_errors=True)
            self._login_dir = None

    async def wait_exited(self) -> int:
        """Wait until the broker process ends, for whatever reason; return its exit code."""
        if self._process is None:
            raise BrokerError("the bundled broker was never started")
        code = await self._process.wait()
        await self._drain_log()
        return code

    def exit_error(self) -> BrokerError | None:
        """What to tell the user when the broker ended without being asked; None otherwise."""
        code = self.returncode
        if code is None or self._stopping:
            return None
        last = self._log[-1] if self._log else "no log output"
        return BrokerError(f"the bundled broker stopped unexpectedly (exit {code}): {last}")

    async def _read_log(self) -> None:
        assert self._process is not None
        assert self._process.stderr is not None
        stream = self._process.stderr
        while True:
            try:
                raw = await stream.readline()
            except ValueError:
                # A line longer than the stream's limit: the rest of it is dropped.
                self._record("(a log line too long to keep was cut)")
                continue
            if not raw:
                return
            self._record(raw.decode("utf-8", "replace").rstrip()[:MAX_LINE])

    def _record(self, line: str) -> None:
        self._log.append(line)
        if line.startswith("ready: "):
            kind, _, address = line[len("ready: ") :].partition(" ")
            host, _, port = address.rpartition(":")
            if port.isdigit():
                self._ready[kind] = (host.strip("[]"), int(port))
            if all(kind in self._ready for kind, _ in self.launch.listeners):
                self._all_ready.set()
        if self._on_log is not None:
            self._on_log(line)

    async def _drain_log(self) -> None:
        if self._reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), self.stop_timeout)
            except TimeoutError:
                # A grandchild still holds the pipe open; the log no longer matters.
                self._reader.cancel()

    def _last_lines(self, count: int = 5) -> str:
        lines = list(self._log)[-count:]
        return ": " + " | ".join(lines) if lines else " (no log output)"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _port_in(line: str, default: int) -> int:
    words = line.split()
    if "port" in words:
        after = words[words.index("port") + 1]
        if after.isdigit():
            return int(after)
    return default


def _end_with_parent(parent: int) -> None:
    """Ask Linux to SIGTERM this process when `parent` dies (elsewhere: do nothing).

    The broker lives in its own session, so Ctrl-C is the app's alone; that also means nothing
    else would stop it if the app were killed or its terminal closed, and a broker left
    behind would hold the port and make the next start fail.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (AttributeError, OSError):
        return
    if os.getppid() != parent:
        sys.exit(1)  # the parent died before the request took effect: nobody wants a broker


def _main(argv: list[str]) -> int:
    """`python -m iotsim_tui.broker.process PARENT_PID broker ...`: the supervised broker."""
    _end_with_parent(int(argv[0]))
    from iotsim_tui.broker.command import main

    return main(argv[2:])


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
