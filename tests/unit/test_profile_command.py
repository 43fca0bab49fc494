"""`iotsim-tui validate`: one line per valid profile, every problem of the others, exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from iotsim_tui.cli import main

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "profiles" / "nde_finance_lab.toml"


def test_valid_profiles_print_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    fleet = ROOT / "profiles" / "fleet_1000.toml"
    assert main(["validate", str(LAB), str(fleet)]) == 0
    out, err = capsys.readouterr()
    assert out == (
        f"ok  {LAB}: NDE_FINANCE_NETWORK, 1 device\nok  {fleet}: FLEET_1000, 1,000 devices\n"
    )
    assert err == ""


def test_a_broken_copy_fails_with_file_key_and_line_and_is_left_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "lab.toml"
    shutil.copy(LAB, copy)
    text = copy.read_text().replace("qos = 1", "qos = 3").replace("interval = 5", "interval = 0")
    copy.write_text(text)
    line_qos = next(n for n, row in enumerate(text.splitlines(), 1) if "qos = 3" in row)
    line_interval = next(n for n, row in enumerate(text.splitlines(), 1) if "interval = 0" in row)

    assert main(["validate", str(LAB), str(copy)]) == 1

    out, err = capsys.readouterr()
    assert out == f"ok  {LAB}: NDE_FINANCE_NETWORK, 1 device\n"
    assert err == (
        f"{copy}:{line_qos}: devices[0].subscribe[0].qos = 3: must be 0, 1 or 2\n"
        f"{copy}:{line_interval}: devices[0].telemetry[0].interval = 0: "
        "must be a number greater than 0 (seconds)\n"
        "1 of 2 profiles is not valid\n"
    )
    assert copy.read_text() == text


def test_a_missing_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.toml"
    assert main(["validate", str(missing)]) == 1
    assert capsys.readouterr().err == f"{missing}: no such file\nthe profile is not valid\n"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\xff\xfe[network]\n", ": not UTF-8 text (byte 0)"),
        (b'[network]\nname = "x\n', ":2: not valid TOML: illegal character '\\n' (column 10)"),
    ],
)
def test_unreadable_profiles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, problem: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().err == f"{path}{problem}\nthe profile is not valid\n"


def test_a_folder_is_not_a_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith(f"{tmp_path}: is a folder, not a profile\n")


def test_at_least_one_profile_is_needed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["validate"])
    assert caught.value.code == 2
    assert "PROFILE" in capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["validate", "--help"])
    assert caught.value.code == 0
    assert "usage: iotsim-tui validate" in capsys.readouterr().out


def test_the_closing_line_counts_in_plain_grammar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = [tmp_path / "a.toml", tmp_path / "b.toml"]
    assert main(["validate", *map(str, missing)]) == 1
    assert capsys.readouterr().err.endswith("\n2 of 2 profiles are not valid\n")
