"""Dialogs kept between opens: built the first time, filled in anew each time after.

Building a dialog (its widgets made, styled, laid out twice) was most of the time a key took
to show it; a kept dialog is only filled in and drawn. The app keeps one of each kind (an
installed screen: closing it does not take it down) and, when that one is on screen already
(a dialog opened from within itself), a new one is built as before.
"""

from __future__ import annotations

from typing import Any, TypeVar

from textual.app import App
from textual.screen import Screen

DialogT = TypeVar("DialogT", bound=Screen[Any])


def _name(kind: type[Screen[Any]], variant: str) -> str:
    return f"kept:{kind.__module__}.{kind.__qualname__}:{variant}"


def kept_dialog(app: App[Any], kind: type[DialogT], variant: str = "") -> DialogT | None:
    """The kept dialog of `kind` (and `variant`, for a kind built in more than one shape),
    free to open again; None when there is none yet or it is on screen now."""
    name = _name(kind, variant)
    if not app.is_screen_installed(name):
        return None
    dialog = app.get_screen(name)
    if not isinstance(dialog, kind) or dialog in app.screen_stack:
        return None
    return dialog


def keep_dialog(app: App[Any], dialog: Screen[Any], variant: str = "") -> None:
    """Keep `dialog` (just built) for the next opens, unless one of its kind is kept already."""
    name = _name(type(dialog), variant)
    if not app.is_screen_installed(name):
        app.install_screen(dialog, name)
