"""A TLS device on a plain port, a plain device on a TLS port: both sides ask the question."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from iotsim_tui.engine import Simulation
from iotsim_tui.profiles.model import Device, TLSSettings
from tests.engine.helpers import network, wait_until
from tests.support.bundled import run_bundled_broker
from tests.support.certs import make_cert_dir
from tests.support.mosquitto import mosquitto_path, run_mosquitto

HINT = "is TLS on the right port?"


@contextmanager
def both_listeners(kind: str, tmp_path: Path) -> Iterator[tuple[int, int, Path, Path | None]]:
    """(plain port, TLS port, CA file, the broker's log file when it writes one we read)."""
    certs = make_cert_dir(tmp_path)
    if kind == "mosquitto":
        if mosquitto_path() is None:
            pytest.skip("mosquitto is not installed")
        with run_mosquitto(tmp_path, certs=certs) as broker:
            assert broker.tls_port is not None
            yield broker.port, broker.tls_port, certs / "ca.crt", None
    else:
        with run_bundled_broker(tmp_path, tls=True, certs=certs) as bundled:
            assert bundled.port is not None
            assert bundled.tls_port is not None
            yield bundled.port, bundled.tls_port, certs / "ca.crt", bundled.log


async def _first_error(port: int, tls: TLSSettings) -> str:
    simulation = Simulation(network(port, Device(name="D", id="d1"), tls=tls))
    async with simulation:
        await simulation.start()
        await wait_until(lambda: simulation.device("d1").last_error is not None, "the failure")
        error = simulation.device("d1").last_error
    assert error is not None
    return error


@pytest.mark.parametrize("kind", ["mosquitto", "bundled"])
async def test_tls_and_plain_on_the_wrong_ports_are_named(kind: str, tmp_path: Path) -> None:
    with both_listeners(kind, tmp_path) as (plain, tls_port, ca, log):
        plain_on_tls = await _first_error(tls_port, TLSSettings())
        assert HINT in plain_on_tls
        assert "the device connects without TLS" in plain_on_tls
        tls_on_plain = await _first_error(plain, TLSSettings(enabled=True, ca=str(ca)))
        assert HINT in tls_on_plain
        assert "the device uses TLS" in tls_on_plain
        if log is not None:
            await wait_until(lambda: log.read_text().count(HINT) >= 2, "the broker's log lines")
            text = log.read_text()
            assert "the client does not speak TLS: is TLS on the right port?" in text
            assert "started a TLS handshake on the plain port: is TLS on the right port?" in text
