"""The main screen's lab actions: the lab's graded checklist (g), the bundled broker's
defences (D), the attacks on it (X) and the TLS lessons (l)."""

from __future__ import annotations

from iotsim_tui.profiles.model import Network
from iotsim_tui.tui.screens.selection import SelectionScreen
from iotsim_tui.tui.widgets.checklist import Checklist


class LabActions(SelectionScreen):
    """What the main screen offers for teaching: checks, defences, attacks, lessons."""

    def action_checklist(self) -> None:
        """Show or hide the checks of the network's lab, ticked as they pass."""
        self.query_one(Checklist).toggle_class("-shown")
        self._refresh_checklist()

    def _refresh_checklist(self) -> None:
        checklist = self.query_one(Checklist)
        if checklist.has_class("-shown"):
            opened = self.network
            checklist.show(opened.checklist() if opened is not None else [])

    def action_defences(self) -> None:
        """The bundled broker's defences of the selected network, one switch each."""
        from iotsim_tui.tui.screens.defences_form import DefencesScreen

        opened = self._need_network()
        if opened is None:
            return

        def edited(network: Network | None) -> None:
            if network is not None and network != opened.network:
                self._changed_network(opened, network, f"Defences of {network.name} changed")

        self.app.push_screen(DefencesScreen(opened.network), edited)

    def action_attacks(self) -> None:
        """The attacks on the selected network's broker, on a screen of their own."""
        from iotsim_tui.tui.screens.attacks import open_attacks

        open_attacks(self, self.network.network if self.network is not None else None)

    def action_lessons(self) -> None:
        """The TLS lessons of the selected network, on a screen of their own."""
        from iotsim_tui.tui.screens.lessons import open_lessons

        open_lessons(self, self.network.network if self.network is not None else None)
