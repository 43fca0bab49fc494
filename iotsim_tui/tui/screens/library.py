"""The broker console's command list: the profile's library, then the commands sent lately."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from iotsim_tui.profiles.model import LibraryCommand
from iotsim_tui.tui.screens._frame import DialogScreen

PAYLOAD_SHOWN = 40
"""Characters of a payload shown in the list."""


def described(command: LibraryCommand) -> Text:
    """One line of the list: key, name, topic, payload, QoS and retain."""
    payload = command.payload
    if len(payload) > PAYLOAD_SHOWN:
        payload = payload[: PAYLOAD_SHOWN - 1] + "…"
    text = Text()
    text.append(f"{command.key or ' '}  ", style="bold")
    text.append(command.name, style="bold")
    text.append(f"  {command.topic}  ")
    text.append(repr(payload), style="italic")
    text.append(f"  QoS {command.qos}" + (" retained" if command.retain else ""), style="dim")
    return text


class LibraryScreen(DialogScreen[LibraryCommand | None]):
    """Pick a command to send: Enter sends it, Esc closes; dismisses with the command."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Close", id="library.cancel"),
    ]
    DEFAULT_CSS = """
    LibraryScreen OptionList { height: auto; max-height: 20; border: none; }
    """

    def __init__(
        self, library: tuple[LibraryCommand, ...], recent: tuple[LibraryCommand, ...]
    ) -> None:
        super().__init__()
        self.commands: list[LibraryCommand] = []
        self.library = library
        self.recent = recent

    def compose(self) -> ComposeResult:
        with self.frame("Command library", "Enter send · Esc close"):
            options: list[Option | None] = []
            if self.library:
                options += self._section(self.library, "library")
            if self.recent:
                if options:
                    options.append(None)
                options += self._section(self.recent, "recent")
            if not options:
                yield Static(
                    "No command yet: add [[library]] tables to the profile "
                    "(docs/profiles.md), or send one with m.",
                    classes="intro",
                )
            yield OptionList(*options, id="library-list")

    def _section(self, commands: tuple[LibraryCommand, ...], kind: str) -> list[Option | None]:
        heading = "In the profile" if kind == "library" else "Sent lately"
        options: list[Option | None] = [
            Option(Text(heading, style="bold underline"), disabled=True)
        ]
        for command in commands:
            options.append(Option(described(command), id=f"{kind}-{len(self.commands)}"))
            self.commands.append(command)
        return options

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        index = int((event.option.id or "x-0").rsplit("-", 1)[1])
        self.dismiss(self.commands[index])

    def action_cancel(self) -> None:
        self.dismiss(None)
