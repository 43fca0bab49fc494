"""The TLS lessons screen (`l`): pick a lesson, see the device's reason, what the relay saw,
and what stopped it, side by side.

A lesson runs for real (`iotsim_tui.lab.lessons_run`) on a broker of its own on a free
loopback port, so the network and its own broker are never touched; leaving the screen
(escape) cancels a lesson still running, which stops whatever it started, and waits for that.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from iotsim_tui.errors import IotsimError
from iotsim_tui.lab.lessons import LESSONS, Lesson, LessonRefused, check_network, number_of
from iotsim_tui.profiles.model import Network
from iotsim_tui.tui.screens.lab_run import LabRunScreen, run_key
from iotsim_tui.tui.widgets.keys_footer import KeysFooter

SHORT_ROWS = 32
TITLES = [lesson.title for lesson in LESSONS]
STYLES = {"": "", "key": "bold yellow", "alarm": "bold red"}
"""How a line of what the relay saw is drawn: the lesson's point, and what an attacker reads."""


class LessonsScreen(LabRunScreen):
    """The TLS lessons of one network: the list on top, the three things below."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "close",
            "Back to the main screen",
            id="lessons.close",
            tooltip="Leave the lessons; a lesson still running is stopped and undone",
        ),
        Binding(
            "l",
            "close",
            "Back to the main screen",
            show=False,
            id="lessons.back",
            tooltip="Leave the lessons",
        ),
        *(run_key(n, "lesson", TITLES, "lessons") for n in range(1, len(LESSONS) + 1)),
        Binding("a", "attacks", "Attacks", id="lessons.attacks", tooltip="Attacks on the broker"),
    ]
    FOOTER_LABELS: ClassVar[dict[str, str]] = {"lessons.close": "Back"}

    DEFAULT_CSS = """
    LessonsScreen #lessons-title { height: 1; padding: 0 1; background: $panel; }
    LessonsScreen #lessons { height: auto; max-height: 10; border: round $primary 50%; }
    LessonsScreen #lessons:focus { border: round $accent; }
    LessonsScreen.-short #lessons { max-height: 5; }
    LessonsScreen #lesson-status { height: auto; padding: 0 1; }
    LessonsScreen #result { height: 1fr; }
    LessonsScreen #result > VerticalScroll { width: 2fr; border: round $primary 50%; }
    LessonsScreen #result > #seen-pane { width: 3fr; }
    LessonsScreen #result > VerticalScroll > Static { width: 1fr; }
    """

    # Not a ClassVar: Textual declares it as `ClassVar[...] | None`, which mypy reads as a field.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (SHORT_ROWS, "-tall")]  # noqa: RUF012
    """In a short terminal the list scrolls, leaving the result its room."""

    RUN_GROUP = "lesson"
    RUNS = len(LESSONS)

    def __init__(self, network: Network, *, start: int | None = None) -> None:
        super().__init__(network)
        self.start = start
        """The lesson to run at once (its number), as the command palette asks."""
        self.shown_at: float | None = None
        """time.monotonic() when the last result was put on screen."""
        self.chosen_at: float | None = None
        """time.monotonic() when the last lesson was chosen."""

    def compose(self) -> ComposeResult:
        broker = self.network.broker
        yield Static(
            f"TLS lessons · {self.network.name} · each on a broker of its own on {broker.host}",
            id="lessons-title",
        )
        yield OptionList(
            *(Option(f"{number_of(lesson)}  {lesson.title}", id=lesson.name) for lesson in LESSONS),
            id="lessons",
        )
        yield Static("Choose a lesson: its number, or enter on it.", id="lesson-status")
        with Horizontal(id="result"):
            with VerticalScroll(id="reason-pane"):
                yield Static("", id="reason")
            with VerticalScroll(id="seen-pane"):
                yield Static("", id="seen")
            with VerticalScroll(id="lesson-pane"):
                yield Static("", id="lesson-text")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#reason-pane").border_title = "Device log: the reason"
        self.query_one("#seen-pane").border_title = "What the eavesdrop relay saw"
        self.query_one("#lesson-pane").border_title = "What stopped it"
        super().on_mount()
        if self.start is not None:
            self.action_run(self.start)

    def start_run(self, index: int) -> None:
        """Say lesson `index` (from 0) is being set up, and run it."""
        lesson = LESSONS[index]
        self.chosen_at = time.monotonic()
        self.query_one("#lesson-status", Static).update(
            Text(f"Lesson {index + 1} · {lesson.title}: setting it up…", style="bold")
        )
        self.query_one("#reason", Static).update(Text(lesson.case, style="dim"))
        self.query_one("#seen", Static).update("")
        self.query_one("#lesson-text", Static).update("")
        self.run_lesson(lesson)

    @work(exclusive=True, group="lesson", exit_on_error=False)
    async def run_lesson(self, lesson: Lesson) -> None:
        """Set the lesson up, run it, undo it, and show what happened."""
        from iotsim_tui.lab.lessons_run import run_lesson

        try:
            result = await run_lesson(lesson, self.network)
        except IotsimError as error:
            self.query_one("#lesson-status", Static).update(
                Text(f"Lesson {number_of(lesson)}: {error.message}", style="bold red")
            )
            self.notify(error.message, title=error.title, severity="error", timeout=15)
            return
        number = number_of(lesson)
        outcome = "the device was refused" if result.refused else "the device connected"
        if lesson.name == "impostor":
            outcome = "read with checks off, refused with checks on"
        status = Text(f"Lesson {number} · {lesson.title}: {outcome}", style="bold")
        status.append(f"  ({result.seconds:.1f} s, everything it started is stopped)", "dim")
        if not result.as_expected:
            status.append("  not as expected: see the device's reason", "bold red")
        self.query_one("#lesson-status", Static).update(status)

        words = result.reason.replace(" / ", "\n\n")  # the impostor lesson's two attempts
        reason = Text(words, style="bold red" if result.refused else "bold green")
        reason.append("\n\nThe device log\n", style="bold")
        reason.append("\n".join(result.device_log), style="dim")
        self.query_one("#reason", Static).update(reason)
        seen = Text()
        for line in result.seen:
            seen.append(line.text + "\n", style=STYLES[line.mark.value])
        self.query_one("#seen", Static).update(seen)
        text = Text(lesson.case + "\n\n", style="italic")
        text.append(lesson.lesson)
        self.query_one("#lesson-text", Static).update(text)
        self.shown_at = time.monotonic()

    def action_attacks(self) -> None:
        """The attacks on this network's broker, one key each."""
        from iotsim_tui.tui.screens.attacks import open_attacks

        open_attacks(self, self.network)


