"""Our certificates in mosquitto and its clients: what a lab does with them, for real."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.certs import (
    KeyPair,
    client_pair,
    foreign_client_cert,
    make_cert_dir,
    wrong_host_server_cert,
)
from tests.support.mosquitto import mosquitto_path, run_mosquitto

pytestmark = pytest.mark.skipif(
    mosquitto_path() is None or shutil.which("mosquitto_pub") is None,
    reason="mosquitto and mosquitto-clients are not installed",
)


def _publish(
    port: int, certs: Path, *, host: str, client: KeyPair | None, insecure: bool = False
) -> tuple[int, str]:
    command = ["mosquitto_pub", "-h", host, "-p", str(port), "--cafile", str(certs / "ca.crt")]
    if insecure:
        command.append("--insecure")  # skips the host name check only, not the chain
    if client is not None:
        command += ["--cert", str(client.cert), "--key", str(client.key)]
    command += ["-t", "High_Tempe", "-m", "Alert for High Temperature", "-q", "1", "-V", "mqttv5"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    return result.returncode, result.stderr


@pytest.mark.slow
def test_mosquitto_requires_and_accepts_our_client_certificate(tmp_path: Path) -> None:
    certs = make_cert_dir(tmp_path)
    with run_mosquitto(tmp_path, certs=certs, require_client_cert=True) as broker:
        assert broker.tls_port is not None
        port = broker.tls_port
        for host in ("localhost", "127.0.0.1"):
            code, err = _publish(port, certs, host=host, client=client_pair(certs))
            assert code == 0, err
        code, _ = _publish(port, certs, host="localhost", client=None)
        assert code != 0
        code, _ = _publish(port, certs, host="localhost", client=foreign_client_cert(tmp_path))
        assert code != 0


@pytest.mark.slow
def test_mosquitto_clients_refuse_a_server_certificate_for_another_host(tmp_path: Path) -> None:
    certs = make_cert_dir(tmp_path)
    wrong_host_server_cert(certs)
    with run_mosquitto(tmp_path, certs=certs) as broker:
        assert broker.tls_port is not None
        code, err = _publish(broker.tls_port, certs, host="localhost", client=None)
        assert code != 0
        assert "TLS error" in err
        # The chain is fine: only the host name is wrong.
        code, err = _publish(broker.tls_port, certs, host="localhost", client=None, insecure=True)
        assert code == 0, err
