"""The TLS lessons screen: `l` opens it, a number runs a lesson for real, escape undoes it."""

from __future__ import annotations

from pathlib import Path

import psutil
from textual.widgets import Static

from iotsim_tui.profiles.model import (
    BrokerSettings,
    Device,
    Network,
    Subscription,
    TLSSettings,
)
from iotsim_tui.tui.screens.help import HelpScreen
from iotsim_tui.tui.screens.lessons import LessonsScreen
from iotsim_tui.tui.screens.main import MainScreen
from tests.support.bundled import skip_without_broker
from tests.tui.pilot import app_on, type_text, wait_for

DEVICES = (Device("Temperature_Sensor", "TS1", subscribe=(Subscription("High_Tempe"),)),)
TLS_ON = BrokerSettings(tls=TLSSettings(enabled=True, ca="certs/ca.crt"))


def _text(screen: object, selector: str) -> str:
    assert isinstance(screen, LessonsScreen)
    return str(screen.query_one(selector, Static).content)


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


async def test_l_runs_a_lesson_by_its_number_and_escape_goes_back(tmp_path: Path) -> None:
    skip_without_broker()
    before = _children()
    app = app_on(tmp_path, Network("LAB", broker=TLS_ON, devices=DEVICES), start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LessonsScreen), "the lessons")
        screen = app.screen
        await pilot.press("1")
        await wait_for(pilot, lambda: screen.shown_at is not None, "the lesson's result")
        assert "the broker's certificate is not signed by" in _text(screen, "#reason")
        assert "→ Alert (fatal): unknown_ca" in _text(screen, "#seen")
        assert "Stopped by the device's chain check" in _text(screen, "#lesson-text")
        assert "the device was refused" in _text(screen, "#lesson-status")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
    assert _children() <= before


async def test_leaving_while_a_lesson_runs_stops_what_it_started(tmp_path: Path) -> None:
    skip_without_broker()
    before = _children()
    app = app_on(tmp_path, Network("LAB", broker=TLS_ON, devices=DEVICES), start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LessonsScreen), "the lessons")
        await pilot.press("8")
        await wait_for(pilot, lambda: _children() - before, "the lesson's broker to start")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        assert _children() <= before


async def test_the_command_palette_runs_a_lesson(tmp_path: Path) -> None:
    skip_without_broker()
    app = app_on(tmp_path, Network("LAB", broker=TLS_ON, devices=DEVICES), start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await type_text(pilot, "Lesson 4")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LessonsScreen), "the lessons")
        screen = app.screen
        await wait_for(pilot, lambda: screen.shown_at is not None, "lesson 4's result")
        assert "the broker requires a client certificate" in _text(screen, "#reason")


async def test_a_network_with_tls_off_is_told_why_there_are_no_lessons(tmp_path: Path) -> None:
    app = app_on(tmp_path, Network("LAB", devices=DEVICES), start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("l")
        await wait_for(pilot, lambda: app._notifications, "a notification")  # type: ignore[attr-defined]
        assert isinstance(app.screen, MainScreen)
        (note,) = app._notifications  # type: ignore[attr-defined]
        assert "has TLS off: the lessons are for a network with TLS on" in note.message


async def test_the_help_lists_l_and_the_lesson_keys(tmp_path: Path) -> None:
    app = app_on(tmp_path, Network("LAB", devices=DEVICES), start_broker=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        rows = {(key, where) for key, _, where in screen.key_help}
        assert ("l", "main screen (not typing)") in rows
        assert {(str(n), "TLS lessons (not typing)") for n in range(1, 9)} <= rows
