"""Closing the terminal ends the app: no process is left behind writing to a terminal that is gone.

Each test runs its own tmux server on a private socket and kills only that server.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from iotsim_tui.profiles.model import BrokerSettings, DeviceTemplate, Network
from iotsim_tui.profiles.save import save_network
from tests.support.ports import free_port

pytestmark = pytest.mark.slow

WAIT = 45.0
ENDED_WITHIN = 20.0
"""The app's own limit is 5 s after the signal; the rest is room for a loaded machine."""


def _tmux(socket: Path, *args: str) -> str:
    result = subprocess.run(
        ["tmux", "-S", str(socket), *args], capture_output=True, text=True, check=True, timeout=30
    )
    return result.stdout


def _apps_on(profile: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if str(profile) in (process.info["cmdline"] or []):
            found.append(process)
    return found


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_app_ends_when_its_terminal_is_closed_right_after_the_first_frame(
    tmp_path: Path,
) -> None:
    # A thousand devices: the first frames are large, so the terminal goes while Textual
    # still has output queued for it (where the app used to hang for good).
    profile = tmp_path / "fleet.toml"
    save_network(
        Network(
            "FLEET_CLOSED",
            broker=BrokerSettings(port=free_port()),  # --no-broker: nothing listens there
            templates=(DeviceTemplate("Sensor {n}", "S{n}", count=1000),),
        ),
        profile,
    )
    program = Path(sys.executable).with_name("iotsim-tui")
    for run in range(3):
        socket = tmp_path / f"tmux-{run}.sock"
        _tmux(socket, "new-session", "-d", "-s", "app", "-x", "120", "-y", "40", "sleep 600")
        command = (
            f"cd {tmp_path} && env -u COLUMNS -u LINES XDG_STATE_HOME={tmp_path / 'state'} "
            f"{program} --no-broker {profile}"
        )
        try:
            _tmux(socket, "respawn-pane", "-k", "-t", "app", command)
            deadline = time.monotonic() + WAIT
            while "FLEET_CLOSED" not in _tmux(socket, "capture-pane", "-p", "-t", "app"):
                assert time.monotonic() < deadline, "the app never showed its network"
                time.sleep(0.02)
            apps = _apps_on(profile)
            assert apps, "the app's process was not found"
        finally:
            subprocess.run(["tmux", "-S", str(socket), "kill-server"], check=False)
        _, alive = psutil.wait_procs(apps, timeout=ENDED_WITHIN)
        for process in alive:  # only the app this test started, by its pid
            process.kill()
        assert not alive, f"run {run}: the app was still running {ENDED_WITHIN:.0f} s later"
