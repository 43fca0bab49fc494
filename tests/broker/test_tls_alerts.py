"""A refused TLS handshake reaches the client as a TLS alert, as it does from mosquitto.

Without the alert a device cannot tell "you need a client certificate" from any other early
close. Real handshakes over loopback: Python's ssl module and the device engine as clients.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import time
from pathlib import Path

import pytest

from iotsim_tui.broker.server import Broker
from iotsim_tui.engine import DeviceStatus, Simulation
from iotsim_tui.profiles.model import Device, TLSSettings
from iotsim_tui.protocol.packets import ConnAck, Connect, PingReq, PingResp
from iotsim_tui.protocol.reasons import MQTTVersion, ReasonCode
from tests.broker.conftest import StartBroker
from tests.broker.raw import RawClient
from tests.engine.helpers import network, wait_until
from tests.support.certs import (
    KeyPair,
    client_context,
    client_pair,
    foreign_client_cert,
    make_cert_dir,
)

QUICK = 5.0
"""Seconds a refusal may take to reach the device: well under its 10 s CONNACK timeout."""

ENDED = (DeviceStatus.CONNECTED, DeviceStatus.ERROR, DeviceStatus.RECONNECTING)
"""A device's status once its first connection attempt is over."""

TLS13 = ssl.TLSVersion.TLSv1_3
TLS12 = ssl.TLSVersion.TLSv1_2


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    """A certificate folder: CA, server, and the client certificate device-1."""
    return make_cert_dir(tmp_path)


@pytest.fixture
async def tls_broker(start_broker: StartBroker, certs: Path) -> Broker:
    """A broker with only a TLS listener, requiring client certificates from `certs`."""
    return await start_broker(port=None, tls_port=0, certs=certs, require_client_cert=True)


def _client(certs: Path, version: ssl.TLSVersion, pair: KeyPair | None = None) -> ssl.SSLContext:
    context = client_context(certs, client=pair)
    context.minimum_version = context.maximum_version = version
    return context


async def _refusal(port: int, context: ssl.SSLContext) -> ssl.SSLError:
    """Connect and send CONNECT; return the SSLError the client gets, failing on anything else.

    Under TLS 1.3 the client's side of the handshake ends before the server checks the
    client's certificate, so the alert only shows on the first read.
    """
    try:
        client = await RawClient.open(port, version=4, context=context)
        await client.send_packet(Connect("device-1", MQTTVersion.V311))
        data = await asyncio.wait_for(client.reader.read(100), 10)
    except ssl.SSLError as error:
        return error
    pytest.fail(f"the broker closed without a TLS alert (read {data!r})")


@pytest.mark.parametrize(
    ("version", "alert"),
    [(TLS13, "TLSV13_ALERT_CERTIFICATE_REQUIRED"), (TLS12, "SSLV3_ALERT_HANDSHAKE_FAILURE")],
    ids=["TLS 1.3", "TLS 1.2"],
)
async def test_a_client_without_a_certificate_gets_the_alert(
    tls_broker: Broker,
    certs: Path,
    caplog: pytest.LogCaptureFixture,
    version: ssl.TLSVersion,
    alert: str,
) -> None:
    caplog.set_level(logging.INFO, logger="iotsim_tui.broker")
    error = await _refusal(tls_broker.ports["tls"], _client(certs, version))
    assert error.reason == alert, error
    assert "refused TLS handshake from 127.0.0.1:" in caplog.text
    assert "the client sent no certificate" in caplog.text
    assert not tls_broker.connections


@pytest.mark.parametrize("version", [TLS13, TLS12], ids=["TLS 1.3", "TLS 1.2"])
async def test_a_certificate_from_another_ca_gets_unknown_ca(
    tls_broker: Broker,
    certs: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    version: ssl.TLSVersion,
) -> None:
    caplog.set_level(logging.INFO, logger="iotsim_tui.broker")
    context = _client(certs, version, foreign_client_cert(tmp_path))
    error = await _refusal(tls_broker.ports["tls"], context)
    assert error.reason == "TLSV1_ALERT_UNKNOWN_CA", error
    assert "client certificate verify failed: unable to get local issuer" in caplog.text


