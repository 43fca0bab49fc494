"""The commands a device reacts to, one line each: pick one to change, add one, delete one."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType

from iotsim_tui.profiles.model import Command
from iotsim_tui.tui.screens.command_form import set_text
from iotsim_tui.tui.screens.telemetry_list import ItemListScreen
from iotsim_tui.words import counted


def describe(command: Command) -> str:
    """One line about a command: its topic, what it matches and how it reacts."""
    what = []
    if command.set:
        what.append(f"sets {set_text(dict(command.set))}")
    if command.telemetry is not None:
        what.append(f"{command.telemetry.value}s the telemetry")
    if command.response is not None:
        what.append(f"responds on {command.response.topic}")
    match = f" = {command.match}" if command.match is not None else ""
    return f"{command.topic}{match}  QoS {command.qos}: {', '.join(what) or 'no reaction'}"


class CommandListScreen(ItemListScreen):
    """The commands of `device`; dismisses with a `TelemetryChoice` (None: closed)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="command_list.close", tooltip="Close"),
        Binding("a,n", "add", "Add", id="command_list.add", tooltip="Add a command"),
        Binding(
            "d,delete",
            "delete",
            "Delete",
            id="command_list.delete",
            tooltip="Delete the highlighted command (asks first)",
        ),
    ]

    what = "command"
    add_line = "+ Add a command"

    def list_title(self) -> str:
        """Commands of the device."""
        return f"Commands of {self.subject}"

    def intro_text(self) -> str:
        """How many commands."""
        commands = counted(len(self.device.commands), "command")
        return (
            f"{self.subject[:1].upper()}{self.subject[1:]} reacts to {commands}. Choose one to "
            "change, or add one."
        )

    def lines(self) -> list[str]:
        """One line per command."""
        return [describe(command) for command in self.device.commands]
