"""Open, save as, file pickers, the confirmation, the key help, and Escape everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen
from textual.widgets import DataTable, DirectoryTree, Input

from iotsim_tui.profiles.model import Device, Network
from iotsim_tui.tui.screens._form import FormDialog
from iotsim_tui.tui.screens.confirm import ConfirmScreen
from iotsim_tui.tui.screens.device_form import DeviceScreen
from iotsim_tui.tui.screens.files import OpenProfileScreen, SaveAsScreen, complete_path
from iotsim_tui.tui.screens.help import HelpScreen, matching
from iotsim_tui.tui.screens.network_form import NetworkSettingsScreen
from iotsim_tui.tui.screens.new_network import NewNetworkScreen
from iotsim_tui.tui.screens.subscribe import SubscribeScreen
from iotsim_tui.tui.screens.telemetry import TelemetryScreen
from tests.tui.dialog_harness import error_under, open_dialog, screen_text, type_into
from tests.tui.pilot import settle

KEYS = [
    ("s", "Start or stop the selected device", "Devices"),
    ("S", "Start or stop the whole network", "Devices"),
    ("u", "Subscribe the device to a command topic", "Devices"),
    ("ctrl+s", "Save the network", "Anywhere"),
    ("q", "Quit", "Anywhere"),
]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with profiles, other files and a sub-folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "profiles" / "lab").mkdir(parents=True)
    (tmp_path / "profiles" / "health_care.toml").write_text('[network]\nname = "H"\n')
    (tmp_path / "profiles" / "notes.txt").write_text("not a profile")
    (tmp_path / "profiles" / ".hidden.toml").write_text("")
    (tmp_path / "profiles" / "lab" / "finance.toml").write_text('[network]\nname = "F"\n')
    return tmp_path


def test_completion_offers_folders_and_fitting_files_only(folder: Path) -> None:
    assert complete_path("prof", (".toml",)) == "profiles/"
    assert complete_path("profiles/h", (".toml",)) == "profiles/health_care.toml"
    assert complete_path("profiles/n", (".toml",)) is None
    assert complete_path("profiles/n") == "profiles/notes.txt"
    assert complete_path("profiles/l", (".toml",)) == "profiles/lab/"
    assert complete_path(f"{folder}/profiles/lab/f", (".toml",)) == (
        f"{folder}/profiles/lab/finance.toml"
    )
    assert complete_path("missing/x") is None


async def test_open_by_typing_with_completion(folder: Path) -> None:
    async with open_dialog(OpenProfileScreen()) as (app, pilot):
        await pilot.press(*"profiles/h", "right")  # Right accepts the suggestion
        await settle(pilot)
        assert app.screen.query_one("#path", Input).value == "profiles/health_care.toml"
        await pilot.press("enter")
        await settle(pilot)
    assert app.results == [Path("profiles/health_care.toml")]


async def test_open_shows_only_profiles_and_picks_from_the_tree(folder: Path) -> None:
    async with open_dialog(OpenProfileScreen()) as (app, pilot):
        tree = app.screen.query_one(DirectoryTree)
        await tree.reload()  # the tree loads in a worker; wait for the first folder
        await settle(pilot)
        shown = screen_text(app)
        assert "health_care.toml" in shown
        assert "notes.txt" not in shown
        assert ".hidden.toml" not in shown
        tree.focus()
        await settle(pilot)
        await pilot.press("down", "down", "enter")  # past "lab" to health_care.toml
        await settle(pilot)
    assert app.results == [Path("profiles/health_care.toml")]


async def test_open_explains_a_wrong_path_and_stays_open(folder: Path) -> None:
    async with open_dialog(OpenProfileScreen()) as (app, pilot):
        await type_into(pilot, "#path", "profiles/nothing.toml")
        await pilot.press("enter")
        await settle(pilot)
        assert error_under(app, "path") == "there is no file profiles/nothing.toml"
        await type_into(pilot, "#path", "profiles/notes.txt")
        await pilot.press("enter")
        await settle(pilot)
        assert error_under(app, "path") == "profiles/notes.txt is not a .toml file"
        await type_into(pilot, "#path", "profiles/lab")
        await pilot.press("enter")
        await settle(pilot)
        assert error_under(app, "path") == "profiles/lab is a folder: pick a file in it"
        await type_into(pilot, "#path", "[b]lab.toml")  # shown as typed, not as markup
        await pilot.press("enter")
        await settle(pilot)
        assert "there is no file [b]lab.toml" in screen_text(app)
        assert app.results == []
        await pilot.press("escape")
        await settle(pilot)
    assert app.results == [None]


async def test_save_as_adds_the_suffix_and_checks_the_folder(folder: Path) -> None:
    async with open_dialog(SaveAsScreen(Path("profiles/health_care.toml"))) as (app, pilot):
        await type_into(pilot, "#path", "nowhere/finance")
        await pilot.press("enter")
        await settle(pilot)
        assert error_under(app, "path") == "the folder nowhere does not exist"
        await type_into(pilot, "#path", "profiles/finance")
        await pilot.press("enter")
        await settle(pilot)
    assert app.results == [Path("profiles/finance.toml")]


async def test_save_as_asks_before_replacing_a_file(folder: Path) -> None:
    async with open_dialog(SaveAsScreen(Path("profiles/health_care.toml"))) as (app, pilot):
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "profiles/health_care.toml exists. Replace it?" in screen_text(app)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, SaveAsScreen)
        assert app.results == []
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
    assert app.results == [Path("profiles/health_care.toml")]


async def test_a_broken_profile_is_reported_in_the_open_dialog_which_stays_open(
    folder: Path,
) -> None:
    (folder / "profiles" / "deep.toml").write_text('[network]\nname = "D"\nx = ' + "[" * 400)
    async with open_dialog(OpenProfileScreen()) as (app, pilot):
        await type_into(pilot, "#path", "profiles/deep.toml")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, OpenProfileScreen)
        error = error_under(app, "path")
        assert error is not None
        assert error.startswith("profiles/deep.toml:3: arrays and tables are nested more than 32")
        assert app.results == []
        # Only in the dialog: no notification is left to sit over the dialogs that follow.
        assert not list(app._notifications)


async def test_save_as_refuses_an_invalid_profile_before_asking_to_replace_it(
    folder: Path,
) -> None:
    broken = folder / "profiles" / "broken.toml"
    broken.write_text('[network]\nname = "B"\nport = 3\n')
    async with open_dialog(SaveAsScreen(Path("profiles/broken.toml"))) as (app, pilot):
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)  # no "Replace it?" first
        error = error_under(app, "path")
        assert error is not None
        assert error.startswith("profiles/broken.toml is not a valid profile (")
        assert error.endswith(
            "it is not replaced, so nothing in it is lost; save under another name"
        )
    assert app.results == []
    assert broken.read_text() == '[network]\nname = "B"\nport = 3\n'


@pytest.mark.parametrize(
    ("keys", "answer"),
    [
        (["y"], True),
        (["n"], False),
        (["escape"], False),
        (["enter"], False),  # the focus starts on the safe answer
        (["left", "enter"], True),
    ],
)
async def test_confirm_answers(keys: list[str], answer: bool) -> None:
    async with open_dialog(ConfirmScreen("Delete device TS1?", yes="Delete")) as (app, pilot):
        assert "Delete device TS1?" in screen_text(app)
        await pilot.press(*keys)
        await settle(pilot)
    assert app.results == [answer]


def test_help_search_matches_every_word_in_any_column() -> None:
    assert matching(KEYS, "") == KEYS
    assert matching(KEYS, "NETWORK start") == [KEYS[1]]
    assert matching(KEYS, "anywhere") == KEYS[3:]
    assert matching(KEYS, "eavesdrop") == []


async def test_help_lists_the_keys_and_filters_as_you_type() -> None:
    async with open_dialog(HelpScreen(KEYS)) as (app, pilot):
        table = app.screen.query_one(DataTable)
        assert table.row_count == len(KEYS)
        await pilot.press(*"quit")
        await settle(pilot)
        assert table.row_count == 1
        assert "1 of 5 keys" in screen_text(app)
        await pilot.press("down")
        assert app.screen.focused is table
        await pilot.press("escape")
        await settle(pilot)
    assert app.results == [None]


async def test_escape_closes_every_dialog_with_no_result(folder: Path) -> None:
    device = Device("Temperature_Sensor", "TS1")
    network = Network("LAB", devices=(device,))
    dialogs: list[Screen[Any]] = [
        NewNetworkScreen(),
        NetworkSettingsScreen(network, certs_dir=folder / "certs"),
        DeviceScreen(network, None),
        DeviceScreen(network, device),
        SubscribeScreen(device),
        TelemetryScreen(device, None),
        OpenProfileScreen(),
        SaveAsScreen(Path("profiles/lab.toml")),
        HelpScreen(KEYS),
    ]
    first, *others = dialogs

    async def type_then_escape(dialog: Screen[Any]) -> None:
        """Typing first: Escape still cancels, after asking when the form would lose it."""
        await pilot.press("x", "escape")
        await settle(pilot)
        if isinstance(dialog, FormDialog) and dialog.ask_before_discarding:
            assert isinstance(app.screen, ConfirmScreen), f"{dialog} did not ask"
            await pilot.press("y")
            await settle(pilot)

    async with open_dialog(first) as (app, pilot):
        await type_then_escape(first)
        for dialog in others:
            await app.push_screen(dialog, app.results.append)
            await settle(pilot)
            assert app.screen is dialog
            await type_then_escape(dialog)
        await settle(pilot)
        await app.push_screen(ConfirmScreen("Quit?"), app.results.append)
        await pilot.press("escape")
        await settle(pilot)
    assert app.results == [None] * len(dialogs) + [False]
    assert not (folder / "certs").exists()
