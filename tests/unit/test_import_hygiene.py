"""The core runs without a screen: nothing outside iotsim_tui/tui imports textual."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import iotsim_tui


def _core_modules() -> list[str]:
    names = [
        info.name
        for info in pkgutil.walk_packages(iotsim_tui.__path__, prefix="iotsim_tui.")
        if not info.name.startswith("iotsim_tui.tui")
    ]
    assert "iotsim_tui.cli" in names
    return names


def test_core_never_loads_textual() -> None:
    modules = _core_modules()
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    if name != 'iotsim_tui.__main__':\n"
        "        importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_engine_never_imports_the_broker() -> None:
    script = (
        "import importlib, pkgutil, sys\n"
        "import iotsim_tui.engine as engine\n"
        "for info in pkgutil.walk_packages(engine.__path__, prefix='iotsim_tui.engine.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('iotsim_tui.broker'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
