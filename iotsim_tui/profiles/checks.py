"""Checking one value of a parsed profile at a time, collecting every problem found.

A `Checker` reads values out of the tables `tomllib` produced. Each read either returns a
value of the right type and range or records a `ProfileProblem` (file, dotted key, line,
the bad value and what is allowed) and returns a default, so that one pass over a profile
reports all of its problems at once.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from iotsim_tui.errors import ProfileProblem
from iotsim_tui.profiles.locate import KeyPath, LineIndex
from iotsim_tui.protocol.topics import TopicError, validate_topic_filter, validate_topic_name

QOS_RULE = "must be 0, 1 or 2"
BOOL_RULE = "must be true or false"
STRING_RULE = "must be a string"
SCALAR_RULE = "must be a string, a number or true/false"
REQUIRED = "is required"
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

_E = TypeVar("_E", bound=StrEnum)
_MISSING: Any = object()


def dotted(path: KeyPath) -> str:
    """A key path as users write it: `devices[2].subscribe[0].qos`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            bare = part and re.fullmatch(r"[A-Za-z0-9_-]+", part)
            shown = part if bare else json.dumps(part, ensure_ascii=False)
            text += f".{shown}" if text else shown
    return text


def is_number(value: object) -> bool:
    """True for TOML integers and floats (a boolean is not a number)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_integer(value: object) -> bool:
    """True for TOML integers (a boolean is not an integer)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_scalar(value: object) -> bool:
    """True for the plain values a state or a constant may hold."""
    return isinstance(value, str | bool) or is_number(value)


def quoted_list(names: Collection[str]) -> str:
    """`"a", "b" or "c"`."""
    shown = [json.dumps(name) for name in names]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


