"""Binary telemetry payloads: fields packed with a struct format, or a fixed base64 payload.

```toml
format = "binary"
struct = "<hHf"          # little-endian int16, uint16, float32: one item per field, in order
fields.temp_c10 = { kind = "walk", min = -400, max = 850, round = 0 }
fields.seq = { kind = "counter" }
fields.volts = 3.3
```

The format is Python's `struct` notation, limited to fixed-size numbers, booleans and byte
strings so that every payload has the same length. Values that do not fit an integer item
are clamped to its range when packed, so a generator never breaks the payload.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Callable, Sequence
from typing import Any

from iotsim_tui.words import counted

ITEM = re.compile(r"(\d*)([xbB?hHiIlLqQefds])")
BYTE_ORDERS = "<>!=@"
INTEGERS = "bBhHiIlLqQ"

Packer = Callable[[Sequence[Any]], bytes]


def struct_problem(layout: str, fields: int) -> str | None:
    """Why `layout` cannot pack `fields` values (None when it can)."""
    body = layout[1:] if layout[:1] in BYTE_ORDERS else layout
    if not body:
        return 'needs at least one item, as in "<hf"'
    if ITEM.sub("", body):
        return (
            "is not a struct format of fixed-size items "
            '(b B ? h H i I l L q Q e f d, Ns for N bytes, x for padding), as in "<hHf"'
        )
    try:
        struct.calcsize(layout)
    except struct.error as error:
        return f"is not a struct format: {error}"
    items = len(item_kinds(layout))
    if items != fields:
        packs = counted(items, "item")
        return f"packs {packs}, but the telemetry has {counted(fields, 'field')}"
    return None


def item_kinds(layout: str) -> list[str]:
    """Each packed item's code, in order ("3h" is three "h"; "4s" one "4s"; "x" none)."""
    body = layout[1:] if layout[:1] in BYTE_ORDERS else layout
    kinds: list[str] = []
    for count, code in ITEM.findall(body):
        if code == "x":
            continue
        if code == "s":
            kinds.append(f"{count or 1}s")
        else:
            kinds += [code] * int(count or 1)
    return kinds


def packer(layout: str) -> Packer:
    """A function packing one value per item, converting and clamping as the item needs."""
    packed = struct.Struct(layout)
    order = layout[0] if layout[:1] in BYTE_ORDERS else "@"
    converters = [_converter(kind, order) for kind in item_kinds(layout)]

    def pack(values: Sequence[Any]) -> bytes:
        return packed.pack(*(convert(v) for convert, v in zip(converters, values, strict=True)))

    return pack


def decode_base64(text: str) -> bytes | None:
    """The bytes `text` encodes, or None when it is not base64."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _converter(kind: str, order: str) -> Callable[[Any], Any]:
    if kind.endswith("s"):
        return lambda v: v if isinstance(v, bytes) else str(v).encode("utf-8")
    if kind == "?":
        return bool
    if kind in "efd":
        return lambda v: float(v) if isinstance(v, int | float) else 0.0
    bits = 8 * struct.calcsize(order + kind)
    span: int = 1 << bits
    low, high = (0, span - 1) if kind.isupper() else (-(span >> 1), (span >> 1) - 1)

    def integer(value: Any) -> int:
        number: int = round(value) if isinstance(value, int | float) else 0
        return min(high, max(low, number))

    return integer
