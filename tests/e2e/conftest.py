"""Fixtures of the end-to-end tests that drive the app in a real terminal."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_tmux import Terminal


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Terminal]:
    """A private tmux server; only it is killed at the end."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    path = tmp_path / "tmux.sock"
    try:
        yield Terminal(path)
    finally:
        subprocess.run(["tmux", "-S", str(path), "kill-server"], capture_output=True, check=False)
