"""TLS and authentication against mosquitto: success, and each failure in plain words, quickly."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iotsim_tui.certs import issue_client
from iotsim_tui.engine import DeviceError, DeviceStatus, Simulation, StatusChanged
from iotsim_tui.errors import TLSFailure
from iotsim_tui.profiles.model import Device, MQTTVersion, TLSSettings
from tests.engine.helpers import EventLog, network, observer, unique, wait_until
from tests.support.bundled import run_bundled_broker, skip_without_broker
from tests.support.certs import (
    client_pair,
    expired_server_cert,
    foreign_client_cert,
    make_cert_dir,
    wrong_host_server_cert,
)
from tests.support.mosquitto import mosquitto_path, run_mosquitto

QUICK = 5.0
"""Seconds a failure may take to show: well under the 10 s CONNACK timeout it must not wait."""


async def _outcome(port: int, tls: TLSSettings, **broker: object) -> tuple[str, float, Simulation]:
    """Start one device; return its final status detail and how long it took to get there."""
    simulation = Simulation(network(port, Device(name="D", id="device-1"), tls=tls, **broker))
    began = time.monotonic()
    await simulation.start()
    await wait_until(
        lambda: (
            simulation.device("device-1").status
            in (DeviceStatus.CONNECTED, DeviceStatus.ERROR, DeviceStatus.RECONNECTING)
        ),
        "the connection attempt to end",
    )
    detail = simulation.device("device-1").status_detail
    return detail, time.monotonic() - began, simulation


needs_mosquitto = pytest.mark.skipif(mosquitto_path() is None, reason="mosquitto is not installed")


@needs_mosquitto
async def test_tls_connection_with_a_client_certificate(tmp_path: Path) -> None:
    certs = make_cert_dir(tmp_path)
    client = client_pair(certs)
    keys = tmp_path / "keys.log"
    tls = TLSSettings(
        enabled=True,
        ca=str(certs / "ca.crt"),
        cert=str(client.cert),
        key=str(client.key),
        key_log=str(keys),
    )
    base = unique()
    with run_mosquitto(tmp_path, certs=certs, require_client_cert=True) as broker:
        assert broker.tls_port is not None
        async with observer(broker.port, f"{base}/#") as seen:
            detail, _, simulation = await _outcome(broker.tls_port, tls)
            async with simulation:
                assert detail.startswith(f"connected to 127.0.0.1:{broker.tls_port} over TLSv1.")
                await simulation.publish("device-1", f"{base}/hello", "over TLS", qos=1)
                await wait_until(lambda: seen.on(f"{base}/hello"), "the message over TLS")
    assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in keys.read_text()  # Wireshark can decrypt
    assert keys.stat().st_mode & 0o777 == 0o600  # and so can anyone who reads it


@needs_mosquitto
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "unknown CA",
            "the broker's certificate is not signed by {ca} (certificate verify failed: "
            "self-signed certificate in certificate chain)",
        ),
        ("wrong host", "hostname mismatch: certificate is for wrong.example, 192.0.2.1, not "),
        (
            "expired",
            "the broker's certificate has expired "
            "(certificate verify failed: certificate has expired)",
        ),
    ],
)
async def test_server_certificate_failures_are_reported_at_once(
    tmp_path: Path, case: str, expected: str
) -> None:
    certs = make_cert_dir(tmp_path)
    trusted = certs / "ca.crt"
    if case == "unknown CA":
        trusted = make_cert_dir(tmp_path, name="other") / "ca.crt"
    elif case == "wrong host":
        wrong_host_server_cert(certs)
    else:
        expired_server_cert(certs)
    with run_mosquitto(tmp_path, certs=certs) as broker:
        assert broker.tls_port is not None
        simulation = Simulation(
            network(
                broker.tls_port,
                Device(name="D", id="device-1"),
                tls=TLSSettings(enabled=True, ca=str(trusted)),
            )
        )
        log = EventLog(simulation)
        began = time.monotonic()
        async with simulation:
            await simulation.start()
            await wait_until(
                lambda: simulation.device("device-1").status is DeviceStatus.ERROR, "the error"
            )
            took = time.monotonic() - began
            detail = simulation.device("device-1").status_detail
            assert detail.startswith(expected.format(ca=trusted))
            assert took < QUICK
        await log.finish()
        # Said once in the device's log: by the status that ends the device.
        told = [
            e
            for e in log.events
            if isinstance(e, DeviceError | StatusChanged)
            and detail in (e.message if isinstance(e, DeviceError) else e.detail)
        ]
        assert [(type(e), getattr(e, "status", None)) for e in told] == [
            (StatusChanged, DeviceStatus.ERROR)
        ]


@needs_mosquitto
async def test_the_view_shows_the_negotiated_tls_version(tmp_path: Path) -> None:
    # The profile asks for TLS 1.2 at least; mosquitto offers 1.3: the view shows what was agreed.
    certs = make_cert_dir(tmp_path)
    with run_mosquitto(tmp_path, certs=certs) as broker:
        assert broker.tls_port is not None
        detail, _, simulation = await _outcome(
            broker.tls_port, TLSSettings(enabled=True, ca=str(certs / "ca.crt"), min_version="1.2")
        )
        async with simulation:
            assert detail.endswith("over TLSv1.3")
            assert simulation.device("device-1").tls_version == "TLSv1.3"
            await simulation.stop()
            assert simulation.device("device-1").tls_version is None
        _, _, plain = await _outcome(broker.port, TLSSettings())
        async with plain:
            assert plain.device("device-1").status is DeviceStatus.CONNECTED
            assert plain.device("device-1").tls_version is None


@needs_mosquitto
@pytest.mark.parametrize("version", ["tlsv1.2", "tlsv1.3"])
async def test_a_missing_client_certificate_is_reported_at_once(
    tmp_path: Path, version: str
) -> None:
    certs = make_cert_dir(tmp_path)
    with run_mosquitto(
        tmp_path, certs=certs, require_client_cert=True, extra_config=f"tls_version {version}\n"
    ) as broker:
        assert broker.tls_port is not None
        detail, took, simulation = await _outcome(
            broker.tls_port, TLSSettings(enabled=True, ca=str(certs / "ca.crt"))
        )
        async with simulation:
            assert detail == "the broker requires a client certificate"
            assert took < QUICK


@needs_mosquitto
@pytest.mark.parametrize(
    ("host", "expected"),
    [
        # The log names the broker the user set, not the relay's port.
        ("localhost", "connected to localhost:8883 through the eavesdrop relay over TLSv1."),
        ("wrong.example", "hostname mismatch: certificate is for localhost, "),
    ],
)
async def test_an_endpoint_override_still_checks_the_profile_host(
    tmp_path: Path, host: str, expected: str
) -> None:
    certs = make_cert_dir(tmp_path)
    with run_mosquitto(tmp_path, certs=certs) as broker:
        assert broker.tls_port is not None
        # The profile names `host`; devices connect to 127.0.0.1 (as through the relay).
        simulation = Simulation(
            network(
                8883,
                Device(name="D", id="device-1"),
                host=host,
                tls=TLSSettings(enabled=True, ca=str(certs / "ca.crt")),
            ),
            endpoint=("127.0.0.1", broker.tls_port),
        )
        async with simulation:
            await simulation.start()
            await wait_until(
                lambda: (
                    simulation.device("device-1").status
                    in (DeviceStatus.CONNECTED, DeviceStatus.ERROR)
                ),
                "the connection attempt",
            )
            assert simulation.device("device-1").status_detail.startswith(expected)


@needs_mosquitto
async def test_a_client_certificate_from_another_ca_is_rejected(tmp_path: Path) -> None:
    certs = make_cert_dir(tmp_path)
    foreign = foreign_client_cert(tmp_path)
    tls = TLSSettings(
        enabled=True, ca=str(certs / "ca.crt"), cert=str(foreign.cert), key=str(foreign.key)
    )
    with run_mosquitto(tmp_path, certs=certs, require_client_cert=True) as broker:
        assert broker.tls_port is not None
        detail, took, simulation = await _outcome(broker.tls_port, tls)
        async with simulation:
            assert detail == "the broker does not trust the client certificate (unknown CA)"
            assert took < QUICK


async def test_unreadable_tls_files_are_named() -> None:
    simulation = Simulation(
        network(1, Device(name="D", id="D1"), tls=TLSSettings(enabled=True, ca="/nonexistent/ca"))
    )
    with pytest.raises(TLSFailure, match="cannot load the CA certificate /nonexistent/ca"):
        await simulation.start()


@pytest.fixture(params=["mosquitto", "bundled"])
def password_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A broker that lets in only alice (password s3cret-pass): (which broker, its port)."""
    passwords = tmp_path / "passwords"
    if request.param == "mosquitto":
        tool = shutil.which("mosquitto_passwd")
        if tool is None:
            pytest.skip("mosquitto_passwd is not installed")
        subprocess.run([tool, "-b", "-c", str(passwords), "alice", "s3cret-pass"], check=True)
        passwords.chmod(0o600)
        extra = f"allow_anonymous false\npassword_file {passwords}\n"
        with run_mosquitto(tmp_path, extra_config=extra) as broker:
            yield "mosquitto", broker.port
        return
    skip_without_broker()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "iotsim_tui",
            "broker",
            "passwd",
            str(passwords),
            "alice",
            "--password-stdin",
        ],
        input=b"s3cret-pass\n",
        check=True,
    )
    with run_bundled_broker(tmp_path, password_file=passwords, allow_anonymous=False) as bundled:
        assert bundled.port is not None
        yield "bundled", bundled.port


