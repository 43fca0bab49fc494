"""Each session's working folder: its own copies of the profiles, private, removed after."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from iotsim_tui.errors import UsageError
from iotsim_tui.serve.sessions import SessionFolders


def _profile(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "given" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text('[network]\nname = "LAB"\n')
    return path


def test_each_session_gets_its_own_private_folder_and_copies(tmp_path: Path) -> None:
    given = _profile(tmp_path, "lab.toml")
    folders = SessionFolders(tmp_path / "data", profiles=[given])
    one, two = folders.make(), folders.make()
    assert one.path != two.path
    assert one.path.parent == two.path.parent == tmp_path / "data" / "sessions"
    assert stat.S_IMODE(one.path.stat().st_mode) == 0o700
    assert stat.S_IMODE(one.path.parent.stat().st_mode) == 0o700
    (one.path / "profiles" / "lab.toml").write_text("edited in session one")
    assert (two.path / "profiles" / "lab.toml").read_text() == given.read_text()
    assert one.command() == [
        sys.executable,
        "-P",
        "-m",
        "iotsim_tui",
        "--free-ports",
        "profiles/lab.toml",
    ]
    assert one.environment() == {"XDG_STATE_HOME": str(one.path / "state")}
    folders.done(one)
    assert not one.path.exists()
    assert two.path.exists()


def test_kept_folders_stay(tmp_path: Path) -> None:
    folders = SessionFolders(tmp_path / "data", keep=True)
    folder = folders.make()
    folders.done(folder)
    assert folder.path.is_dir()


def test_two_profiles_of_one_name_are_refused(tmp_path: Path) -> None:
    first = _profile(tmp_path, "lab.toml")
    second = tmp_path / "other" / "lab.toml"
    second.parent.mkdir()
    second.write_text("")
    with pytest.raises(UsageError, match="same file name"):
        SessionFolders(tmp_path / "data", profiles=[first, second])