class Checker:
    """Reads values from one parsed profile and collects what is wrong with them."""

    def __init__(self, file: str, text: str | None = None) -> None:
        """`text` is the profile's TOML, to find the line of each problem; None: no lines."""
        self.file = file
        self._text = text
        self._lines: LineIndex | None = None
        self.problems: list[ProfileProblem] = []
        self._not_tables: set[KeyPath] = set()

    def report(self, where: KeyPath, problem: str, value: object = None) -> None:
        """Record one problem at `where` (the bad value is shown unless it is None)."""
        line = self._line_of(where)
        self.problems.append(
            ProfileProblem(self.file, dotted(where), problem, line=line, value=value)
        )

    def _line_of(self, where: KeyPath) -> int | None:
        if self._text is None:
            return None
        if self._lines is None:
            # Valid profiles, the usual case, never pay for the scan.
            self._lines = LineIndex(self._text)
        return self._lines.line_of(where)

    def table(self, raw: object, where: KeyPath, allowed: Collection[str] | None) -> dict[str, Any]:
        """`raw` as a table whose keys are all `allowed` (None: any key); {} when it is not one."""
        if not isinstance(raw, dict):
            self.report(where, "must be a table", raw)
            self._not_tables.add(where)
            return {}
        if allowed is not None:
            for key in raw:
                if key not in allowed:
                    self.unknown_key((*where, key), key, allowed)
        return raw

    def tables(self, raw: object, where: KeyPath) -> list[tuple[KeyPath, object]]:
        """The items of an array of tables with their paths; [] when `raw` is not an array."""
        if not isinstance(raw, list):
            header = ".".join(part for part in where if isinstance(part, str))
            self.report(where, f"must be an array of tables ([[{header}]])", raw)
            return []
        return [((*where, index), item) for index, item in enumerate(raw)]

    def unknown_key(self, where: KeyPath, key: str, allowed: Collection[str]) -> None:
        """Refuse a key that is not allowed, suggesting the closest allowed one."""
        close = difflib.get_close_matches(key, list(allowed), n=1)
        if close:
            self.report(where, f'unknown key; did you mean "{close[0]}"?')
        else:
            self.report(where, f"unknown key; allowed here: {', '.join(allowed)}")

    def missing(self, tbl: Mapping[str, Any], where: KeyPath, key: str) -> bool:
        """Report a required key that is absent (unless its table was already refused)."""
        if key in tbl:
            return False
        if where not in self._not_tables:
            self.report((*where, key), REQUIRED)
        return True

    def _get(self, tbl: Mapping[str, Any], where: KeyPath, key: str, required: bool) -> Any:
        if key in tbl:
            return tbl[key]
        if required:
            self.missing(tbl, where, key)
        return _MISSING

    def text(
        self,
        tbl: Mapping[str, Any],
        where: KeyPath,
        key: str,
        default: str,
        *,
        required: bool = False,
        non_empty: bool = False,
        secret: bool = False,
    ) -> str:
        """A string; `secret` keeps the value out of the message."""
        value = self._get(tbl, where, key, required)
        if value is _MISSING:
            return default
        if not isinstance(value, str):
            self.report((*where, key), STRING_RULE, None if secret else value)
            return default
        if non_empty and not value.strip():
            self.report((*where, key), "must not be empty", None if secret else value)
        return value

    def optional_text(
        self, tbl: Mapping[str, Any], where: KeyPath, key: str, *, secret: bool = False
    ) -> str | None:
        """A non-empty string, or None when the key is absent."""
        if key not in tbl:
            return None
        value = self.text(tbl, where, key, "", non_empty=True, secret=secret)
        return value or None

    def flag(self, tbl: Mapping[str, Any], where: KeyPath, key: str, default: bool) -> bool:
        """A boolean."""
        value = self._get(tbl, where, key, False)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            self.report((*where, key), BOOL_RULE, value)
            return default
        return value

    def integer(
        self,
        tbl: Mapping[str, Any],
        where: KeyPath,
        key: str,
        default: int,
        low: int,
        high: int | None,
        rule: str | None = None,
    ) -> int:
        """An integer from `low` to `high` (inclusive; None: no upper bound)."""
        value = self._get(tbl, where, key, False)
        if value is _MISSING:
            return default
        if is_integer(value) and value >= low and (high is None or value <= high):
            return int(value)
        if rule is None:
            rule = (
                f"must be an integer of at least {low}"
                if high is None
                else f"must be an integer from {low} to {high}"
            )
        self.report((*where, key), rule, value)
        return default

    def qos(self, tbl: Mapping[str, Any], where: KeyPath, default: int) -> int:
        """A QoS level."""
        return self.integer(tbl, where, "qos", default, 0, 2, QOS_RULE)

    def positive(
        self, tbl: Mapping[str, Any], where: KeyPath, key: str, default: float, rule: str
    ) -> float:
        """A number greater than 0, as a float."""
        value = self._get(tbl, where, key, False)
        if value is _MISSING:
            return default
        if is_number(value) and 0 < value < math.inf:
            return float(value)
        self.report((*where, key), rule, value)
        return default

    def choice(
        self, tbl: Mapping[str, Any], where: KeyPath, key: str, kind: type[_E], default: _E
    ) -> _E:
        """One of the values of a string enumeration."""
        value = self._get(tbl, where, key, False)
        if value is _MISSING:
            return default
        try:
            return kind(value)
        except ValueError:
            self.report((*where, key), f"must be {quoted_list([m.value for m in kind])}", value)
            return default

    def topic(
        self,
        tbl: Mapping[str, Any],
        where: KeyPath,
        *,
        is_filter: bool,
        fill: Mapping[str, str],
    ) -> str:
        """A required topic name or filter; `fill` gives the placeholders it may use.

        The topic is checked by the MQTT rules after its placeholders are filled in, and the
        unfilled text is returned (the engine fills it in per device).
        """
        value = self.text(tbl, where, "topic", "", required=True)
        if not isinstance(tbl.get("topic"), str):
            return value
        filled = self.fill_placeholders(value, (*where, "topic"), fill)
        if filled is None:
            return value
        try:
            if is_filter:
                validate_topic_filter(filled)
            else:
                validate_topic_name(filled)
        except TopicError as error:
            problem = str(error)
            if filled != value:
                problem += f' (it becomes "{filled}")'
            self.report((*where, "topic"), problem, value)
        return value

    def fill_placeholders(self, text: str, where: KeyPath, fill: Mapping[str, str]) -> str | None:
        """`text` with its `{name}` placeholders filled in, or None after an unknown one."""
        unknown = [name for name in PLACEHOLDER.findall(text) if name not in fill]
        if unknown:
            usable = ", ".join(f"{{{name}}}" for name in fill) or "none"
            self.report(where, f"unknown placeholder {{{unknown[0]}}}; usable here: {usable}", text)
            return None
        return PLACEHOLDER.sub(lambda match: fill[match.group(1)], text)
