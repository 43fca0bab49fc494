"""`D`: the bundled broker's defences, one switch each, kept in the network (and its profile)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static, Switch

from iotsim_tui.profiles.model import BrokerSettings, Defences, Device, Network
from iotsim_tui.tui.screens.defences_form import DefencesScreen
from tests.tui.pilot import app_on, wait_for


async def test_d_switches_defences_on_and_refuses_what_cannot_apply(tmp_path: Path) -> None:
    network = Network("WARD_7", devices=(Device("Sensor", "TS1"),))
    app = app_on(tmp_path, network, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, DefencesScreen), "the defences")
        screen = app.screen
        assert isinstance(screen, DefencesScreen)
        screen.query_one("#defence-acl", Switch).value = True
        screen.query_one("#defence-password", Switch).value = True
        await pilot.press("ctrl+s")
        problem = str(screen.query_one("#defences-problem", Static).content)
        assert "needs a user name and password" in problem  # no login: it stays open
        assert app.screen is screen
        screen.query_one("#defence-password", Switch).value = False
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is not screen, "the dialog to close")
        assert app.session.networks[0].network.broker.defences == Defences(acl=True)


async def test_escape_leaves_the_defences_as_they_were(tmp_path: Path) -> None:
    broker = BrokerSettings(defences=Defences(rate_limit=True))
    app = app_on(tmp_path, Network("WARD_7", broker=broker), start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, DefencesScreen), "the defences")
        assert app.screen.query_one("#defence-rate_limit", Switch).value
        app.screen.query_one("#defence-rate_limit", Switch).value = False
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DefencesScreen), "it to close")
        assert app.session.networks[0].network.broker.defences == Defences(rate_limit=True)
