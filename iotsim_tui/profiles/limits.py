"""What a profile may be, checked before and after parsing, so no file can hang or sink us.

Python's TOML parser recurses once per nested array or inline table, and a dotted key of many
parts costs it memory that grows with the square of their number: a profile of under 1 KB
could end in a RecursionError, a 100 KB one could eat gigabytes. A FIFO or a device such as
/dev/zero would block or never end. So the file's type and size are checked before a byte is
read, the text's nesting and key parts before it is parsed, and the parsed keys and devices
after.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iotsim_tui.errors import ProfileError

MAX_PROFILE_BYTES = 16 * 1024 * 1024
"""16 MiB: 100,000 explicit devices of a few lines each fit."""
MAX_DEPTH = 32
"""Arrays and tables nested in one another (a real profile needs about six)."""
MAX_KEY_PARTS = 32
"""Parts of one dotted key or table header (`a.b.c` has three)."""
MAX_KEY_CHARS = 256
"""Characters of one key."""
MAX_DEVICES = 100_000
"""Explicit `[[devices]]`, the same bound as a template's count."""

_SEPARATORS = frozenset("\n=,[]{}")


def read_profile_text(path: Path) -> str:
    """The text of the profile at `path`, refusing what is not a file of a sane size.

    The file is opened without blocking (a FIFO with no writer would wait for ever) and its
    type and size are checked before it is read.

    Raises:
        ProfileError: no such file, a folder, not a regular file, too large, not UTF-8.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ProfileError(f"{path}: is a folder, not a profile") from None
    except OSError as error:
        raise ProfileError(f"{path}: cannot be read: {error.strerror}") from None
    try:
        mode = os.fstat(descriptor)
        if stat.S_ISDIR(mode.st_mode):
            raise ProfileError(f"{path}: is a folder, not a profile")
        if not stat.S_ISREG(mode.st_mode):
            raise ProfileError(f"{path}: is {_kind(mode.st_mode)}, not a profile file")
        if mode.st_size > MAX_PROFILE_BYTES:
            raise ProfileError(f"{path}: {_too_large(mode.st_size)}")
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            data = file.read(MAX_PROFILE_BYTES + 1)
    except OSError as error:
        raise ProfileError(f"{path}: cannot be read: {error.strerror}") from None
    finally:
        os.close(descriptor)
    if len(data) > MAX_PROFILE_BYTES:  # it grew while we looked
        raise ProfileError(f"{path}: {_too_large(len(data))}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProfileError(f"{path}: not UTF-8 text (byte {error.start})") from None


def check_text(text: str, path: str) -> None:
    """Refuse text nested too deep or with a dotted key of too many parts, before parsing.

    A small scanner follows TOML's strings and comments, so brackets and dots inside them do
    not count.

    Raises:
        ProfileError: naming the line and the limit.
    """
    if len(text) > MAX_PROFILE_BYTES:
        raise ProfileError(f"{path}: {_too_large(len(text.encode('utf-8')))}")
    depth = dots = 0
    line = 1
    index, end = 0, len(text)
    while index < end:
        char = text[index]
        if char == "\n":
            line += 1
        if char in "\"'":
            index, line = _skip_string(text, index, line)
            continue
        if char == "#":
            newline = text.find("\n", index)
            index = end if newline < 0 else newline
            continue
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ProfileError(
                    f"{path}:{line}: arrays and tables are nested more than {MAX_DEPTH} deep: "
                    "a profile is never nested so deep"
                )
        elif char in "]}":
            depth = max(0, depth - 1)
        if char in _SEPARATORS:
            dots = 0
        elif char == ".":
            dots += 1
            if dots >= MAX_KEY_PARTS:
                raise ProfileError(
                    f"{path}:{line}: a dotted key has more than {MAX_KEY_PARTS} parts: "
                    "a profile's keys are never so long"
                )
        index += 1


def check_parsed(raw: Mapping[str, Any], path: str) -> None:
    """Refuse parsed data whose keys are too long or with too many explicit devices.

    Raises:
        ProfileError: naming the key (or its start) and the limit.
    """
    devices = raw.get("devices")
    if isinstance(devices, list) and len(devices) > MAX_DEVICES:
        raise ProfileError(
            f"{path}: {len(devices):,} [[devices]]: a profile holds at most {MAX_DEVICES:,} "
            "(use [[templates]] with a count for many devices alike)"
        )
    _check_keys(raw, path, 0)


def _check_keys(value: object, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:  # the scanner saw to this; kept in case the text was not scanned
        raise ProfileError(f"{path}: nested more than {MAX_DEPTH} deep")
    if isinstance(value, dict):
        for key, item in value.items():
            if len(key) > MAX_KEY_CHARS:
                raise ProfileError(
                    f"{path}: the key {key[:40]!r}... is {len(key):,} characters long; "
                    f"a key is at most {MAX_KEY_CHARS}"
                )
            _check_keys(item, path, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_keys(item, path, depth + 1)


def _skip_string(text: str, index: int, line: int) -> tuple[int, int]:
    """The index after the string that starts at `index`, and the line it ends on."""
    quote = text[index]
    triple = text.startswith(quote * 3, index)
    if triple:
        close = text.find(quote * 3, index + 3)
        if close < 0:
            return len(text), line  # the parser reports the unclosed string
        while text.startswith(quote, close + 3):  # up to two quotes may end the content
            close += 1
        line += text.count("\n", index, close)
        return close + 3, line
    position = index + 1
    while position < len(text):
        char = text[position]
        if char == "\n":
            return position, line  # the parser reports the unclosed string
        if char == "\\" and quote == '"':
            position += 2
            continue
        if char == quote:
            return position + 1, line
        position += 1
    return position, line


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _too_large(size: int) -> str:
    return (
        f"{size:,} bytes is too large for a profile (at most {MAX_PROFILE_BYTES // 1024 // 1024} "
        "MiB; use [[templates]] for many devices alike)"
    )
