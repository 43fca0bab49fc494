"""The broker console's command library: named commands kept in the profile.

[[library]]
name = "first alert"
topic = "High_Tempe"
payload = "Alert for High Temperature"
qos = 1          # default 1
retain = false   # default false
key = "1"        # optional: the key ("1" to "9") that sends it from the broker console
"""

from __future__ import annotations

from dataclasses import fields as dataclass_fields

from iotsim_tui.profiles.checks import Checker
from iotsim_tui.profiles.locate import KeyPath
from iotsim_tui.profiles.model import LibraryCommand

LIBRARY_KEYS = tuple(f.name for f in dataclass_fields(LibraryCommand))
KEYS = tuple("123456789")
"""The keys a library command may be sent by."""


def parse_library(checker: Checker, raw: object, where: KeyPath) -> tuple[LibraryCommand, ...]:
    """The `[[library]]` array of tables; names and keys must be unique."""
    commands: list[LibraryCommand] = []
    names: set[str] = set()
    keys: dict[str, str] = {}
    for at, item in checker.tables(raw, where):
        table = checker.table(item, at, LIBRARY_KEYS)
        name = checker.text(table, at, "name", "", required=True, non_empty=True)
        if name in names:
            checker.report((*at, "name"), "is already the name of another command", name)
        names.add(name)
        key = checker.optional_text(table, at, "key")
        if key is not None:
            if key not in KEYS:
                checker.report((*at, "key"), 'must be one key from "1" to "9"', key)
            elif key in keys:
                checker.report((*at, "key"), f'already sends "{keys[key]}"', key)
            else:
                keys[key] = name
        commands.append(
            LibraryCommand(
                name=name,
                topic=checker.topic(table, at, is_filter=False, fill={}),
                payload=checker.text(table, at, "payload", ""),
                qos=checker.qos(table, at, 1),
                retain=checker.flag(table, at, "retain", False),
                key=key,
            )
        )
    return tuple(commands)
