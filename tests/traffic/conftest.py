"""Brokers for record/replay tests: mosquitto and the bundled broker, both on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from iotsim_tui.profiles.model import BrokerSettings
from iotsim_tui.protocol.reasons import MQTTVersion
from tests.support.bundled import bundled_broker
from tests.support.mosquitto import mosquitto_path, run_mosquitto


@pytest.fixture(params=["mosquitto", "bundled"])
async def broker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BrokerSettings]:
    """MQTT 5 settings for a real broker on a free loopback port: mosquitto, then the bundled."""
    if request.param == "mosquitto":
        if mosquitto_path() is None:
            pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
        with run_mosquitto(tmp_path) as running:
            yield BrokerSettings(
                host=running.host, port=running.port, bundled=False, protocol=MQTTVersion.V5
            )
    else:
        async with bundled_broker(tmp_path) as running:
            host, port = running.listening["plain"]
            yield BrokerSettings(host=host, port=port, bundled=False, protocol=MQTTVersion.V5)
