"""The terminal app: `make_app` builds it for the command line and the tests alike."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.screen import Screen
from textual.worker import Worker, get_current_worker

from iotsim_tui.errors import IotsimError
from iotsim_tui.tui.failures import worker_failed
from iotsim_tui.tui.focus import TypeAhead
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.session import Session

LOADED_AFTER_FIRST_FRAME = (
    "iotsim_tui.tui.screens.network_form",
    "iotsim_tui.tui.screens.new_network",
    "iotsim_tui.tui.screens.device_form",
    "iotsim_tui.tui.screens.subscribe",
    "iotsim_tui.tui.screens.telemetry_list",
    "iotsim_tui.tui.screens.telemetry",
    "iotsim_tui.tui.screens.template_form",
    "iotsim_tui.tui.screens.confirm",
    "iotsim_tui.tui.screens.help",
    "iotsim_tui.tui.screens.files",
    "iotsim_tui.tui.screens.console",
    "iotsim_tui.profiles.save",
    "iotsim_tui.runner.process",
    "iotsim_tui.tui.screens.eavesdrop",
)
"""Modules the first frame does without, loaded in the background once it is drawn, dialogs
first, so that a key opens its dialog without waiting for an import."""
QUIET_SECONDS = 1.0
"""How long after a key the background loading waits before it goes on."""


EXIT_GRACE_SECONDS = 5.0
"""How long the app may take to end after SIGHUP or SIGTERM before it is ended at once."""

FREE_PORTS_NOTE = (
    "The bundled broker listens on a free port of its own, shown in the header (and the "
    "eavesdrop relay's in its view). Where the lab says port 1883 (8883 with TLS), that is the "
    "port the broker would have on your own machine."
)
"""Said once when the app starts with free ports (`--free-ports`, each tab of `serve`)."""

log = logging.getLogger("iotsim_tui.tui")


def default_log_file() -> Path:
    """Where the app logs what went wrong: $XDG_STATE_HOME/iotsim-tui/iotsim-tui.log."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "iotsim-tui" / "iotsim-tui.log"


