"""Fixtures shared by every test folder: free ports and real brokers on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import RunningMosquitto, mosquitto_path, run_mosquitto


@pytest.fixture(autouse=True, scope="session")
def private_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The app's log goes to a folder of the test run's own, never to the user's log file."""
    state = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(state))
        yield state


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bundled broker's data goes to a folder of each test's own, never to the user's."""
    data = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(data))
        yield data


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[RunningMosquitto]:
    """A plain mosquitto broker on a free port; the test is skipped when it is not installed."""
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    with run_mosquitto(tmp_path) as broker:
        yield broker