# mosquitto answers a wrong password with "not authorized" in both versions; the bundled
# broker with "bad user name or password", as MQTT 5 intends.
WRONG_PASSWORD = {"mosquitto": "not authorized", "bundled": "bad user name or password"}


@pytest.mark.parametrize(
    ("username", "password", "protocol", "expected"),
    [
        ("alice", "wrong", "3.1.1", "wrong password"),
        ("alice", "wrong", "5", "wrong password"),
        (None, None, "3.1.1", "not authorized"),
        (None, None, "5", "not authorized"),
        ("alice", "s3cret-pass", "5", "connected to"),
    ],
)
async def test_credentials(
    password_broker: tuple[str, int],
    username: str | None,
    password: str | None,
    protocol: str,
    expected: str,
) -> None:
    which, port = password_broker
    if expected == "wrong password":
        expected = WRONG_PASSWORD[which]
    simulation = Simulation(
        network(
            port,
            Device(name="D", id="device-1"),
            username=username,
            password=password,
            protocol=MQTTVersion(protocol),
        )
    )
    log = EventLog(simulation)
    async with simulation:
        await simulation.start()
        await wait_until(
            lambda: (
                simulation.device("device-1").status in (DeviceStatus.CONNECTED, DeviceStatus.ERROR)
            ),
            "the connection attempt",
        )
        assert simulation.device("device-1").status_detail.startswith(expected)
    await log.finish()
    shown = [repr(event) for event in log.events]
    assert shown
    assert not any("s3cret-pass" in text or "wrong" in text for text in shown)
    if expected != "connected to":
        # Said once, by the status that ends the device: no separate error line.
        assert log.of(DeviceError) == []
        ended = [e.detail for e in log.of(StatusChanged) if e.status is DeviceStatus.ERROR]
        assert len(ended) == 1
        assert ended[0].startswith(expected)
        assert ended[0].endswith("check them in the network's broker settings")


