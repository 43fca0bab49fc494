"""The core runs without a screen (nothing outside iotsim_tui/tui imports textual), and the
app's first frame waits for no module it needs only later."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import iotsim_tui
from iotsim_tui.cli import main


def _core_modules() -> list[str]:
    names = [
        info.name
        for info in pkgutil.walk_packages(iotsim_tui.__path__, prefix="iotsim_tui.")
        if not info.name.startswith("iotsim_tui.tui")
    ]
    assert "iotsim_tui.cli" in names
    # The lab (lessons, checkpoints) is core too: the app and the command line are its faces.
    assert {"iotsim_tui.lab.lessons", "iotsim_tui.lab.lessons_run"} <= set(names)
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


def test_the_lab_package_runs_without_a_screen() -> None:
    modules = [name for name in _core_modules() if name.startswith("iotsim_tui.lab")]
    assert "iotsim_tui.lab.checks" in modules
    assert "iotsim_tui.lab.check_command" in modules
    statement = "\n".join(f"import {name}" for name in modules)
    assert _loaded_after(statement, ("textual", "iotsim_tui.tui")) == []


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


def _loaded_after(statement: str, banned: tuple[str, ...]) -> list[str]:
    """Modules under `banned` that `statement`, run in a fresh interpreter, loads."""
    script = (
        "import sys\n"
        f"{statement}\n"
        f"banned = {banned!r}\n"
        "print(','.join(sorted(m for m in sys.modules\n"
        "                      if any(m == b or m.startswith(b + '.') for b in banned))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return [name for name in result.stdout.strip().split(",") if name]


# What the app needs only once a network runs, a broker starts or a file is saved: none of it
# may hold up the first frame.
NOT_BEFORE_FIRST_FRAME = (
    "aiomqtt",
    "paho",
    "cryptography",
    "tomli_w",
    "importlib.metadata",
    "iotsim_tui.broker",
    "iotsim_tui.wiretap",
    "iotsim_tui.certs",
    "iotsim_tui.engine.simulation",
    "iotsim_tui.runner.process",
)


def test_the_app_module_loads_no_mqtt_client_broker_or_relay() -> None:
    assert _loaded_after("import iotsim_tui.tui.app", NOT_BEFORE_FIRST_FRAME) == []


def test_the_command_line_loads_nothing_heavy_to_parse_arguments() -> None:
    statement = "from iotsim_tui.cli import _app_parser; _app_parser().parse_args([])"
    assert _loaded_after(statement, (*NOT_BEFORE_FIRST_FRAME, "textual")) == []


def test_engine_events_load_without_the_mqtt_client() -> None:
    assert _loaded_after("import iotsim_tui.engine.events", ("aiomqtt", "paho")) == []


def test_engine_names_still_import_from_the_package() -> None:
    statement = (
        "from iotsim_tui.engine import DeviceStatus, Simulation, Summary\n"
        "import iotsim_tui.engine as engine\n"
        "assert engine.Simulation is Simulation and 'Simulation' in dir(engine)\n"
        "assert Simulation.__module__ == 'iotsim_tui.engine.simulation'\n"
        "for name in engine.__all__:\n"
        "    getattr(engine, name)\n"
        "try:\n"
        "    engine.NoSuchName\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('an unknown name did not raise AttributeError')"
    )
    assert "aiomqtt" in _loaded_after(statement, ("aiomqtt",))


def test_version_is_read_when_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        main(["--version"])
    assert ended.value.code == 0
    assert capsys.readouterr().out == f"iotsim-tui {metadata.version('iotsim-tui')}\n"
    assert iotsim_tui.__version__ == metadata.version("iotsim-tui")


def _imports(path: Path) -> set[str]:
    """The top-level packages a module imports (at any depth of its code)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_engines_door_imports_aiomqtt_or_paho() -> None:
    """engine/mqtt_client.py is the one module that imports the MQTT client libraries."""
    package = Path(iotsim_tui.__file__).parent
    importers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if _imports(path) & {"aiomqtt", "paho"}
    )
    assert importers == ["engine/mqtt_client.py"]
