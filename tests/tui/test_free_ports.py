"""With free ports (`iotsim-tui --free-ports`, what `serve` opens for each browser tab), the
bundled broker listens on a port of its own while the profile's port is taken by another
program, and the devices, the console and the eavesdrop relay all find it there."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from iotsim_tui.engine.events import DeviceStatus, MessageIn
from iotsim_tui.profiles.model import BrokerSettings, Device, Network, Subscription, TLSSettings
from iotsim_tui.profiles.save import save_network
from iotsim_tui.tui.app import FREE_PORTS_NOTE, make_app
from iotsim_tui.tui.brokers import AppBrokers
from iotsim_tui.tui.screens.console import BrokerConsoleScreen
from iotsim_tui.tui.screens.eavesdrop import EavesdropScreen
from iotsim_tui.tui.widgets.network_header import NetworkHeader
from tests.support.bundled import skip_without_broker
from tests.support.certs import make_cert_dir
from tests.tui.pilot import fill, type_text, wait_for, wait_subscribed

pytestmark = pytest.mark.slow


async def test_the_broker_takes_a_free_port_and_everything_finds_it(tmp_path: Path) -> None:
    skip_without_broker()
    with socket.socket() as taken:
        # What another tab's broker would be: something listening on the profile's port.
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        profile_port = taken.getsockname()[1]
        network = Network(
            "NDE_FINANCE_NETWORK",
            broker=BrokerSettings(port=profile_port),
            devices=(Device("Temperature_Sensor", "TS1", subscribe=(Subscription("High_Tempe"),)),),
        )
        path = tmp_path / "nde.toml"
        save_network(network, path)
        app = make_app(
            [path],
            free_ports=True,
            certs_dir=tmp_path / "certs",
            log_file=tmp_path / "state" / "iotsim-tui.log",
        )
        async with app.run_test(size=(120, 40)) as pilot:
            assert any(n.message == FREE_PORTS_NOTE for n in app._notifications)
            brokers = app.session.brokers
            await wait_for(
                pilot,
                lambda: brokers.state(network) == "bundled broker running",
                "the bundled broker on a free port",
            )
            (broker,) = brokers.values()
            port = broker.listening["plain"][1]
            assert port != profile_port
            assert brokers.reached(network).broker.effective_port == port
            header = str(app.screen.query_one(NetworkHeader).query_one("#header-line").render())
            assert f"127.0.0.1:{port}" in header

            await pilot.press("S")
            (opened,) = app.session.networks
            await wait_for(
                pilot,
                lambda: opened.records["TS1"].status is DeviceStatus.CONNECTED,
                "TS1 connected",
            )
            assert opened.network.broker.port == profile_port  # the profile is left alone
            assert opened.tap is not None
            assert opened.tap.target == ("127.0.0.1", port)

            await pilot.press("b")
            console = app.screen
            assert isinstance(console, BrokerConsoleScreen)
            await wait_subscribed(pilot, console, "TS1")
            title = str(console.query_one("#console-title").render())
            assert f"127.0.0.1:{port}" in title
            await fill(pilot, "#command-topic", "High_Tempe")
            await pilot.press("enter")
            await type_text(pilot, "Alert for High Temperature")
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: any(
                    isinstance(e, MessageIn) and e.payload == b"Alert for High Temperature"
                    for e in opened.records["TS1"].log
                ),
                "the alert in TS1's log",
            )
            await pilot.press("escape")
            await pilot.press("w")
            await wait_for(pilot, lambda: isinstance(app.screen, EavesdropScreen), "eavesdrop")
            relay = opened.tap.endpoint
            title = str(app.screen.query_one("#eavesdrop-title").render())
            assert f"broker 127.0.0.1:{port}" in title
            assert f"relay {relay[0]}:{relay[1]}" in title


async def test_with_tls_the_broker_listens_with_tls_on_a_free_port(tmp_path: Path) -> None:
    skip_without_broker()
    certs = make_cert_dir(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        profile_port = taken.getsockname()[1]
        network = Network(
            "TLS_LAB",
            broker=BrokerSettings(
                port=profile_port, tls=TLSSettings(enabled=True, ca=str(certs / "ca.crt"))
            ),
        )
        brokers = AppBrokers(enabled=True, certs_dir=certs, free_ports=True)
        try:
            broker = await brokers.ensure(network)
            assert broker is not None
            ((kind, (_, port)),) = broker.listening.items()
            assert kind == "tls"
            assert port != profile_port
            assert brokers.reached(network).broker.effective_port == port
            # The same broker on the same port while nothing changed.
            assert await brokers.ensure(network) is broker
            assert brokers.reached(network).broker.effective_port == port
        finally:
            await brokers.stop_all()


def test_without_free_ports_the_profile_is_reached_as_it_is() -> None:
    network = Network("LAB", broker=BrokerSettings(port=1883))
    brokers = AppBrokers(enabled=True, certs_dir=Path("certs"))
    assert brokers.reached(network) is network
