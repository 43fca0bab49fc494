"""Engine tests run against real brokers: mosquitto, and the bundled broker where it matters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.bundled import run_bundled_broker
from tests.support.mosquitto import mosquitto_path, run_mosquitto


@pytest.fixture(params=["mosquitto", "bundled"])
def broker_port(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    """The plain port of a real broker: mosquitto, then the bundled broker."""
    if request.param == "mosquitto":
        if mosquitto_path() is None:
            pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
        with run_mosquitto(tmp_path) as broker:
            yield broker.port
    else:
        with run_bundled_broker(tmp_path) as bundled:
            assert bundled.port is not None
            yield bundled.port
