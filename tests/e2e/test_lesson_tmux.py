"""A TLS lesson run by keys in a real terminal (tmux): `l`, a number, the result, escape.

The test runs its own tmux server on a private socket and kills only that server.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from iotsim_tui.certs import init_certs
from iotsim_tui.profiles.model import BrokerSettings, Device, Network, Subscription, TLSSettings
from iotsim_tui.profiles.save import save_network
from tests.e2e.test_tmux import Terminal
from tests.support.bundled import skip_without_broker
from tests.support.ports import free_port

pytestmark = pytest.mark.slow


def test_a_user_runs_the_expired_certificate_lesson_by_keys(tmux: Terminal, tmp_path: Path) -> None:
    skip_without_broker()
    init_certs(tmp_path / "certs")
    port = free_port()
    network = Network(
        "NDE_FINANCE_NETWORK",
        broker=BrokerSettings(port=port, tls=TLSSettings(enabled=True, ca="certs/ca.crt")),
        devices=(Device("Temperature_Sensor", "TS1", subscribe=(Subscription("High_Tempe"),)),),
    )
    profile = tmp_path / "nde.toml"
    save_network(network, profile)
    tmux.run_app(profile, tmp_path)

    tmux.keys("l")
    tmux.wait_for(lambda s: "TLS lessons · NDE_FINANCE_NETWORK" in s, "the lessons screen")
    tmux.keys("2")
    screen = tmux.wait_for(
        lambda s: "the device was refused" in s and "certificate_expired" in s,
        "the expired-certificate lesson's result",
    )
    # The panes wrap their lines: look for words that fit on one.
    assert "the broker's certificate has" in screen
    assert "Stopped by the device's date" in screen
    lesson_port = re.search(r"127\.0\.0\.1:(\d+) through the", screen)
    assert lesson_port is not None, screen
    assert int(lesson_port.group(1)) != port

    tmux.keys("Escape")
    tmux.wait_for(
        lambda s: "bundled broker running" in s and "TLS lessons ·" not in s, "the main screen"
    )
    with pytest.raises(ConnectionRefusedError):  # the lesson's broker is gone
        socket.create_connection(("127.0.0.1", int(lesson_port.group(1))), timeout=2)
    socket.create_connection(("127.0.0.1", port), timeout=5).close()  # the network's is not

    tmux.keys("q")
    tmux.wait_for(lambda s: "[app exited] 0" in s, "the app to end")
