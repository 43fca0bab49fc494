"""Line numbers of the keys in a TOML document, which `tomllib` does not report.

A small, forgiving scanner: it runs only on text `tomllib` has already accepted, follows
`[table]` and `[[array]]` headers (counting each array's tables), `key = value` lines with
dotted and quoted keys, inline tables and arrays (also across lines), and skips strings
and comments. Every key and array item gets the line where it starts; a path that is not
found falls back to the nearest enclosing one that is.
"""

from __future__ import annotations

import tomllib
from typing import TypeAlias

KeyPath: TypeAlias = tuple[str | int, ...]
"""A path into the parsed document: table keys and array indexes, e.g. ("devices", 2, "id")."""

_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_SPACE = " \t"


class LineIndex:
    """Where each key of one TOML document starts, by key path."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._line = 1
        self._lines: dict[KeyPath, int] = {}
        self._array_counts: dict[KeyPath, int] = {}
        self._scan()

    def line_of(self, path: KeyPath) -> int | None:
        """The line of `path`, else of its nearest enclosing key or table, else None."""
        for end in range(len(path), 0, -1):
            line = self._lines.get(path[:end])
            if line is not None:
                return line
        return None

    # -- the scanner --------------------------------------------------------------------

    def _peek(self, offset: int = 0) -> str:
        index = self._pos + offset
        return self._text[index] if index < len(self._text) else ""

    def _advance(self, count: int = 1) -> None:
        for _ in range(count):
            if self._peek() == "\n":
                self._line += 1
            self._pos += 1

    def _skip_space(self, *, newlines: bool) -> None:
        """Skip blanks, and with `newlines` also line breaks and comments."""
        while self._pos < len(self._text):
            char = self._peek()
            if char in _SPACE or (newlines and char in "\r\n"):
                self._advance()
            elif newlines and char == "#":
                while self._pos < len(self._text) and self._peek() != "\n":
                    self._advance()
            else:
                return

    def _record(self, path: KeyPath, line: int) -> None:
        self._lines.setdefault(path, line)

    def _scan(self) -> None:
        table: KeyPath = ()
        while True:
            self._skip_space(newlines=True)
            if self._pos >= len(self._text):
                return
            line = self._line
            if self._text.startswith("[[", self._pos):
                self._advance(2)
                keys = self._read_key()
                self._advance(2)
                parent = self._resolve(keys[:-1])
                array = (*parent, keys[-1])
                index = self._array_counts.get(array, 0)
                self._array_counts[array] = index + 1
                self._record(array, line)
                table = (*array, index)
                self._record(table, line)
            elif self._peek() == "[":
                self._advance()
                keys = self._read_key()
                self._advance()
                table = self._resolve(keys)
                self._record(table, line)
            else:
                start = self._pos
                self._key_value(table)
                self._ensure_progress(start)

    def _resolve(self, keys: list[str]) -> KeyPath:
        """The path of a header's dotted key, with the current index of each array of tables."""
        path: KeyPath = ()
        for key in keys:
            path = (*path, key)
            count = self._array_counts.get(path)
            if count:
                path = (*path, count - 1)
        return path

    def _key_value(self, table: KeyPath) -> None:
        line = self._line
        keys = self._read_key()
        path = table
        for key in keys:
            path = (*path, key)
            self._record(path, line)
        self._skip_space(newlines=False)
        if self._peek() == "=":
            self._advance()
        self._skip_space(newlines=False)
        self._value(path)

    def _read_key(self) -> list[str]:
        """A dotted key, bare or quoted parts; stops before `=`, `]` or the end of the line."""
        keys: list[str] = []
        while True:
            self._skip_space(newlines=False)
            char = self._peek()
            if char in "\"'":
                start = self._pos
                self._skip_string()
                quoted = self._text[start : self._pos]
                keys.append(str(tomllib.loads(f"k = {quoted}")["k"]))
            else:
                start = self._pos
                while self._peek() in _BARE and self._peek():
                    self._advance()
                keys.append(self._text[start : self._pos])
            self._skip_space(newlines=False)
            if self._peek() != ".":
                return keys
            self._advance()

    def _skip_string(self) -> None:
        quote = self._peek()
        if self._text.startswith(quote * 3, self._pos):
            self._advance(3)
            while self._pos < len(self._text):
                if quote == '"' and self._peek() == "\\":
                    self._advance(2)
                elif self._text.startswith(quote * 3, self._pos):
                    # Up to two more quotes may close the string as part of its content.
                    self._advance(3)
                    while self._peek() == quote:
                        self._advance()
                    return
                else:
                    self._advance()
            return
        self._advance()
        while self._pos < len(self._text) and self._peek() not in (quote, "\n"):
            self._advance(2 if quote == '"' and self._peek() == "\\" else 1)
        self._advance()

    def _value(self, path: KeyPath) -> None:
        char = self._peek()
        if char in "\"'":
            self._skip_string()
        elif char == "[":
            self._array(path)
        elif char == "{":
            self._inline_table(path)
        else:
            while self._pos < len(self._text) and self._peek() not in ",]}\n#":
                self._advance()

    def _array(self, path: KeyPath) -> None:
        self._advance()
        index = 0
        while self._pos < len(self._text):
            self._skip_space(newlines=True)
            if self._peek() == "]":
                self._advance()
                return
            start = self._pos
            self._record((*path, index), self._line)
            self._value((*path, index))
            self._skip_space(newlines=True)
            if self._peek() == ",":
                self._advance()
                index += 1
            self._ensure_progress(start)

    def _inline_table(self, path: KeyPath) -> None:
        self._advance()
        while self._pos < len(self._text):
            self._skip_space(newlines=True)
            if self._peek() == "}":
                self._advance()
                return
            start = self._pos
            self._key_value(path)
            self._skip_space(newlines=True)
            if self._peek() == ",":
                self._advance()
            self._ensure_progress(start)

    def _ensure_progress(self, start: int) -> None:
        # Text tomllib rejects never gets here; this only keeps odd input from looping.
        if self._pos == start:
            self._advance()
