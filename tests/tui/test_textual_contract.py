"""What the app uses of Textual (and of multiprocessing) beyond their public API, name by name.

Each entry names a private part, where the app uses it and the shape it relies on. When an
upgrade removes or reshapes one, the test fails with one message naming the library, its
version and the name ("textual 9.0.0 no longer has Key._stop_propagation"), before the footer
or the keys typed ahead misbehave. pyproject.toml pins textual below the next major version.
"""

from __future__ import annotations

import inspect
import multiprocessing.process
import platform
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

import pytest
from textual import events
from textual.geometry import Size
from textual.reactive import Reactive
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.widget import Widget
from textual.widgets import Footer

TEXTUAL = f"textual {metadata.version('textual')}"
PYTHON = f"Python {platform.python_version()}"
MISSING = "missing"
"""What a check returns when the name is gone altogether."""


@dataclass(frozen=True)
class Reach:
    """A private name the app uses: who owns it, where the app uses it, how it is checked."""

    library: str
    name: str
    used_in: str
    check: Callable[[], str | None]
    """Returns `MISSING`, what changed, or None when the name still has the shape used."""


def _footer_key() -> str | None:
    try:
        from textual.widgets._footer import FooterKey
    except ImportError:
        return MISSING
    try:
        inspect.signature(FooterKey).bind(
            "s", "s", "save", "save", disabled=False, tooltip="", classes="-compact"
        )
    except TypeError:
        return "its constructor no longer takes the footer's seven arguments"
    if not isinstance(getattr(FooterKey, "compact", None), Reactive):
        return "it no longer has a `compact` reactive"
    return None


def _bindings_ready() -> str | None:
    if not isinstance(Footer.__dict__.get("_bindings_ready"), Reactive):
        return MISSING if not hasattr(Footer, "_bindings_ready") else "it is no longer a reactive"
    return None


def _stop_propagation() -> str | None:
    key = events.Key("a", "a")
    if not hasattr(key, "_stop_propagation"):
        return MISSING
    if key._stop_propagation is not False:
        return "it is no longer False on a new key"
    key.stop()
    if key._stop_propagation is not True:
        return "Key.stop() no longer sets it"
    return None


def _sender() -> str | None:
    key = events.Key("a", "a")
    return None if hasattr(key, "_sender") else MISSING


def _scroll_update() -> str | None:
    method = getattr(Widget, "_scroll_update", None)
    if method is None:
        return MISSING
    try:
        inspect.signature(method).bind(object(), Size(1, 1))
    except TypeError:
        return "it no longer takes (virtual_size)"
    if hasattr(ScrollView, "_set_virtual_size"):
        return "ScrollView now has _set_virtual_size of its own, which LogView's would replace"
    return None


def _background_screen() -> str | None:
    try:
        from textual.renderables.background_screen import BackgroundScreen
    except ImportError:
        return MISSING
    try:
        inspect.signature(BackgroundScreen).bind(object(), object())
    except TypeError:
        return "its constructor no longer takes (screen, color)"
    if not isinstance(inspect.getattr_static(BackgroundScreen, "process_segments"), classmethod):
        return "process_segments is no longer a class method"
    if "BackgroundScreen(" not in inspect.getsource(Screen.render):
        return "Screen.render no longer draws the screen below through it"
    return None


def _children() -> str | None:
    children = getattr(multiprocessing.process, "_children", None)
    if children is None:
        return MISSING
    return None if isinstance(children, set) else "it is no longer a set of processes"


REACHES = (
    Reach("textual", "widgets._footer.FooterKey", "tui/widgets/keys_footer.py", _footer_key),
    Reach("textual", "Footer._bindings_ready", "tui/widgets/keys_footer.py", _bindings_ready),
    Reach("textual", "Key._stop_propagation", "tui/focus.py", _stop_propagation),
    Reach("textual", "Key._sender", "tui/focus.py", _sender),
    Reach("textual", "Widget._scroll_update", "tui/widgets/log_view.py", _scroll_update),
    Reach(
        "textual",
        "renderables.background_screen.BackgroundScreen",
        "tui/screens/_frame.py",
        _background_screen,
    ),
    Reach("textual", "Widget._scroll_update", "tui/widgets/lines_view.py", _scroll_update),
    Reach("python", "multiprocessing.process._children", "runner/process.py", _children),
)


@pytest.mark.parametrize("reach", REACHES, ids=[reach.name for reach in REACHES])
def test_each_private_name_the_app_uses_is_still_there(reach: Reach) -> None:
    changed = reach.check()
    if changed is not None:
        library = TEXTUAL if reach.library == "textual" else PYTHON
        what = "no longer has" if changed == MISSING else "changed"
        detail = "" if changed == MISSING else f": {changed}"
        pytest.fail(
            f"{library} {what} {reach.name}{detail} (used in {reach.used_in})", pytrace=False
        )