def open_lessons(screen: Screen[Any], network: Network | None, start: int | None = None) -> None:
    """Open the lessons screen for `network` (running lesson `start` at once), or say why not."""
    if network is None:
        screen.notify("Open or create a network first (o or n).", severity="warning")
        return
    try:
        check_network(network)
    except LessonRefused as error:
        screen.notify(error.message, title=error.title, severity="warning", timeout=15)
        return
    screen.app.push_screen(LessonsScreen(network, start=start))


class LessonCommands(Provider):
    """Every lesson in the command palette: "Lesson 3: The certificate is for another host"."""

    def _commands(self) -> list[tuple[str, str, int]]:
        return [
            (f"Lesson {number_of(lesson)}: {lesson.title}", lesson.case, number_of(lesson))
            for lesson in LESSONS
        ]

    def _open(self, number: int) -> None:
        screen = self.screen
        network = getattr(screen, "network", None)
        opened = getattr(network, "network", None)  # the main screen's selected OpenNetwork
        open_lessons(screen, opened if isinstance(opened, Network) else None, number)

    async def discover(self) -> Hits:
        """Every lesson, before anything is typed."""
        for title, help_text, number in self._commands():
            yield DiscoveryHit(title, partial(self._open, number), help=help_text)

    async def search(self, query: str) -> Hits:
        """The lessons whose title matches what is typed."""
        matcher = self.matcher(query)
        for title, help_text, number in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(title), partial(self._open, number), help=help_text
                )
