"""The attacks screen (`A` on the main screen, `a` on the lessons): one key per attack.

`1` to `7` run an attack for real (`iotsim_tui.lab.attack_run`) against a bundled broker of its
own on a free loopback port, with its defence off, or on after `d`; the outcome is shown as
facts with counts. The network and its own broker are never touched; leaving the screen
(escape) cancels an attack still running, which stops whatever it started.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from iotsim_tui.errors import IotsimError
from iotsim_tui.lab.attacks import ATTACKS, Attack
from iotsim_tui.profiles.model import Network
from iotsim_tui.tui.screens.lab_run import LabRunScreen, run_key
from iotsim_tui.tui.widgets.keys_footer import KeysFooter

TITLES = [attack.title for attack in ATTACKS]


class AttacksScreen(LabRunScreen):
    """The attacks on one network's broker: the list on top, the outcome below."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "close",
            "Back",
            id="attacks.close",
            tooltip="Leave the attacks; an attack still running is stopped and undone",
        ),
        Binding(
            "d",
            "toggle_defence",
            "Defence on/off",
            id="attacks.defence",
            tooltip="Run the next attacks with their defence on, or off",
        ),
        *(run_key(n, "attack", TITLES, "attacks") for n in range(1, len(ATTACKS) + 1)),
    ]

    DEFAULT_CSS = """
    AttacksScreen #attacks-title { height: 1; padding: 0 1; background: $panel; }
    AttacksScreen #attacks { height: auto; max-height: 9; border: round $primary 50%; }
    AttacksScreen #attacks:focus { border: round $accent; }
    AttacksScreen #attack-status { height: auto; padding: 0 1; }
    AttacksScreen #outcome-pane { height: 1fr; border: round $primary 50%; }
    """

    RUN_GROUP = "attack"
    RUNS = len(ATTACKS)

    def __init__(self, network: Network) -> None:
        super().__init__(network)
        self.defence = False
        """True: the next attacks run with their defence on."""

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="attacks-title")
        yield OptionList(
            *(Option(f"{a.key}  {a.title}  (defence: {a.defence})", id=a.name) for a in ATTACKS),
            id="attacks",
        )
        yield Static("Choose an attack: its number, or enter on it; d: defence on/off.",
                     id="attack-status")  # fmt: skip
        with VerticalScroll(id="outcome-pane"):
            yield Static("", id="outcome")
        yield KeysFooter()

    def _title(self) -> str:
        state = "ON" if self.defence else "off"
        return (
            f"Attacks · {self.network.name} · each on a broker of its own on loopback · "
            f"defences {state}"
        )

    def on_mount(self) -> None:
        self.query_one("#outcome-pane").border_title = "What the attacker did and saw"
        super().on_mount()

    def action_toggle_defence(self) -> None:
        """Switch the defence of the next attacks on or off."""
        self.defence = not self.defence
        self.query_one("#attacks-title", Static).update(self._title())

    def start_run(self, index: int) -> None:
        """Say attack `index` (from 0) is running, with its defence on or off, and run it."""
        attack = ATTACKS[index]
        state = "on" if self.defence else "off"
        self.query_one("#attack-status", Static).update(
            Text(f"Attack {index + 1} · {attack.title}, defence {state}: running…", style="bold")
        )
        self.query_one("#outcome", Static).update(Text(attack.does, style="dim"))
        self.run_attack(attack, defence=self.defence)

    @work(exclusive=True, group="attack", exit_on_error=False)
    async def run_attack(self, attack: Attack, *, defence: bool) -> None:
        """Run the attack, undo it, and show what happened."""
        from iotsim_tui.lab.attack_command import render
        from iotsim_tui.lab.attack_run import run_attack

        try:
            outcome = await run_attack(attack, self.network, defence=defence)
        except IotsimError as error:
            self.query_one("#attack-status", Static).update(
                Text(f"Attack {attack.key}: {error.message}", style="bold red")
            )
            self.notify(error.message, title=error.title, severity="error", timeout=15)
            return
        style = "bold red" if outcome.succeeded else "bold green"
        status = Text(f"Attack {attack.key} · {attack.title}: ", style="bold")
        status.append(f"{outcome.result.upper()}: {outcome.summary}", style=style)
        self.query_one("#attack-status", Static).update(status)
        self.query_one("#outcome", Static).update(Text(render(outcome).strip()))


def open_attacks(screen: Screen[Any], network: Network | None) -> None:
    """Open the attacks screen for `network`, or say why not."""
    from iotsim_tui.lab.attack_run import refuse_remote

    if network is None:
        screen.notify("Open or create a network first (o or n).", severity="warning")
        return
    try:
        refuse_remote(network)
    except IotsimError as error:
        screen.notify(error.message, title=error.title, severity="warning", timeout=15)
        return
    screen.app.push_screen(AttacksScreen(network))