async def _ping(client: RawClient) -> None:
    await client.send_packet(PingReq())
    await client.expect(PingResp)


async def test_refused_handshakes_leave_other_connections_alone(
    tls_broker: Broker, certs: Path, tmp_path: Path
) -> None:
    port = tls_broker.ports["tls"]
    good = _client(certs, TLS13, client_pair(certs))
    staying = await RawClient.open(port, version=5, context=good)
    await staying.send_packet(Connect("staying", MQTTVersion.V5))
    assert (await staying.expect(ConnAck)).reason_code is ReasonCode.SUCCESS

    async def hang_up_mid_handshake() -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(bytes.fromhex("16030100c8010000c40303") + bytes(32))  # a cut ClientHello
        await writer.drain()
        writer.close()

    foreign = foreign_client_cert(tmp_path)
    refusals = [
        _refusal(port, _client(certs, version, pair))
        for version in (TLS13, TLS12)
        for pair in (None, foreign)
        for _ in range(5)
    ]
    outcomes = await asyncio.gather(
        *refusals, *(hang_up_mid_handshake() for _ in range(5)), return_exceptions=True
    )
    refused, hung_up = outcomes[: len(refusals)], outcomes[len(refusals) :]
    assert all(isinstance(outcome, ssl.SSLError) for outcome in refused), refused
    assert hung_up == [None] * 5, hung_up

    await _ping(staying)  # the connection made before is untouched
    late = await RawClient.open(port, version=5, context=good)
    await late.send_packet(Connect("late", MQTTVersion.V5))
    assert (await late.expect(ConnAck)).reason_code is ReasonCode.SUCCESS
    await _ping(late)
    assert {c.client_id for c in tls_broker.connections} == {"staying", "late"}
    await staying.close()
    await late.close()


@pytest.mark.parametrize("version", [TLS13, TLS12], ids=["TLS 1.3", "TLS 1.2"])
async def test_the_engine_says_a_client_certificate_is_required_at_once(
    tls_broker: Broker, certs: Path, version: ssl.TLSVersion
) -> None:
    listener = tls_broker.listeners[0]
    assert listener.context is not None
    listener.context.maximum_version = version  # read at each handshake
    port = tls_broker.ports["tls"]
    tls = TLSSettings(enabled=True, ca=str(certs / "ca.crt"))
    simulation = Simulation(network(port, Device(name="D", id="device-1"), tls=tls))
    began = time.monotonic()
    await simulation.start()
    async with simulation:
        await wait_until(
            lambda: simulation.device("device-1").status in ENDED, "the attempt to end"
        )
        took = time.monotonic() - began
        assert simulation.device("device-1").status_detail == (
            "the broker requires a client certificate"
        )
        assert took < QUICK
        assert simulation.device("device-1").status is DeviceStatus.ERROR  # no retry can help


async def test_plain_mqtt_on_the_tls_port_is_refused_and_logged(
    tls_broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="iotsim_tui.broker")
    plain = await RawClient.open(tls_broker.ports["tls"], version=4)
    await plain.send_packet(Connect("device-1", MQTTVersion.V311))
    assert await plain.expect_closed() == b""  # no TLS: nothing to say in TLS
    assert "refused TLS handshake from 127.0.0.1:" in caplog.text
    assert "the client does not speak TLS" in caplog.text


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
@pytest.mark.parametrize(
    ("flag", "alert"),
    [("-tls1_3", "alert certificate required"), ("-tls1_2", "alert handshake failure")],
)
async def test_openssl_s_client_reads_the_alert(
    tls_broker: Broker, certs: Path, flag: str, alert: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        "openssl", "s_client", "-connect", f"127.0.0.1:{tls_broker.ports['tls']}", flag,
        "-CAfile", str(certs / "ca.crt"), "-ign_eof",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        async with asyncio.timeout(20):
            output, _ = await process.communicate(b"\x10\x00")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert alert in output.decode(errors="replace")