@needs_mosquitto
async def test_verification_turned_off_by_the_profile_connects_to_an_unknown_ca(
    tmp_path: Path,
) -> None:
    certs = make_cert_dir(tmp_path)
    wrong_host_server_cert(certs)
    other = make_cert_dir(tmp_path, name="other") / "ca.crt"
    with run_mosquitto(tmp_path, certs=certs) as broker:
        assert broker.tls_port is not None
        detail, _, simulation = await _outcome(
            broker.tls_port, TLSSettings(enabled=True, ca=str(other), verify_certificate=False)
        )
        async with simulation:
            assert detail.startswith("connected to")


@pytest.mark.parametrize("with_certificate", [True, False])
async def test_the_bundled_broker_over_tls_with_required_client_certificates(
    tmp_path: Path, with_certificate: bool
) -> None:
    with run_bundled_broker(tmp_path, plain=False, tls=True, require_client_cert=True) as broker:
        assert broker.tls_port is not None
        assert broker.certs is not None
        client = client_pair(make_client_cert(broker.certs))
        tls = TLSSettings(
            enabled=True,
            ca=str(broker.certs / "ca.crt"),
            cert=str(client.cert) if with_certificate else None,
            key=str(client.key) if with_certificate else None,
        )
        detail, took, simulation = await _outcome(broker.tls_port, tls)
        detail = simulation.device("device-1").last_error or detail
        async with simulation:
            if with_certificate:
                assert detail.startswith(f"connected to 127.0.0.1:{broker.tls_port} over TLSv1.")
            else:
                # The bundled broker sends the certificate_required alert, as mosquitto does.
                assert detail == "the broker requires a client certificate"
                assert took < QUICK


def make_client_cert(certs: Path) -> Path:
    """The broker's certificate folder, with the client certificate tests use."""
    if not client_pair(certs).cert.exists():
        issue_client(certs, "device-1")
    return certs
