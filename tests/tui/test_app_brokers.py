"""The app's bundled brokers agree with `iotsim-tui run`: another broker on the port is used,
and a network that moved to another port leaves no old broker behind."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

from iotsim_tui.certs.authority import init_certs
from iotsim_tui.profiles.model import BrokerSettings, Device, Network, TLSSettings
from iotsim_tui.tui.session import Session
from tests.support.mosquitto import RunningMosquitto
from tests.support.ports import free_port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


async def test_another_broker_on_the_port_is_used_and_said_so(
    mosquitto: RunningMosquitto, tmp_path: Path
) -> None:
    network = Network(
        "WARD", broker=BrokerSettings(port=mosquitto.port), devices=(Device("T", "TS1"),)
    )
    session = Session(certs_dir=tmp_path / "certs")
    opened = session.add(network)
    try:
        assert await session.ensure_broker(opened.network) is None  # not an error
        brokers = session.brokers
        assert brokers.foreign(opened.network)
        assert brokers.state(opened.network) == (
            f"another broker on 127.0.0.1:{mosquitto.port}, not the bundled one"
        )
        notice = brokers.take_notice(opened.network)
        assert notice is not None
        assert "the devices use it, and the broker console shows its clients" in notice
        assert brokers.take_notice(opened.network) is None  # told once
        assert len(brokers) == 0
    finally:
        await session.close()


async def test_tls_on_a_port_set_by_hand_stops_the_old_plain_broker(tmp_path: Path) -> None:
    init_certs(tmp_path / "certs")
    plain_port, tls_port = free_port(), free_port()
    network = Network("LAB", broker=BrokerSettings(port=plain_port), devices=(Device("T", "TS1"),))
    session = Session(certs_dir=tmp_path / "certs")
    opened = session.add(network)
    try:
        first = await session.ensure_broker(opened.network)
        assert first is not None
        assert first.running
        tls = TLSSettings(enabled=True, ca=str(tmp_path / "certs" / "ca.crt"))
        opened.apply(replace(network, broker=replace(network.broker, port=tls_port, tls=tls)))
        second = await session.ensure_broker(opened.network)
        assert second is not None
        assert second.launch.tls_port == tls_port
        assert not first.running
        assert not _accepts(plain_port)
        assert list(session.brokers) == [("127.0.0.1", tls_port)]
    finally:
        await session.close()
