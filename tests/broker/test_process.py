"""The bundled broker's supervisor: launch settings, port checks, a real broker process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import psutil
import pytest

from iotsim_tui.broker import process as process_module
from iotsim_tui.broker.auth import add_user
from iotsim_tui.broker.launch import BrokerLaunch, check_ports_free
from iotsim_tui.broker.process import BundledBroker
from iotsim_tui.errors import BrokerError
from iotsim_tui.profiles.model import BrokerSettings, Network, TLSSettings
from tests.support.bundled import bundled_broker, run_bundled_broker, skip_without_broker
from tests.support.certs import client_context, client_pair, make_cert_dir


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port something is listening on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def _network(**broker: object) -> Network:
    tls = broker.pop("tls", TLSSettings())
    return Network(name="NDE_FINANCE_NETWORK", broker=BrokerSettings(tls=tls, **broker))  # type: ignore[arg-type]


def test_launch_from_a_plain_network() -> None:
    launch = BrokerLaunch.from_network(_network(), Path("certs"))
    assert launch == BrokerLaunch(bind="127.0.0.1", plain_port=1883)
    assert launch.arguments() == ["broker", "--bind", "127.0.0.1", "--port", "1883"]
    assert BrokerLaunch.from_network(_network(host="::1", port=1999), Path("c")).bind == "::1"
    assert BrokerLaunch.from_network(_network(host="localhost"), Path("c")).bind == "127.0.0.1"


def test_launch_from_a_tls_network_uses_the_ca_folder_and_client_certificates() -> None:
    tls = TLSSettings(enabled=True, ca="lab/certs/ca.crt")
    launch = BrokerLaunch.from_network(_network(tls=tls), Path("certs"))
    assert launch.listeners == [("tls", 8883)]
    assert launch.certs_dir == Path("lab/certs")
    assert not launch.require_client_cert
    assert launch.arguments() == [
        "broker", "--bind", "127.0.0.1", "--no-plain", "--tls-port", "8883", "--certs", "lab/certs"
    ]  # fmt: skip

    mutual = TLSSettings(enabled=True, cert="certs/clients/TS1.crt", key="certs/clients/TS1.key")
    launch = BrokerLaunch.from_network(_network(tls=mutual, port=9000), Path("certs"))
    assert launch.tls_port == 9000
    assert launch.certs_dir == Path("certs")  # no CA in the profile: the default folder
    assert launch.require_client_cert
    assert launch.arguments()[-1] == "--require-client-cert"


def test_external_networks_do_not_launch_a_broker() -> None:
    external = _network(host="broker.example.com")
    assert not external.broker.wants_bundled
    assert not _network(bundled=False).broker.wants_bundled
    assert _network(host="127.0.0.1").broker.wants_bundled
    with pytest.raises(BrokerError, match=r"broker\.example\.com, which is not this machine"):
        BrokerLaunch.from_network(external, Path("certs"))


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"plain_port": None}, "needs a plain or a TLS port"),
        ({"plain_port": 70000}, "not between 1 and 65535"),
        ({"tls_port": 1883}, "cannot share port 1883"),
        ({"tls_port": 8883}, "needs a certificate folder"),
        ({"require_client_cert": True}, "only be required on a TLS listener"),
        ({"allow_anonymous": False}, "needs a password file"),
    ],
)
def test_impossible_launches_are_refused(settings: dict[str, object], problem: str) -> None:
    with pytest.raises(BrokerError, match=problem):
        BrokerLaunch(**settings)  # type: ignore[arg-type]


def test_password_and_anonymous_arguments() -> None:
    launch = BrokerLaunch(plain_port=1999, password_file=Path("pw"), allow_anonymous=False)
    assert launch.arguments()[-3:] == ["--password-file", "pw", "--no-anonymous"]


def test_a_taken_port_is_reported_in_plain_words(taken_port: int) -> None:
    with pytest.raises(BrokerError) as raised:
        check_ports_free(BrokerLaunch(plain_port=taken_port))
    assert raised.value.message == (
        f"port {taken_port} on 127.0.0.1 is already in use: another broker is running? "
        "stop it or pick another port in the network settings"
    )


async def test_start_refuses_a_taken_port_without_launching(taken_port: int) -> None:
    broker = BundledBroker(BrokerLaunch(plain_port=taken_port))
    with pytest.raises(BrokerError, match=f"port {taken_port} on 127.0.0.1 is already in use"):
        await broker.start()
    assert broker.pid is None
    assert not broker.running


# From here on, a real broker process: these run once the broker command exists.


async def _round_trip(port: int, **client: object) -> bytes:
    async with aiomqtt.Client("127.0.0.1", port, identifier="probe", **client) as mqtt:  # type: ignore[arg-type]
        await mqtt.subscribe("probe/echo", qos=1)
        await mqtt.publish("probe/echo", b"Alert for High Temperature", qos=1)
        async with asyncio.timeout(20):
            async for message in mqtt.messages:
                assert isinstance(message.payload, bytes)
                return message.payload
    raise AssertionError("no message")


@pytest.mark.slow
async def test_start_serve_and_stop(tmp_path: Path) -> None:
    skip_without_broker()
    lines: list[str] = []
    broker = BundledBroker(BrokerLaunch(plain_port=0), on_log=lines.append, ready_timeout=30)
    async with broker:
        assert broker.running
        assert broker.pid is not None
        host, port = broker.listening["plain"]
        assert host == "127.0.0.1"
        assert port > 0
        assert await _round_trip(port) == b"Alert for High Temperature"
        pid = broker.pid
    assert not broker.running
    assert broker.returncode is not None
    assert broker.exit_error() is None  # asked to stop: nothing to report
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert any(line.startswith("ready: plain 127.0.0.1:") for line in lines)
    assert broker.log == lines[-len(broker.log) :]


@pytest.mark.slow
async def test_tls_with_required_client_certificates(tmp_path: Path) -> None:
    certs = make_cert_dir(tmp_path)
    async with bundled_broker(
        tmp_path, plain=False, tls=True, certs=certs, require_client_cert=True
    ) as broker:
        assert list(broker.listening) == ["tls"]
        port = broker.listening["tls"][1]
        context = client_context(certs, client=client_pair(certs), check_hostname=False)
        assert await _round_trip(port, tls_context=context) == b"Alert for High Temperature"
        # Refused in the handshake; the client only notices when it waits for CONNACK.
        no_cert = client_context(certs, check_hostname=False)
        with pytest.raises(aiomqtt.MqttError):
            await _round_trip(port, tls_context=no_cert, timeout=3)


@pytest.mark.slow
async def test_an_unexpected_exit_is_explained(tmp_path: Path) -> None:
    async with bundled_broker(tmp_path) as broker:
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGKILL)  # the broker this test started, by its pid
        assert await asyncio.wait_for(broker.wait_exited(), 20) == -signal.SIGKILL
        error = broker.exit_error()
        assert error is not None
        assert error.message.startswith("the bundled broker stopped unexpectedly (exit -9): ")
        assert not broker.running


@pytest.mark.slow
async def test_a_broker_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    async with bundled_broker(tmp_path) as broker:
        assert broker.pid is not None
        broker.stop_timeout = 1.0
        os.kill(broker.pid, signal.SIGSTOP)  # stopped processes do not act on SIGTERM
        assert await broker.stop() == -signal.SIGKILL


@pytest.mark.slow
async def test_a_broker_that_fails_to_start_says_why(tmp_path: Path) -> None:
    skip_without_broker()
    certs = make_cert_dir(tmp_path)
    (certs / "server.key").unlink()
    launch = BrokerLaunch(plain_port=None, tls_port=0, certs_dir=certs)
    broker = BundledBroker(launch, ready_timeout=30)
    with pytest.raises(BrokerError, match=r"exited while starting \(exit \d+\): .*server\.key"):
        await broker.start()
    assert not broker.running


@pytest.mark.slow
async def test_the_brokers_own_port_check_is_reported_alike(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    skip_without_broker()
    # Skip the early check, as if another program took the port between check and bind.
    monkeypatch.setattr(process_module, "check_ports_free", lambda launch: None)
    broker = BundledBroker(BrokerLaunch(plain_port=taken_port), ready_timeout=30)
    with pytest.raises(BrokerError, match=f"port {taken_port} on 127.0.0.1 is already in use"):
        await broker.start()
    assert broker.returncode == process_module.EXIT_PORT_IN_USE


@pytest.mark.slow
async def test_password_file_without_anonymous(tmp_path: Path) -> None:
    passwords = tmp_path / "passwords"
    add_user(passwords, "console", "s3cret")
    async with bundled_broker(tmp_path, password_file=passwords, allow_anonymous=False) as broker:
        port = broker.listening["plain"][1]
        assert await _round_trip(port, username="console", password="s3cret") == (
            b"Alert for High Temperature"
        )
        with pytest.raises(aiomqtt.MqttError):
            await _round_trip(port, username="console", password="wrong")
        with pytest.raises(aiomqtt.MqttError):
            await _round_trip(port)


@pytest.mark.slow
def test_sync_helper_serves_plain_and_tls(tmp_path: Path) -> None:
    with run_bundled_broker(tmp_path, tls=True) as broker:
        assert broker.port is not None
        assert broker.tls_port is not None
        assert broker.certs is not None
        for port in (broker.port, broker.tls_port):
            with socket.create_connection((broker.host, port), timeout=10):
                pass
    assert broker.process.returncode is not None


@pytest.mark.slow
async def test_giving_up_while_it_starts_leaves_no_broker_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A broker that never gets ready: a real one can be ready before the test sees its pid
    # when the test is stalled for a moment (then there is no start left to give up).
    never_ready = tmp_path / "never-ready"
    never_ready.write_text("#!/bin/sh\nexec sleep 60\n")
    never_ready.chmod(0o700)
    broker = BundledBroker(BrokerLaunch(plain_port=0), ready_timeout=30)
    with monkeypatch.context() as patch:
        patch.setattr(sys, "executable", str(never_ready))
        starting = asyncio.create_task(broker.start())
        async with asyncio.timeout(20):
            # The pid appears between two awaits inside start(); nothing signals it.
            while broker.pid is None:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert not broker.running
    assert broker.returncode is not None


_PARENT = """
import asyncio, sys
from iotsim_tui.broker.launch import BrokerLaunch
from iotsim_tui.broker.process import BundledBroker

