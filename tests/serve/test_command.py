"""`iotsim-tui serve`: loopback unless --public, which warns; bad options are refused."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from iotsim_tui.cli import main
from iotsim_tui.serve import is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.7", False),
        ("lab.example.org", False),
    ],
)
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_another_address_needs_public(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    error = capsys.readouterr().err
    assert "0.0.0.0 is not a loopback address" in error
    assert "--public" in error


@pytest.mark.parametrize(
    ("options", "said"),
    [(["--port", "0"], "--port 0"), (["--max-sessions", "0"], "--max-sessions 0")],
)
def test_bad_options_are_refused(
    options: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *options]) == 2
    assert said in capsys.readouterr().err


def test_a_broken_profile_is_reported_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[network]\nname = 3\n")
    assert main(["serve", str(broken)]) != 0
    assert "broken.toml" in capsys.readouterr().err


@pytest.mark.skipif(
    shutil.which("unshare") is None or os.geteuid() != 0, reason="needs root for unshare -n"
)
def test_public_warns_that_anyone_gets_the_app(tmp_path: Path) -> None:
    # In a network namespace of its own, 0.0.0.0 is that namespace's loopback alone, and
    # every port there is free.
    script = (
        'ip link set lo up && exec "$0" -m iotsim_tui serve --host 0.0.0.0 --public '
        f"--port 18080 --data {tmp_path}"
    )
    server = subprocess.Popen(
        ["unshare", "-n", "sh", "-c", script, sys.executable],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = []
        for line in server.stdout:
            lines.append(line)
            if "Ctrl-C stops the server" in line:
                break
        output = "".join(lines)
        assert "warning: listening on 0.0.0.0:18080, beyond this machine" in output
        assert "Anyone who can reach this port gets the full app" in output
        assert "reverse proxy with TLS" in output
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def test_a_data_folder_that_cannot_be_made_is_reported_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert main(["serve", "--data", str(blocked)]) == 2
    assert "cannot make the sessions' folder" in capsys.readouterr().err


def test_a_port_in_use_is_said_plainly(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # In a process of its own: serving sets up an event loop and signal handlers.
        result = subprocess.run(
            [sys.executable, "-m", "iotsim_tui", "serve", f"--port={port}", f"--data={tmp_path}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    error = result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in error
    assert "pick another with --port" in error
