"""Dialogs kept between opens: each open looks, and saves, as a dialog built anew would."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Static

from iotsim_tui.profiles.model import BrokerSettings, Device, Network, TLSSettings
from iotsim_tui.tui.app import IotsimApp
from iotsim_tui.tui.screens._form import FieldRow, FormDialog
from iotsim_tui.tui.screens._kept import keep_dialog
from iotsim_tui.tui.screens.confirm import ConfirmScreen
from iotsim_tui.tui.screens.eavesdrop import EavesdropScreen
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.widgets.network_tree import Place
from tests.tui.pilot import app_on, fill, wait_for

PLAIN = Network("WARD_A", description="plain", devices=(Device("Temperature_Sensor", "TS1"),))
SECURED = Network(
    "WARD_B",
    broker=BrokerSettings(
        port=8884,
        username="nurse",
        password="secret",
        keep_plain_port=1884,
        tls=TLSSettings(enabled=True, ca="certs/ca.crt", verify_hostname=False),
    ),
    devices=(Device("Pump", "P1"),),
)

Seen = list[tuple[str, str, str, str, str]]


def seen(dialog: Screen[object]) -> Seen:
    """What a user sees of a dialog, and what it would save: each widget on show with its id,
    value, words and classes."""
    rows: Seen = []
    for widget in dialog.query("*"):
        if not all(n.display for n in widget.ancestors_with_self if isinstance(n, Widget)):
            continue
        words = ""
        if isinstance(widget, Static):
            words = str(widget.content)
        elif isinstance(widget, Button | Checkbox):
            words = str(widget.label)
        elif isinstance(widget, FieldRow):
            words = widget.label
        value = repr(getattr(widget, "value", None))
        classes = " ".join(sorted(widget.classes))
        rows.append((type(widget).__name__, widget.id or "", value, words, classes))
    return rows


async def open_settings(
    app: IotsimApp, pilot: Pilot[int], network: str, key: str = "c", device: str | None = None
) -> FormDialog[object]:
    """Select `network` (and `device`) on the main screen and press `key`; the dialog once
    it is on screen."""
    main = app.screen
    assert isinstance(main, MainScreen)
    opened = next(n for n in app.session.networks if n.network.name == network)
    main.show_place(Place(opened.key, device))
    await wait_for(pilot, lambda: main.place == Place(opened.key, device), f"{network} selected")
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), f"the {key} dialog")
    dialog = app.screen
    assert isinstance(dialog, FormDialog)
    await wait_for(pilot, lambda: dialog.focused is not None, "the first field focused")
    return dialog


async def close_untouched(app: IotsimApp, pilot: Pilot[int]) -> None:
    """Escape closes a dialog nobody changed without asking."""
    await pilot.press("escape")
    await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the dialog closed")


async def same_as_new(
    app: IotsimApp,
    pilot: Pilot[int],
    kept: Screen[object],
    network: str,
    key: str = "c",
    device: str | None = None,
) -> None:
    """The kept dialog, open now, looks as a new one does: closed, set aside for a new one to
    be built and compared, then kept again for the next opens."""
    refilled = seen(kept)
    await close_untouched(app, pilot)
    app.uninstall_screen(kept)
    new = await open_settings(app, pilot, network, key, device)
    assert new is not kept
    assert seen(new) == refilled
    await close_untouched(app, pilot)
    app.uninstall_screen(new)
    keep_dialog(app, kept, "add" if key == "a" else "")


async def test_a_kept_settings_dialog_opens_as_a_new_one_would(tmp_path: Path) -> None:
    app = app_on(tmp_path, PLAIN, SECURED, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        # Leave a mess behind: an error shown, TLS switched on, the "More" part open.
        kept = await open_settings(app, pilot, "WARD_A")
        await fill(pilot, "#keepalive", "99999")
        await wait_for(pilot, lambda: kept.query("#keepalive-error.-shown"), "the error")
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: kept.query("#tls-fields"), "the certificate fields")
        kept.query_one("#more", Button).press()
        await wait_for(pilot, lambda: kept.query("#more-fields"), "the More part")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")  # lose the changes
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the dialog closed")

        for network in ("WARD_B", "WARD_A", "WARD_B"):
            again = await open_settings(app, pilot, network)
            assert again is kept
            assert not kept.query(".field-error")
            assert not kept.query("#more-fields")
            assert kept.focused is not None
            assert kept.focused.id == "host"
            assert kept.query_one("#body").scroll_y == 0
            await same_as_new(app, pilot, kept, network)


async def test_a_kept_dialog_saves_what_the_network_it_was_filled_for_has(
    tmp_path: Path,
) -> None:
    # Opened on one network, then on another and saved unchanged: the second stays as it was.
    app = app_on(tmp_path, SECURED, PLAIN, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        opened = next(n for n in app.session.networks if n.network.name == "WARD_A")
        before = opened.network
        await open_settings(app, pilot, "WARD_B")
        await close_untouched(app, pilot)
        await open_settings(app, pilot, "WARD_A")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the dialog saved")
        assert opened.network == before
        assert not opened.dirty


async def test_kept_add_device_and_subscribe_dialogs_open_as_new_ones_would(
    tmp_path: Path,
) -> None:
    app = app_on(tmp_path, PLAIN, SECURED, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        for key, first, then in (("a", ("WARD_A", None), ("WARD_B", None)),
                                 ("u", ("WARD_A", "TS1"), ("WARD_B", "P1"))):  # fmt: skip
            kept = await open_settings(app, pilot, first[0], key, first[1])
            # Something typed, and Enter: an error (a device needs an id, # ends a filter).
            await fill(pilot, "#name" if key == "a" else "#topic", "Pump" if key == "a" else "#/x")
            await pilot.press("enter")
            await wait_for(pilot, lambda k=kept: k.query(".field-error.-shown"), "an error")
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
            await pilot.press("y")  # lose the changes
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "closed")
            again = await open_settings(app, pilot, then[0], key, then[1])
            assert again is kept
            assert not kept.query(".field-error")
            assert (then[1] or then[0]) in str(kept.query_one("#dialog").border_title)
            await same_as_new(app, pilot, kept, then[0], key, then[1])


async def test_the_eavesdrop_view_is_kept_for_its_relay(tmp_path: Path) -> None:
    app = app_on(tmp_path, PLAIN, SECURED, start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        views = []
        main = app.screen
        assert isinstance(main, MainScreen)
        for network in ("WARD_A", "WARD_B", "WARD_A"):
            opened = next(n for n in app.session.networks if n.network.name == network)
            main.show_place(Place(opened.key))
            await wait_for(pilot, lambda o=opened: main.network is o, f"{network} selected")
            await pilot.press("w")
            await wait_for(pilot, lambda: isinstance(app.screen, EavesdropScreen), "the view")
            view = app.screen
            assert isinstance(view, EavesdropScreen)
            assert view.tap is opened.tap
            assert f"Eavesdrop · {network} ·" in str(view.query_one("#eavesdrop-title").render())
            views.append(view)
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is main, "the view closed")
        assert views[0] is views[2]
        assert views[0] is not views[1]
