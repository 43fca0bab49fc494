"""`iotsim-tui` in a real terminal (tmux): keys in, what a user would see out.

Each test runs its own tmux server on a private socket and kills only that server.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from iotsim_tui.profiles.model import BrokerSettings, Device, Network, Subscription
from iotsim_tui.profiles.save import save_network
from tests.support.bundled import skip_without_broker
from tests.support.ports import free_port

pytestmark = pytest.mark.slow

WAIT = 45.0


class Terminal:
    """One tmux session, 120 x 40, running one command."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-S", str(self.path), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return result.stdout

    def run_app(self, profile: Path, folder: Path) -> str:
        """Start `iotsim-tui PROFILE` in `folder` (its state there too) as a user would, and
        wait for its bundled broker; the screen then. When the app ends, the terminal says
        "[app exited] CODE" and stays a while."""
        program = Path(sys.executable).with_name("iotsim-tui")
        command = (
            # Without COLUMNS and LINES from the test run, the app sizes itself by the terminal.
            f"cd {folder} && env -u COLUMNS -u LINES XDG_STATE_HOME={folder / 'state'} "
            f"{program} {profile}; "
            "echo; echo '[app exited]' $?; sleep 30"
        )
        self.tmux("new-session", "-d", "-s", "app", "-x", "120", "-y", "40", command)
        self.tmux("set", "-s", "escape-time", "0")
        return self.wait_for(lambda s: "bundled broker running" in s, "the broker running")

    def keys(self, *keys: str) -> None:
        """Press keys, one tmux key name or literal text each, a little apart like a person."""
        for key in keys:
            self.tmux("send-keys", "-t", "app", key)
            time.sleep(0.1)

    def screen(self) -> str:
        """The text on the screen now."""
        return self.tmux("capture-pane", "-p", "-t", "app")

    def wait_for(self, seen: Callable[[str], bool], what: str) -> str:
        """Wait until the screen shows `what`; fail with the last screen."""
        deadline = time.monotonic() + WAIT
        while True:
            screen = self.screen()
            if seen(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}")
            time.sleep(0.2)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    """A private tmux server; only it is killed at the end."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    socket = tmp_path / "tmux.sock"
    term = Terminal(socket)
    try:
        yield term
    finally:
        subprocess.run(["tmux", "-S", str(socket), "kill-server"], capture_output=True, check=False)


def _profile(tmp_path: Path, port: int) -> Path:
    network = Network(
        "NDE_FINANCE_NETWORK",
        "Finance floor sensors",
        BrokerSettings(port=port),
        devices=(
            Device("Temperature_Sensor", "TS1", subscribe=(Subscription("High_Tempe", qos=1),)),
        ),
    )
    path = tmp_path / "profiles" / "nde.toml"
    path.parent.mkdir()
    save_network(network, path)
    return path


def test_a_user_starts_the_network_and_commands_a_device(
    terminal: Terminal, tmp_path: Path
) -> None:
    skip_without_broker()
    port = free_port()
    profile = _profile(tmp_path, port)
    screen = terminal.run_app(profile, tmp_path)
    assert f"127.0.0.1:{port}" in screen
    assert "🔓 plain" in screen
    assert "○ TS1 Temperature" in screen, screen

    terminal.keys("S")
    terminal.wait_for(lambda s: "● TS1" in s and "1/1 up" in s, "TS1 connected")

    terminal.keys("b")
    screen = terminal.wait_for(
        lambda s: "Broker console" in s and "TS1 " in s and "High_Tempe q1" in s,
        "TS1 in the broker console",
    )
    ts1 = next(line for line in screen.splitlines() if "│ TS1 " in line)
    assert "127.0.0.1:" in ts1
    assert "plain" in ts1

    # Typed straight on, as a fast typist does: each focus move must come before the next key.
    terminal.keys("m", "High_Tempe", "Enter", "Alert for High Temperature", "Enter")
    console = terminal.wait_for(lambda s: "Command sent" in s, "the notification")
    terminal.keys("Escape")
    terminal.wait_for(
        lambda s: "← High_Tempe" in s and "Alert for High Temperature" in s,
        f"the command in TS1's log, sent from this console:\n{console}\n",
    )

    terminal.keys("q")
    terminal.wait_for(lambda s: "[app exited] 0" in s, "the app to end")
    with pytest.raises(ConnectionRefusedError):  # the bundled broker went with the app
        socket.create_connection(("127.0.0.1", port), timeout=2)
