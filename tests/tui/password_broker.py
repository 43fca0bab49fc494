"""Mosquitto that wants a user name and password, for the broker console's refusals."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from shutil import which

import pytest

from tests.support.mosquitto import RunningMosquitto, mosquitto_path, run_mosquitto

USER = "alice"
PASSWORD = "right-pass"


@contextmanager
def password_mosquitto(workdir: Path) -> Iterator[RunningMosquitto]:
    """Mosquitto on a free port that lets in only USER with PASSWORD."""
    passwd = which("mosquitto_passwd")
    if mosquitto_path() is None or passwd is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    password_file = workdir / "passwords"
    subprocess.run([passwd, "-b", "-c", str(password_file), USER, PASSWORD], check=True)
    extra = f"allow_anonymous false\npassword_file {password_file}\n"
    with run_mosquitto(workdir, extra_config=extra) as broker:
        yield broker
