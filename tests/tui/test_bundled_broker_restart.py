"""The bundled broker restarts when a network's TLS settings or certificates change."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from iotsim_tui.certs.authority import init_certs
from iotsim_tui.engine.events import DeviceStatus, StatusChanged
from iotsim_tui.errors import BrokerError
from iotsim_tui.profiles.model import BrokerSettings, Device, Network, TLSSettings
from iotsim_tui.tui.session import OpenNetwork, Session
from tests.support.ports import free_port
from tests.tui.pilot import fold_events

if TYPE_CHECKING:
    from iotsim_tui.broker.process import BundledBroker


async def _handshake(port: int, ca: Path) -> str:
    """Complete a TLS handshake with the broker, trusting `ca`; the TLS version."""
    context = ssl.create_default_context(cafile=str(ca))
    _, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost"), 10
    )
    version = writer.get_extra_info("ssl_object").version()
    writer.close()
    return str(version)


def _tls(network: Network, certs: Path) -> Network:
    tls = TLSSettings(enabled=True, ca=str(certs / "ca.crt"))
    return replace(network, broker=replace(network.broker, tls=tls))


@contextlib.asynccontextmanager
async def plain_lab(tmp_path: Path) -> AsyncIterator[tuple[Session, OpenNetwork, BundledBroker]]:
    """A network on a free port with its plain bundled broker running, and certificates made."""
    init_certs(tmp_path / "certs")
    network = Network("LAB", broker=BrokerSettings(port=free_port()), devices=(Device("T", "TS1"),))
    session = Session(certs_dir=tmp_path / "certs")
    opened = session.add(network)
    try:
        broker = await session.ensure_broker(opened.network)
        assert broker is not None
        yield session, opened, broker
    finally:
        await session.close()


async def test_tls_switched_on_at_the_same_port_restarts_the_broker_with_tls(
    tmp_path: Path,
) -> None:
    certs = tmp_path / "certs"
    async with plain_lab(tmp_path) as (session, opened, first):
        port = opened.network.broker.effective_port
        assert await session.ensure_broker(opened.network) is first, "same settings: same broker"

        opened.apply(_tls(opened.network, tmp_path / "certs"))
        second = await session.ensure_broker(opened.network)
        assert second is not None
        assert second is not first
        assert not first.running
        assert second.launch.tls_port == port
        assert await _handshake(port, certs / "ca.crt") in {"TLSv1.2", "TLSv1.3"}

        # "Make new ones": new certificates in the same files, and the broker takes them.
        init_certs(certs, force=True)
        third = await session.ensure_broker(opened.network)
        assert third is not second
        assert await _handshake(port, certs / "ca.crt") in {"TLSv1.2", "TLSv1.3"}


async def test_a_broker_that_running_devices_use_is_not_restarted(tmp_path: Path) -> None:
    async with plain_lab(tmp_path) as (session, opened, first):
        fold_events(opened, [StatusChanged("TS1", DeviceStatus.CONNECTED, "", time.time())])
        opened.apply(_tls(opened.network, tmp_path / "certs"))
        with pytest.raises(BrokerError, match=r"stop network LAB \(S\) and start it again"):
            await session.ensure_broker(opened.network)
        assert first.running, "the devices' broker was left alone"
