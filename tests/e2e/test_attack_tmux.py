"""An attack run by keys in a real terminal (tmux): `X`, `2`, the outcome; `d`, `2`; escape.

The test runs its own tmux server on a private socket and kills only that server.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from iotsim_tui.profiles.model import BrokerSettings, Device, Network, Subscription, Telemetry
from iotsim_tui.profiles.save import save_network
from tests.e2e.test_tmux import Terminal
from tests.support.bundled import skip_without_broker
from tests.support.ports import free_port

pytestmark = pytest.mark.slow


def test_a_user_runs_the_wildcard_attack_by_keys_defence_off_then_on(
    tmux: Terminal, tmp_path: Path
) -> None:
    skip_without_broker()
    port = free_port()
    network = Network(
        "WARD_7",
        broker=BrokerSettings(port=port),
        devices=(
            Device(
                "Temperature_Sensor",
                "TS1",
                subscribe=(Subscription("ward/{id}/cmd"),),
                telemetry=(Telemetry("ward/{id}/temperature", interval=0.5, on_connect=True),),
            ),
        ),
    )
    profile = tmp_path / "ward.toml"
    save_network(network, profile)
    tmux.run_app(profile, tmp_path)

    tmux.keys("X")
    tmux.wait_for(lambda s: "Attacks · WARD_7" in s and "defences off" in s, "the attacks screen")
    tmux.keys("2")
    screen = tmux.wait_for(lambda s: "SUCCEEDED: enumerated" in s, "the wildcard attack's outcome")
    assert "attacker-wildcard subscribed: # 0x01" in screen
    assert "ward/TS1/temperature" in screen

    tmux.keys("d")
    tmux.wait_for(lambda s: "defences ON" in s, "the defences switched on")
    tmux.keys("2")
    screen = tmux.wait_for(lambda s: "REFUSED: SUBACK" in s, "the refused wildcard attack")
    assert "0x87 not authorized" in screen

    tmux.keys("Escape")
    tmux.wait_for(
        lambda s: "bundled broker running" in s and "Attacks ·" not in s, "the main screen"
    )
    socket.create_connection(("127.0.0.1", port), timeout=5).close()  # the network's broker
