"""`iotsim-tui certs init|client|show` as a user runs them."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from iotsim_tui.cli import main


def test_init_client_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "certs"
    assert main(["certs", "init", "--dir", str(directory), "--host", "broker.lan"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {directory / 'ca.crt'}" in out
    assert "DNS:localhost, DNS:broker.lan, IP:127.0.0.1, IP:::1" in out
    assert f"--cafile {directory / 'ca.crt'}" in out

    assert main(["certs", "client", "TS1", "--dir", str(directory), "--days", "30"]) == 0
    assert f"wrote {directory / 'clients' / 'TS1.crt'}" in capsys.readouterr().out

    assert main(["certs", "show", "--dir", str(directory)]) == 0
    shown = capsys.readouterr().out
    assert shown.count("sha256") == 3
    assert "subject      CN=TS1,O=iotsim-tui" in shown
    assert "(29 days left)" in shown
    assert "(mode 600)" in shown


def test_existing_files_are_an_error_with_a_way_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", "init", "--dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["certs", "init", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("iotsim-tui: certificate error: ")
    assert "ca.crt already exists: pass --force" in err
    assert main(["certs", "client", "TS1", "--dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["certs", "init", "--dir", str(tmp_path), "--force"]) == 0
    assert "did not sign the client certificates of TS1: reissue" in capsys.readouterr().out


def test_bad_arguments_are_usage_errors(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "iotsim_tui",
            "certs",
            "init",
            "--dir",
            str(tmp_path),
            "--days",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "days must be between 1 and" in result.stderr
    assert "Traceback" not in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "iotsim_tui", "certs", "show", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "no certificates in" in result.stderr


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_makes_new_folders_private_and_leaves_existing_ones_as_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nested = tmp_path / "new" / "certs"
    assert main(["certs", "init", "--dir", str(nested)]) == 0
    assert (_mode(tmp_path / "new"), _mode(nested)) == (0o700, 0o700)

    project = tmp_path / "project"  # `--dir .` in a project folder: it stays as it was
    project.mkdir()
    project.chmod(0o755)
    assert main(["certs", "init", "--dir", str(project)]) == 0
    assert _mode(project) == 0o755
    assert _mode(project / "ca.key") == 0o600
    capsys.readouterr()


@pytest.mark.parametrize(("mode", "who"), [(0o1777, "anyone"), (0o770, "its group")])
def test_init_refuses_a_folder_others_can_write_into(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: int, who: str
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    assert main(["certs", "init", "--dir", str(shared)]) == 1
    err = capsys.readouterr().err
    assert f"{shared} is not a safe place for keys: {who} can write into it (mode {mode:o})" in err
    assert _mode(shared) == mode  # the sticky bit is still there
    assert list(shared.iterdir()) == []
