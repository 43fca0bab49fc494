"""The lab's story, steps 1 to 8, driven through the app with the real bundled broker.

Every port is picked at run time; the certificates are made by the settings dialog into the
test's own folder; the profile is saved and opened again at the end.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input

from iotsim_tui.engine.events import DeviceStatus, MessageIn
from iotsim_tui.profiles.load import load_network
from iotsim_tui.profiles.model import BrokerSettings, Network
from iotsim_tui.tui.app import IotsimApp, make_app
from iotsim_tui.tui.screens.console import BrokerConsoleScreen
from iotsim_tui.tui.screens.eavesdrop import EavesdropScreen
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.session import OpenNetwork
from iotsim_tui.tui.widgets.network_tree import NetworkTree, Place
from tests.support.bundled import skip_without_broker
from tests.support.ports import free_port
from tests.tui.pilot import app_on, fill, type_text, wait_for

pytestmark = pytest.mark.slow


def _main(app: IotsimApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen), screen
    return screen


def _console(app: IotsimApp) -> BrokerConsoleScreen:
    screen = app.screen
    assert isinstance(screen, BrokerConsoleScreen), screen
    return screen


def _network(app: IotsimApp, name: str) -> OpenNetwork:
    return next(n for n in app.session.networks if n.network.name == name)


def _received(opened: OpenNetwork, device_id: str) -> list[bytes]:
    return [e.payload for e in opened.records[device_id].log if isinstance(e, MessageIn)]


def _tree_line(app: IotsimApp, place: Place) -> str:
    node = _main(app).query_one(NetworkTree).node_of(place)
    assert node is not None, place
    return str(node.label)


async def _send_from_console(app: IotsimApp, pilot: object, text: str) -> None:
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    console = app.screen
    assert isinstance(console, BrokerConsoleScreen)
    await fill(pilot, "#command-topic", "High_Tempe")
    await pilot.press("enter")  # on to the message
    await type_text(pilot, text)
    await pilot.press("enter")  # sends
    await wait_for(
        pilot,
        lambda: any("Sent" in n.message and text in n.message for n in app._notifications),
        f"the notification that {text!r} was sent",
    )


async def test_the_lab_story_from_a_new_network_to_tls_and_back_from_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    skip_without_broker()
    monkeypatch.chdir(tmp_path)
    plain_port, tls_port, default_port = free_port(), free_port(), free_port()
    # 1. the app opens with a default network on the bundled broker, started by itself.
    default = Network("HEALTH_CARE", broker=BrokerSettings(port=default_port))
    app = app_on(tmp_path, default)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot,
            lambda: app.session.brokers.state(default) == "bundled broker running",
            "the bundled broker of the default network",
        )

        # 2. a new network, and its broker's port.
        await pilot.press("n")
        await type_text(pilot, "NDE_FINANCE_NETWORK")
        await fill(pilot, "#description", "Finance floor sensors")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.session.networks) == 2, "the new network")
        nde = _network(app, "NDE_FINANCE_NETWORK")
        await wait_for(pilot, lambda: _main(app).network is nde, "the new network selected")
        await pilot.press("c")
        await fill(pilot, "#port", str(plain_port))
        await pilot.press("enter")
        await wait_for(pilot, lambda: nde.network.broker.port == plain_port, "the new port")

        # 3. a device, 4. subscribed to its command topic on start, at QoS 1.
        await pilot.press("a")
        await fill(pilot, "#name", "Temperature_Sensor")
        await fill(pilot, "#id", "TS1")
        await fill(pilot, "#description", "Server room")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "TS1" in nde.records, "TS1 in the network")
        await wait_for(pilot, lambda: _main(app).device_id == "TS1", "TS1 selected")
        await pilot.press("u")
        await type_text(pilot, "High_Tempe")
        await pilot.press("enter")
        await wait_for(pilot, lambda: nde.network.devices[0].subscribe, "the subscription")
        (subscription,) = nde.network.devices[0].subscribe
        assert (subscription.topic, subscription.qos, subscription.on.value) == (
            "High_Tempe",
            1,
            "start",
        )
        assert nde.dirty
        assert _tree_line(app, Place(nde.key, "TS1")).startswith("○ TS1")

        # 5. start the network: TS1 goes from stopped to connected; the console lists it.
        await pilot.press("S")
        await wait_for(
            pilot,
            lambda: nde.records["TS1"].status is DeviceStatus.CONNECTED,
            "TS1 connected",
        )
        await wait_for(
            pilot,
            lambda: _tree_line(app, Place(nde.key, "TS1")).startswith("● TS1"),
            "the tree showing TS1 connected",
        )
        await pilot.press("b")
        console = _console(app)
        await wait_for(pilot, lambda: "TS1" in console.clients, "TS1 in the broker console")
        # The feed may list the client before its SUBSCRIBE: wait for the next one.
        await wait_for(
            pilot,
            lambda: [s.filter for s in console.listed("TS1").subscriptions] == ["High_Tempe"],
            "TS1's subscription in the broker console",
        )
        ts1 = console.listed("TS1")
        assert ts1.address.startswith("127.0.0.1:")
        assert ts1.link == "plain"
        assert [s.filter for s in ts1.subscriptions] == ["High_Tempe"]

        # 6. a command from the console reaches TS1's log.
        await _send_from_console(app, pilot, "Alert for High Temperature")
        await wait_for(
            pilot,
            lambda: b"Alert for High Temperature" in _received(nde, "TS1"),
            "the first alert in TS1's log",
        )
        await pilot.press("escape")
        # ... and the eavesdrop view shows the topic and the text in clear.
        await pilot.press("w")
        assert isinstance(app.screen, EavesdropScreen)
        assert app.screen.tap is nde.tap is not None
        tap = nde.tap
        await wait_for(
            pilot,
            lambda: any(b"Alert for High Temperature" in item.data for item in tap.items()),
            "the alert in clear on the wire",
        )
        assert any("High_Tempe" in item.summary for item in tap.items())
        await pilot.press("escape")

        # 7. certificates, TLS on another port, restart, the second alert.
        await pilot.press("c")
        await pilot.click("#generate")
        await wait_for(pilot, lambda: (tmp_path / "certs" / "ca.crt").exists(), "certificates")
        # The certificate fields are mounted a moment after the files exist.
        await wait_for(
            pilot,
            lambda: any(ca.value for ca in app.screen.query("#ca").results(Input)),
            "the CA path filled in",
        )
        app.screen.query_one("#tls", Checkbox).value = True
        await fill(pilot, "#port", str(tls_port))
        await pilot.press("enter")
        await wait_for(pilot, lambda: nde.network.broker.tls.enabled, "TLS switched on")
        assert nde.stale
        await pilot.press("S")
        await wait_for(pilot, lambda: nde.engine is None, "the network stopped")
        restarted = time.time()
        await pilot.press("S")
        await wait_for(
            pilot,
            lambda: (
                nde.records["TS1"].status is DeviceStatus.CONNECTED
                and nde.running is not None
                and nde.running.broker.tls.enabled
            ),
            "TS1 connected over TLS",
        )
        await pilot.press("b")
        console = _console(app)
        await wait_for(pilot, lambda: "TS1" in console.clients, "TS1 in the TLS console")
        assert console.listed("TS1").link.startswith("TLSv1.")
        await _send_from_console(app, pilot, "This is second alert for High Temperature")
        await wait_for(
            pilot,
            lambda: b"This is second alert for High Temperature" in _received(nde, "TS1"),
            "the second alert in TS1's log",
        )
        await pilot.press("escape")
        # ... and on the wire, in the same capture, there are only TLS records since.
        assert nde.tap is tap
        since_tls = [item for item in tap.items() if item.at >= restarted]
        assert since_tls
        assert {item.protocol for item in since_tls} <= {"TLS", "TCP"}, since_tls[:3]
        assert not any(b"second alert" in item.data for item in tap.items())
        assert any(b"Alert for High Temperature" in item.data for item in tap.items())

        # 8. save as a TOML file under profiles/.
        await pilot.press("ctrl+s")
        await fill(pilot, "#path", "profiles/nde_finance.toml")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not nde.dirty, "the network saved")
        saved = nde.network

    path = tmp_path / "profiles" / "nde_finance.toml"
    assert load_network(path) == saved
    assert saved.broker.tls.enabled
    assert saved.broker.port == tls_port
    again = make_app([path], start_broker=False, log_file=tmp_path / "state" / "log")
    async with again.run_test(size=(120, 40)) as pilot:
        opened = again.session.networks[0]
        await wait_for(pilot, lambda: _main(again).network is opened, "the reloaded network")
        assert replace(opened.network) == saved
        assert _tree_line(again, Place(opened.key, "TS1")).startswith("○ TS1")