class IotsimApp(App[int]):
    """Networks of simulated IoT devices, their broker, and what travels between them."""

    CSS_PATH = "app.tcss"
    TITLE = "iotsim-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "question_mark",
            "help",
            "Help: every key",
            id="app.help",
            tooltip="Every key, and where it works",
        ),
        Binding(
            "q", "quit", "Quit", id="app.quit", tooltip="Quit (asks when something is unsaved)"
        ),
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            show=False,
            priority=True,
            id="app.quit_anywhere",
            tooltip="Quit, from any screen (asks when something is unsaved)",
        ),
    ]
    FOOTER_LABELS: ClassVar[dict[str, str]] = {"app.help": "Help"}
    """Short footer words for the bindings above."""

    def __init__(
        self,
        session: Session,
        *,
        problems: Iterable[IotsimError] = (),
        clock: Callable[[], float] = time.time,
        log_file: Path | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.problems = list(problems)
        self.clock = clock
        self.log_file = log_file or default_log_file()
        self._log_handler: logging.Handler | None = None
        self._type_ahead = TypeAhead(self, super().on_event)
        self._last_key = time.monotonic()

    def update_styles(self, node: DOMNode, animate: bool = True) -> None:
        """Restyle `node` and what is in it, unless it is not in the app yet.

        A widget is styled when it is mounted. Textual also restyles it at once for each class
        it sets on itself before that (every `compact` field does, as it is made): wasted work
        that was a good part of the time a dialog took to open.
        """
        if node.is_attached:
            super().update_styles(node, animate)

    async def on_event(self, event: events.Event) -> None:
        """Keys from the terminal go through `TypeAhead`, one at a time; the rest as usual."""
        if isinstance(event, events.Key) and not event.is_forwarded:
            self._last_key = time.monotonic()
            await self._type_ahead.arrived(event)
        else:
            await super().on_event(event)

    def on_mount(self) -> None:
        self._start_logging()
        # A closed terminal (SIGHUP) or a kill (SIGTERM) ends the app the orderly way, so
        # the bundled brokers it started are stopped too.
        loop = asyncio.get_running_loop()
        for number in (signal.SIGHUP, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(number, self._end_on_signal, 128 + number)
        self.push_screen(MainScreen(self.session, clock=self.clock))
        for problem in self.problems:
            self.notify(problem.message, title=problem.title, severity="error", timeout=20)
        if self.session.brokers.free_ports:
            self.notify(FREE_PORTS_NOTE, title="Ports of this session", timeout=30)
        self.call_after_refresh(self._load_the_rest)

    def _end_on_signal(self, code: int) -> None:
        """End the orderly way, and for sure: with its terminal gone, Textual can block for
        good writing to it while it shuts down, and the app would linger."""
        self.exit(code)
        watchdog = threading.Timer(EXIT_GRACE_SECONDS, self._end_now, args=(code,))
        watchdog.daemon = True
        watchdog.start()

    def _end_now(self, code: int) -> None:
        log.warning("the app did not end %.0f s after a signal: ending it now", EXIT_GRACE_SECONDS)
        self.session.brokers.kill()
        os._exit(code)

    def _load_the_rest(self) -> None:
        # A thread: an import cannot be cut into steps, and the app's loop keeps handling
        # keys meanwhile (a module the loop needs first waits for the thread's import).
        self.run_worker(self._import_later_modules, thread=True, group="load", exit_on_error=False)

    def _import_later_modules(self) -> None:
        worker = get_current_worker()
        for name in LOADED_AFTER_FIRST_FRAME:
            # The thread takes turns with the loop on the interpreter lock: it waits while
            # the user is busy, so that a dialog being built is not slowed down by it.
            while not (worker.is_cancelled or self._quiet()):
                time.sleep(0.05)
            if worker.is_cancelled:
                return
            importlib.import_module(name)

    def _quiet(self) -> bool:
        """No key for a while, and no screen half built."""
        if time.monotonic() - self._last_key < QUIET_SECONDS:
            return False
        try:
            return self.screen.is_mounted
        except Exception:  # no screen: the app is ending
            return True

    def _start_logging(self) -> None:
        try:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(self.log_file, encoding="utf-8")
        except OSError as error:
            self.notify(f"Cannot write the log file {self.log_file}: {error}", severity="warning")
            return
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger("iotsim_tui")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        self._log_handler = handler

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker of the app itself that failed is logged and shown; the app goes on."""
        worker_failed(self, event, self.log_file)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette offers every key of the screen too, by what it does.

        Textual's own "Keys" panel is left out (`?` lists every key of this app), and so is
        its "Quit", for this app's quit, which asks first when something is unsaved.
        """
        for command in super().get_system_commands(screen):
            if command.title not in {"Keys", "Quit"}:
                yield command
        seen: set[str] = set()
        for node, bindings in ((screen, screen.BINDINGS), (self, self.BINDINGS)):
            for binding in bindings:
                # One entry per action: ctrl+q quits as q does.
                if not isinstance(binding, Binding) or binding.action in seen:
                    continue
                seen.add(binding.action)
                key = {"question_mark": "?", "slash": "/"}.get(binding.key, binding.key)

                async def run(node: DOMNode = node, action: str = binding.action) -> None:
                    await self.run_action(action, node)

                yield SystemCommand(f"{binding.description} ({key})", binding.tooltip, run)

    def action_help(self) -> None:
        """Every key, what it does, and where it works."""
        from iotsim_tui.tui.screens.help import HelpScreen, every_key

        self.push_screen(HelpScreen(every_key()))

    async def action_quit(self) -> None:
        """Quit, asking first when a network has unsaved changes."""
        from iotsim_tui.tui.screens.confirm import ConfirmScreen

        unsaved = self.session.dirty
        if not unsaved:
            self.exit(0)
            return
        if isinstance(self.screen, ConfirmScreen) and self.screen.id == "quit-unsaved":
            return
        names = ", ".join(opened.network.name for opened in unsaved)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.exit(0)

        question = ConfirmScreen(f"Quit without saving {names}?", yes="Quit without saving")
        question.id = "quit-unsaved"
        self.push_screen(question, confirmed)

    async def on_unmount(self) -> None:
        await self.session.close()
        if self._log_handler is not None:
            logging.getLogger("iotsim_tui").removeHandler(self._log_handler)
            self._log_handler.close()


def make_app(
    profiles: Iterable[Path],
    *,
    new: Iterable[Path] = (),
    start_broker: bool = True,
    free_ports: bool = False,
    certs_dir: Path = Path("certs"),
    clock: Callable[[], float] = time.time,
    log_file: Path | None = None,
) -> IotsimApp:
    """The app on `profiles`, and on `new` as networks not saved anywhere yet.

    A profile that cannot be read is reported once the app runs. With `free_ports`, each
    bundled broker listens on a free port instead of its profile's.
    """
    session = Session(start_broker=start_broker, certs_dir=certs_dir, free_ports=free_ports)
    problems: list[IotsimError] = []
    for path, saved in [*((p, True) for p in profiles), *((p, False) for p in new)]:
        try:
            opened = session.open(path)
        except IotsimError as error:
            problems.append(error)
            continue
        if not saved:
            opened.path = None
    return IotsimApp(session, problems=problems, clock=clock, log_file=log_file)


def run_app(
    profiles: list[Path],
    *,
    new: list[Path] | None = None,
    start_broker: bool = True,
    free_ports: bool = False,
) -> int:
    """Open the app on `profiles` (and `new`, see `make_app`); returns the exit code."""
    app = make_app(profiles, new=new or [], start_broker=start_broker, free_ports=free_ports)
    try:
        code = app.run()
    finally:
        app.session.brokers.kill()  # only if the app ended without stopping them
    return code or 0
