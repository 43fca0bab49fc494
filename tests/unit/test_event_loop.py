"""The event loop the broker and the simulation run on: uvloop when installed, else asyncio's."""

from __future__ import annotations

import asyncio
import sys

import pytest

from iotsim_tui import event_loop


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_runs_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.delenv(event_loop.ENV, raising=False)
    assert event_loop.name() == "uvloop"
    assert event_loop.run(_loop_module()).startswith("uvloop")


def test_the_environment_turns_uvloop_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(event_loop.ENV, "asyncio")
    assert event_loop.name() == "asyncio"
    assert event_loop.run(_loop_module()).startswith("asyncio")


def test_without_uvloop_asyncio_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(event_loop.ENV, raising=False)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed: import fails
    assert event_loop.name() == "asyncio"
    assert event_loop.run(_loop_module()).startswith("asyncio")
