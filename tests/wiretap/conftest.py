"""Brokers for eavesdrop tests: mosquitto in clear, and mosquitto with TLS on fresh certificates."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.certs import make_cert_dir
from tests.support.mosquitto import mosquitto_path, run_mosquitto


@dataclass(frozen=True)
class TLSBroker:
    """Mosquitto listening with TLS, and the certificate folder whose CA signed it."""

    host: str
    port: int
    certs: Path


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[TLSBroker]:
    """Mosquitto with a TLS listener on a free port; skipped when mosquitto is missing."""
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    certs = make_cert_dir(tmp_path)
    # Started as root, mosquitto drops to the "mosquitto" user, who cannot read the
    # certificate folder (0700, as it should be): keep the user that owns it.
    stay = f"user {getpass.getuser()}\n"
    with run_mosquitto(tmp_path, certs=certs, extra_config=stay) as broker:
        assert broker.tls_port is not None
        yield TLSBroker(broker.host, broker.tls_port, certs)
