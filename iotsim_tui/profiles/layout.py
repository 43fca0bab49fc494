"""The layout of a written profile: which tables get a `[header]` and which fit on one line.

tomli-w formats the values (strings, numbers, keys); this module only decides the shape,
the way people write profiles by hand: sections as `[table]` and `[[array]]` headers,
generators and other small tables as one-line `{ ... }` tables, short arrays on one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import tomli_w

MAX_LINE = 100
INDENT = "    "
_PLAIN_STRING = re.compile(r'[^\x00-\x08\x0a-\x1f\x7f"\\]*')


class Inline(dict[str, Any]):
    """A table written on one line as `key = { ... }` when that line fits in `MAX_LINE`."""


def render(document: Mapping[str, Any]) -> str:
    """The TOML text of `document`."""
    lines: list[str] = []
    _table(lines, (), document, in_array=False)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(
    lines: list[str], name: tuple[str, ...], table: Mapping[str, Any], *, in_array: bool
) -> None:
    plain: list[str] = []
    sections: list[tuple[str, Any]] = []
    for key, value in table.items():
        line = _line(key, value)
        if line is None:
            sections.append((key, value))
        else:
            plain.append(line)
    header = ".".join(_key(part) for part in name)
    if in_array:
        lines += ["", f"[[{header}]]"]
    elif name and (plain or not sections):
        lines += ["", f"[{header}]"]
    lines += plain
    for key, value in sections:
        if isinstance(value, Mapping):
            _table(lines, (*name, key), value, in_array=False)
        else:
            for item in value:
                _table(lines, (*name, key), item, in_array=True)


def _line(key: str, value: object) -> str | None:
    """`key = value` on one line, or None when the value gets its own section."""
    if isinstance(value, Inline):
        line = f"{_key(key)} = {_value(value)}"
        return line if len(line) <= MAX_LINE else None
    if isinstance(value, Mapping):
        return None
    if (
        isinstance(value, list)
        and value
        and all(isinstance(item, Mapping) and not isinstance(item, Inline) for item in value)
    ):
        return None
    return f"{_key(key)} = {_value(value)}"


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and _PLAIN_STRING.fullmatch(value):
        return f'"{value}"'
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        one_line = "[" + ", ".join(_value(item) for item in value) + "]"
        if len(one_line) > MAX_LINE - len("subscribe = ") and all(
            isinstance(item, Mapping) for item in value
        ):
            return "[\n" + "".join(f"{INDENT}{_value(item)},\n" for item in value) + "]"
        return one_line
    return tomli_w.dumps({"v": value})[len("v = ") : -1]


@lru_cache(maxsize=1024)
def _key(key: str) -> str:
    return tomli_w.dumps({key: 0})[: -len(" = 0\n")]
