"""Run the bundled broker as its own process, for the app and the headless runner.

`BundledBroker` starts `iotsim-tui broker ...` (as a `broker.launch.BrokerLaunch` says) in a
child process (which Linux ends if this process dies without stopping it), waits until each
listener reports `ready:` on stderr, keeps the broker's recent log lines in a bounded ring,
and stops it with SIGTERM (SIGKILL if it does not go). The caller talks to the broker over
MQTT only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from iotsim_tui.broker.launch import BrokerLaunch, check_ports_free, port_in_use_message
from iotsim_tui.errors import BrokerError

EXIT_PORT_IN_USE = 3
"""The broker's exit code when a listener's port is taken."""
MAX_LINE = 2_000
_PR_SET_PDEATHSIG = 1


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
