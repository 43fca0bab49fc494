"""The README's key table and the main screen's bindings name the same keys, both ways.

The bindings are read from the classes (the main screen, the app, and what they inherit
from Textual), the way Textual itself merges them, so a key added to the app without a row
in the table, or a row for a key that no longer exists, fails here.
"""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode

from iotsim_tui.tui.app import IotsimApp
from iotsim_tui.tui.screens.help import KEY_NAMES
from iotsim_tui.tui.screens.main import MainScreen
from tests.docs.markdown import ROOT, code_spans, table_rows


def bound_keys(node: type[DOMNode]) -> set[str]:
    """The keys bound on `node`'s class and the classes it inherits bindings from, as the
    README writes them ("?" for question_mark); system bindings (Textual's own ctrl+c
    "how to quit" hint) are left out, and so are super+ keys, which terminals keep for
    themselves."""
    keys: set[str] = set()
    for cls in node.__mro__:
        if not (isinstance(cls, type) and issubclass(cls, DOMNode)):
            continue
        for binding in cls.__dict__.get("BINDINGS", []):
            if isinstance(binding, Binding) and not binding.system:
                keys |= {KEY_NAMES.get(k.strip(), k.strip()) for k in binding.key.split(",")}
        if not cls.__dict__.get("_inherit_bindings", True):
            break
    if issubclass(node, App) and node.ENABLE_COMMAND_PALETTE:
        keys.add(node.COMMAND_PALETTE_BINDING)
    return {key for key in keys if not key.startswith("super+")}


def table_keys() -> set[str]:
    """The keys of the README's key table (its first and third columns)."""
    keys: set[str] = set()
    for row in table_rows(ROOT / "README.md", "## Keys"):
        for cell in (row[0], row[2]):
            keys.update(code_spans(cell))
    return keys


def test_every_key_in_the_table_is_bound_and_every_binding_is_in_the_table() -> None:
    bound = bound_keys(MainScreen) | bound_keys(IotsimApp)
    shown = table_keys()
    assert shown - bound == set(), "in the README's key table but bound nowhere"
    assert bound - shown == set(), "bound on the main screen or the app, missing from the table"


def test_the_bindings_are_read_from_the_classes() -> None:
    screen_keys = bound_keys(MainScreen)
    assert {"s", "S", "/", "tab", "shift+tab", "escape"} <= screen_keys
    assert not {"?", "q", "ctrl+q"} & screen_keys  # the app's, not the screen's
    assert {"?", "q", "ctrl+q", "ctrl+p"} <= bound_keys(IotsimApp)
    assert "ctrl+c" in screen_keys  # Textual's copy, inherited from Screen
