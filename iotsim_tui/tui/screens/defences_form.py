"""The broker's defences (`D`): one switch each, as `[network.broker.defences]` holds them.

Dismisses with the network changed (None for Escape). A defence that cannot apply to the
network (a password without a user name and password, identity without a client certificate)
is refused with the reason, and the dialog stays open.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, Label, Static, Switch

from iotsim_tui.profiles.model import DEFENCE_NAMES, Defences, Network
from iotsim_tui.tui.screens._frame import DialogScreen

WHAT: dict[str, str] = {
    "password": "password required: anonymous clients refused",
    "acl": "per-device ACL: each device only its own topics",
    "identity": "identity from the client certificate (TLS)",
    "login_delay": "logins slowed down after failures",
    "rate_limit": "publish rate and queue limit per client",
}
"""Each switch's words (docs/labs.md: the attack each one stops)."""


def problem_of(network: Network, defences: Defences) -> str | None:
    """Why these defences cannot apply to the network; None when they can."""
    broker = network.broker
    if defences.password and not (broker.username and broker.password):
        return "A password needs a user name and password in the network settings (c) first."
    if defences.identity and not (broker.tls.enabled and broker.tls.cert):
        return "Identity from the certificate needs TLS on with a client certificate (c)."
    return None


class DefencesScreen(DialogScreen[Network | None]):
    """The five defences of one network's bundled broker."""

    DEFAULT_CSS = """
    DefencesScreen > #dialog { width: 72; border: round $primary; padding: 1 2 0 2; }
    DefencesScreen .defence { height: auto; }
    DefencesScreen .defence Label { padding: 1 0 0 1; }
    DefencesScreen #defences-problem { color: $error; height: auto; }
    DefencesScreen #buttons { height: auto; align-horizontal: right; margin-top: 1; }
    DefencesScreen #buttons Button { margin-left: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="defences.cancel", tooltip="Leave unchanged"),
        Binding("ctrl+s", "save", "Save", id="defences.save", tooltip="Keep these defences"),
    ]

    def __init__(self, network: Network) -> None:
        super().__init__()
        self.network = network

    def compose(self) -> ComposeResult:
        """One switch per defence, a line for a problem, and the buttons."""
        title = f"Broker defences · {self.network.name}"
        with self.frame(title, "space: switch · ctrl+s: save · Esc: cancel"):
            defences = self.network.broker.defences
            for name in DEFENCE_NAMES:
                with Horizontal(classes="defence"):
                    yield Switch(getattr(defences, name), id=f"defence-{name}")
                    yield Label(f"{name}: {WHAT[name]}")
            yield Static("", id="defences-problem")
            with Horizontal(id="buttons"):
                yield Button("Save", variant="primary", id="save", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def chosen(self) -> Defences:
        """The defences as the switches stand."""
        return Defences(
            **{name: self.query_one(f"#defence-{name}", Switch).value for name in DEFENCE_NAMES}
        )

    def action_save(self) -> None:
        """Keep the defences, unless one cannot apply (then say why)."""
        defences = self.chosen()
        problem = problem_of(self.network, defences)
        if problem is not None:
            self.query_one("#defences-problem", Static).update(problem)
            return
        broker = replace(self.network.broker, defences=defences)
        self.dismiss(replace(self.network, broker=broker))

    def action_cancel(self) -> None:
        """Leave the defences as they were."""
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()
