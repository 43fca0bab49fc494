"""Payloads read the way they were written: JSON, plain text, hex dump, base64; a JSON diff.

Each view is a list of lines, each line a list of (text, kind) pieces: the screen colours
them by kind ("key", "string", "number", "literal", "punct", "fold", "changed", "offset",
"plain"). Numeric fields (`numbers`) feed the charts.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

Piece = tuple[str, str]
Line = list[Piece]


class View(StrEnum):
    """How a payload is shown."""

    JSON = "json"
    TEXT = "text"
    HEX = "hex"
    BASE64 = "base64"
    DIFF = "diff"


VIEWS = tuple(View)

CONTROL = {c: "\ufffd" for c in (*range(9), *range(11, 32), 127) if c != 13}
"""Control characters (but tab and line ends) shown as "\ufffd": never sent to the terminal."""


def read_json(payload: bytes) -> Any | None:
    """The JSON value of `payload`, or None when it is not JSON (or is a bare `null`)."""
    start = payload.lstrip()[:1]
    if not start or start not in b'{["-0123456789tfn':
        return None
    try:
        return json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None


def is_text(payload: bytes) -> bool:
    """UTF-8 without control characters other than tab and line ends."""
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        return False
    return all(c >= " " or c in "\t\r\n" for c in text)


def natural_view(payload: bytes) -> View:
    """The view a payload is shown in first: JSON, text, or base64 for binary."""
    if isinstance(read_json(payload), dict | list):
        return View.JSON
    return View.TEXT if is_text(payload) else View.BASE64


def views_for(payload: bytes) -> tuple[View, ...]:
    """The views that make sense for `payload`, its natural one first (the view key's cycle)."""
    match natural_view(payload):
        case View.JSON:
            return (View.JSON, View.DIFF, View.TEXT, View.HEX, View.BASE64)
        case View.TEXT:
            return (View.TEXT, View.HEX, View.BASE64)
        case _:
            return (View.BASE64, View.HEX, View.TEXT)


def preview(payload: bytes, width: int) -> str:
    """One line of the payload, cut to `width` characters (binary as hex)."""
    if width <= 0:
        return ""
    if is_text(payload):
        text = " ".join(payload.decode().split())
    else:
        text = "0x" + payload[: width // 2].hex()
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def render(
    payload: bytes,
    view: View,
    *,
    width: int = 80,
    fold_depth: int | None = None,
    previous: bytes | None = None,
) -> list[Line]:
    """The lines of `payload` in `view`.

    `fold_depth`: JSON objects and arrays nested deeper are shown as one folded line.
    `previous`: for DIFF, the topic's message before this one.
    """
    match view:
        case View.JSON:
            value = read_json(payload)
            if value is None:
                return [[("not JSON: shown as text", "fold")], *text_lines(payload)]
            return json_lines(value, fold_depth=fold_depth)
        case View.HEX:
            return hex_lines(payload, width)
        case View.BASE64:
            return base64_lines(payload, width)
        case View.DIFF:
            return diff_lines(previous, payload, fold_depth=fold_depth)
        case _:
            return text_lines(payload)


def text_lines(payload: bytes) -> list[Line]:
    """The payload as text (bytes that are not UTF-8 replaced)."""
    text = payload.decode(errors="replace").translate(CONTROL)
    return [[(line, "plain")] for line in text.splitlines() or [""]]


def hex_lines(payload: bytes, width: int = 80) -> list[Line]:
    """16 bytes a line (8 when narrower than 76 columns): offset, hex bytes, printable ASCII."""
    per_line = 16 if width >= 76 else 8
    lines: list[Line] = []
    for offset in range(0, max(len(payload), 1), per_line):
        chunk = payload[offset : offset + per_line]
        hexes = "  ".join(chunk[i : i + 8].hex(" ") for i in (0, 8) if chunk[i : i + 8])
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(
            [
                (f"{offset:08x}  ", "offset"),
                (f"{hexes:<{3 * per_line + 1}}  ", "plain"),
                (ascii_, "string"),
            ]
        )
    return lines


def base64_lines(payload: bytes, width: int) -> list[Line]:
    """The payload in base64, cut into lines of `width` characters (at least 16)."""
    text = base64.b64encode(payload).decode()
    width = max(width, 16)
    return [[(text[i : i + width], "plain")] for i in range(0, max(len(text), 1), width)]


def json_lines(
    value: Any,
    *,
    fold_depth: int | None = None,
    changed: dict[str, str] | None = None,
) -> list[Line]:
    """`value` pretty-printed (2 spaces), objects and arrays deeper than `fold_depth` folded.

    `changed` maps field paths ("a.b[0]") to a mark ("~" changed, "+" new): those lines carry it.
    """
    lines: list[Line] = []
    _emit(value, "", 0, None, True, fold_depth, changed or {}, lines)
    return lines


def json_height(value: Any, fold_depth: int | None) -> int:
    """How many lines `json_lines(value, fold_depth=...)` gives."""
    return len(json_lines(value, fold_depth=fold_depth))


def fitting_depth(value: Any, height: int) -> int | None:
    """The deepest folding that fits `height` lines (None: nothing folded); at least 1."""
    if json_height(value, None) <= height:
        return None
    depth = 1
    while depth < 32 and json_height(value, depth + 1) <= height:
        depth += 1
    return depth


def _emit(
    value: Any,
    path: str,
    depth: int,
    key: str | None,
    last: bool,
    fold_depth: int | None,
    changed: dict[str, str],
    lines: list[Line],
) -> None:
    indent = "  " * depth
    head: Line = [(indent, "plain")]
    if key is not None:
        head += [(json.dumps(key, ensure_ascii=False), "key"), (": ", "punct")]
    comma: Line = [] if last else [(",", "punct")]
    mark: Line = [(f"  {changed[path]}", "changed")] if path in changed else []
    if isinstance(value, dict | list) and value:
        open_, close = ("{", "}") if isinstance(value, dict) else ("[", "]")
        if fold_depth is not None and depth >= fold_depth:
            size = f"{len(value)} {'keys' if isinstance(value, dict) else 'items'}"
            inner = any(p.startswith(path) for p in changed) if path else bool(changed)
            lines.append(
                [*head, (f"{open_}… {size}{close}", "fold"), *comma]
                + (mark or ([("  ~", "changed")] if inner else []))
            )
            return
        lines.append([*head, (open_, "punct"), *mark])
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        for index, (name, item) in enumerate(items):
            if isinstance(value, dict):
                child_path = f"{path}.{name}" if path else str(name)
                child_key: str | None = str(name)
            else:
                child_path = f"{path}[{name}]"
                child_key = None
            _emit(
                item,
                child_path,
                depth + 1,
                child_key,
                index == len(items) - 1,
                fold_depth,
                changed,
                lines,
            )
        lines.append([(indent, "plain"), (close, "punct"), *comma])
        return
    lines.append([*head, _scalar(value), *comma, *mark])


def _scalar(value: Any) -> Piece:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False), "string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value), "literal"
    if isinstance(value, int | float):
        return json.dumps(value), "number"
    return ("{}" if isinstance(value, dict) else "[]"), "punct"


def flat(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar in `value` with its path ("a.b[0]")."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from flat(item, f"{path}.{name}" if path else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from flat(item, f"{path}[{index}]")
    else:
        yield path, value


def changes(before: Any, after: Any) -> dict[str, str]:
    """Fields of `after` that differ from `before`: "~" changed, "+" new; "-" gone."""
    old = dict(flat(before))
    new = dict(flat(after))
    marks = {
        path: "+" if path not in old else "~" for path, v in new.items() if old.get(path, ...) != v
    }
    marks.update({path: "-" for path in old if path not in new})
    return marks


def diff_lines(previous: bytes | None, payload: bytes, *, fold_depth: int | None) -> list[Line]:
    """The payload as JSON with its fields that changed since `previous` marked."""
    after = read_json(payload)
    if after is None:
        return [[("no diff: this payload is not JSON", "fold")], *text_lines(payload)]
    if previous is None:
        return [
            [("no earlier message on this topic", "fold")],
            *json_lines(after, fold_depth=fold_depth),
        ]
    before = read_json(previous)
    if before is None:
        return [
            [("the previous payload was not JSON", "fold")],
            *json_lines(after, fold_depth=fold_depth),
        ]
    marks = changes(before, after)
    gone = sorted(p for p, m in marks.items() if m == "-")
    summary = f"{len(marks) - len(gone)} changed or new" + (
        f", gone: {', '.join(gone)}" if gone else ""
    )
    return [
        [(summary if marks else "no field changed", "fold")],
        *json_lines(after, fold_depth=fold_depth, changed=marks),
    ]


def numbers(payload: bytes) -> dict[str, float]:
    """The numeric fields of a JSON payload by path, or {"value": x} for a plain number."""
    value = read_json(payload)
    if value is None:
        try:
            number = float(payload.decode().strip())
        except (UnicodeDecodeError, ValueError):
            return {}
        return {"value": number} if math.isfinite(number) else {}
    if isinstance(value, bool):
        return {}
    if isinstance(value, int | float):
        return {"value": float(value)} if math.isfinite(value) else {}
    return {
        path: float(v)
        for path, v in flat(value)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def series(payloads: list[bytes]) -> dict[str, list[float]]:
    """Each numeric field over the payloads (oldest first), in the order fields first appear."""
    fields: dict[str, list[float]] = {}
    for payload in payloads:
        for path, number in numbers(payload).items():
            fields.setdefault(path, []).append(number)
    return fields


def decode_base64(text: str) -> bytes | None:
    """The bytes of a base64 text, or None when it is not base64."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