async def main() -> None:
    broker = BundledBroker(BrokerLaunch(plain_port=0), ready_timeout=30)
    await broker.start()
    print(broker.pid, broker.log, flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


@pytest.mark.slow
def test_the_broker_ends_when_the_app_is_killed(tmp_path: Path) -> None:
    skip_without_broker()
    app = subprocess.Popen(
        [sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    broker: psutil.Process | None = None
    try:
        assert app.stdout is not None
        first = app.stdout.readline()
        assert "Warning" not in first
        # Held before the app dies: the broker may be gone by the time it is looked up.
        broker = psutil.Process(int(first.split()[0]))
        app.kill()  # no chance to stop its broker
        app.wait(timeout=20)
        _, alive = psutil.wait_procs([broker], timeout=20)
        assert not alive, "the broker outlived the app"
    finally:
        app.kill()
        app.wait(timeout=20)
        if broker is not None and broker.is_running():  # the same process, not a reused PID
            broker.kill()  # the broker this test's app started


async def test_a_tls_network_can_keep_its_plain_port_open_beside(tmp_path: Path) -> None:
    """`keep_plain_port`: the broker the app starts for a TLS network also serves plain
    MQTT, as a lab that shows both side by side wants; devices still connect over TLS."""
    skip_without_broker()
    certs = make_cert_dir(tmp_path)
    tls = TLSSettings(enabled=True, ca=str(certs / "ca.crt"))
    # Port 0: any free port, picked by the broker itself.
    launch = BrokerLaunch.from_network(_network(tls=tls, port=0, keep_plain_port=0), certs)
    assert [kind for kind, _ in launch.listeners] == ["plain", "tls"]
    async with BundledBroker(launch, ready_timeout=30) as broker:
        plain, secured = broker.listening["plain"][1], broker.listening["tls"][1]
        assert await _round_trip(plain) == b"Alert for High Temperature"
        context = client_context(certs, check_hostname=False)
        assert await _round_trip(secured, tls_context=context) == b"Alert for High Temperature"
    closed = BrokerLaunch.from_network(_network(tls=tls, keep_plain_port=None), certs)
    assert closed.listeners == [("tls", 8883)]
    plain_only = BrokerLaunch.from_network(_network(keep_plain_port=1884), certs)
    assert plain_only.listeners == [("plain", 1883)]  # without TLS there is nothing beside


async def test_a_profile_s_credentials_are_the_bundled_broker_s_login() -> None:
    skip_without_broker()
    from tests.support.ports import free_port

    secret = "pump-secret-4711"
    network = _network(port=free_port(), username="ward", password=secret)
    launch = BrokerLaunch.from_network(network, Path("certs"))
    assert secret not in repr(launch)
    assert not launch.allow_anonymous
    async with BundledBroker(launch) as broker:
        assert broker.pid is not None
        password_file = _private_password_file(broker.pid, secret)
        port = network.broker.effective_port
        assert await _round_trip(port, username="ward", password=secret) == (
            b"Alert for High Temperature"
        )
        with pytest.raises(aiomqtt.MqttError):
            await _round_trip(port, username="ward", password="wrong")
        with pytest.raises(aiomqtt.MqttError):
            await _round_trip(port)
        assert not any(secret in line for line in broker.log)
    assert not await asyncio.to_thread(password_file.parent.exists)  # removed with the broker


def _private_password_file(pid: int, secret: str) -> Path:
    """The password file the broker process was given, checked private and hashed."""
    command_line = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert secret.encode() not in b" ".join(command_line)
    password_file = Path(command_line[command_line.index(b"--password-file") + 1].decode())
    assert oct(password_file.stat().st_mode & 0o777) == "0o600"
    assert oct(password_file.parent.stat().st_mode & 0o777) == "0o700"
    assert secret.encode() not in password_file.read_bytes()  # hashed
    return password_file
