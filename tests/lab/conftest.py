"""Lesson tests: one set of lesson certificates per test session, and a network with TLS on."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from iotsim_tui.lab.setup_certs import LessonCerts
from iotsim_tui.profiles.model import (
    BrokerSettings,
    Device,
    Network,
    Subscription,
    TLSSettings,
)
from iotsim_tui.profiles.save import save_network

TOPIC = "High_Tempe"


def lab_network(host: str = "127.0.0.1", **broker: Any) -> Network:
    """The seed lab's network with TLS on: TS1, subscribed to High_Tempe."""
    tls = TLSSettings(enabled=True, ca="certs/ca.crt")
    settings = replace(BrokerSettings(host=host, tls=tls), **broker)
    return Network(
        "NDE_FINANCE_NETWORK",
        "Finance floor sensors",
        settings,
        devices=(Device("Temperature_Sensor", "TS1", subscribe=(Subscription(TOPIC, qos=1),)),),
    )


def save_profile(network: Network, folder: Path, name: str = "lab.toml") -> Path:
    """Write `network` as a profile in `folder`."""
    path = folder / name
    save_network(network, path)
    return path


@pytest.fixture(scope="session")
def lesson_certs(tmp_path_factory: pytest.TempPathFactory) -> LessonCerts:
    """Every certificate the lessons use, made once for the whole session."""
    certs = LessonCerts(tmp_path_factory.mktemp("lesson-certs"), "TS1", ("127.0.0.1",))
    certs.make_all()
    return certs
