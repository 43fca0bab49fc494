"""`iotsim-tui serve` in Debian's Chromium, with only loopback reachable.

The story itself is tests/e2e/served_browser.py; it runs here in a network namespace of its
own (`unshare -n`, then `ip link set lo up`), which needs root (as CI has) and the `ip` tool.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _missing() -> str | None:
    if not Path("/usr/bin/chromium").exists():
        return "Debian's chromium is not installed (.ci/run installs it)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip is missing"
    if os.geteuid() != 0:
        return "a network namespace of its own needs root"
    return None


def test_the_lab_in_two_browser_tabs_with_only_loopback() -> None:
    if (reason := _missing()) is not None:
        pytest.skip(reason)
    result = subprocess.run(
        [
            "unshare",
            "-n",
            "sh",
            "-c",
            'ip link set lo up && exec "$0" -m tests.e2e.served_browser',
            sys.executable,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every check held" in result.stdout
