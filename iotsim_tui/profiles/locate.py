"""Line numbers of the keys in a TOML document, which `tomllib` does not report.

A small, forgiving scanner: it runs only on text `tomllib` has already accepted, follows
`[table]` and `[[array]]` headers (counting each array's tables), `key = value` lines with
dotted and quoted keys, inline tables and arrays (also across lines), and skips strings
and comments. Every key and array item gets the line where it starts; a path that is not
found falls back to the nearest enclosing one that is.
"""

from __future__ import annotations

import bisect
import re
import tomllib
from typing import TypeAlias

KeyPath: TypeAlias = tuple[str | int, ...]
"""A path into the parsed document: table keys and array indexes, e.g. ("devices", 2, "id")."""

_SPACE = re.compile(r"[ \t]*")
_SPACE_AND_COMMENTS = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]*")
_STRING = re.compile(
    r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*"{3,5}'  # multi-line basic: up to 2 quotes may end it
    r"|'''(?:[^']|'(?!''))*'{3,5}"  # multi-line literal
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|'[^'\n]*'"
)
_SCALAR = re.compile(r"[^,\]}\n#]*")


class LineIndex:
    """Where each key of one TOML document starts, by key path."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._line_starts = [0] + [match.end() for match in re.finditer("\n", text)]
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

    def _line(self) -> int:
        return bisect.bisect_right(self._line_starts, self._pos)

    def _peek(self) -> str:
        return self._text[self._pos : self._pos + 1]

    def _skip(self, pattern: re.Pattern[str]) -> str:
        match = pattern.match(self._text, self._pos)
        if match is None:
            return ""
        self._pos = match.end()
        return match.group()

    def _record(self, path: KeyPath, line: int) -> None:
        self._lines.setdefault(path, line)

    def _scan(self) -> None:
        table: KeyPath = ()
        while True:
            self._skip(_SPACE_AND_COMMENTS)
            if self._pos >= len(self._text):
                return
            start = self._pos
            line = self._line()
            if self._text.startswith("[[", self._pos):
                self._pos += 2
                keys = self._read_key()
                self._pos += 2
                parent = self._resolve(keys[:-1])
                array = (*parent, keys[-1])
                index = self._array_counts.get(array, 0)
                self._array_counts[array] = index + 1
                self._record(array, line)
                table = (*array, index)
                self._record(table, line)
            elif self._peek() == "[":
                self._pos += 1
                keys = self._read_key()
                self._pos += 1
                table = self._resolve(keys)
                self._record(table, line)
            else:
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
        line = self._line()
        path = table
        for key in self._read_key():
            path = (*path, key)
            self._record(path, line)
        self._skip(_SPACE)
        if self._peek() == "=":
            self._pos += 1
        self._skip(_SPACE)
        self._value(path)

    def _read_key(self) -> list[str]:
        """A dotted key, bare or quoted parts; stops before `=`, `]` or the end of the line."""
        keys: list[str] = []
        while True:
            self._skip(_SPACE)
            if self._peek() in ("'", '"'):
                quoted = self._skip(_STRING)
                keys.append(str(tomllib.loads(f"k = {quoted}")["k"]) if quoted else "")
            else:
                keys.append(self._skip(_BARE_KEY))
            self._skip(_SPACE)
            if self._peek() != ".":
                return keys
            self._pos += 1

    def _value(self, path: KeyPath) -> None:
        char = self._peek()
        if char in ("'", '"'):
            self._skip(_STRING)
        elif char == "[":
            self._array(path)
        elif char == "{":
            self._inline_table(path)
        else:
            self._skip(_SCALAR)

    def _array(self, path: KeyPath) -> None:
        self._pos += 1
        index = 0
        while self._pos < len(self._text):
            self._skip(_SPACE_AND_COMMENTS)
            if self._peek() == "]":
                self._pos += 1
                return
            start = self._pos
            self._record((*path, index), self._line())
            self._value((*path, index))
            self._skip(_SPACE_AND_COMMENTS)
            if self._peek() == ",":
                self._pos += 1
                index += 1
            self._ensure_progress(start)

    def _inline_table(self, path: KeyPath) -> None:
        self._pos += 1
        while self._pos < len(self._text):
            self._skip(_SPACE_AND_COMMENTS)
            if self._peek() == "}":
                self._pos += 1
                return
            start = self._pos
            self._key_value(path)
            self._skip(_SPACE_AND_COMMENTS)
            if self._peek() == ",":
                self._pos += 1
            self._ensure_progress(start)

    def _ensure_progress(self, start: int) -> None:
        # Text tomllib rejects never gets here; this only keeps odd input from looping.
        if self._pos == start:
            self._pos += 1
