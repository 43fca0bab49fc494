"""Just enough YAML to write Kubernetes manifests, without a YAML library.

Mappings, lists, strings, integers and booleans. Strings are written as JSON strings (which
YAML reads as double-quoted scalars), except text of several lines, written as a literal block
(`|`) so that a profile in a ConfigMap reads as it does in its file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

Value = str | int | bool | None | Mapping[str, "Value"] | Sequence["Value"]
INDENT = "  "


def dump_documents(documents: Sequence[Mapping[str, Value]]) -> str:
    """Several documents, separated by `---`."""
    return "".join("---\n" + dump(document) for document in documents)


def dump(value: Mapping[str, Value]) -> str:
    """One document: a mapping at the top."""
    return "".join(line + "\n" for line in _mapping(value, 0))


def _scalar(value: Value, depth: int) -> str | list[str]:
    """A scalar on the key's line, or the lines of a literal block after it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if "\n" in value.rstrip("\n") and _block_safe(value):
            pad = INDENT * (depth + 1)
            text = value if value.endswith("\n") else value + "\n"
            return [pad + line if line else "" for line in text.rstrip("\n").split("\n")]
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"not a scalar: {value!r}")


def _block_safe(text: str) -> bool:
    """Text a plain `|` block keeps exactly: no leading blank or space on its first line, one
    final newline at most, and no character YAML forbids in a block."""
    return (
        not text.startswith((" ", "\n", "\t"))
        and not text.endswith("\n\n")
        and all(c in "\n\t" or (c.isprintable() and c != "\ufeff") for c in text)
        and not any(line.rstrip() != line for line in text.split("\n"))
    )


def _mapping(value: Mapping[str, Value], depth: int) -> list[str]:
    lines: list[str] = []
    pad = INDENT * depth
    for key, item in value.items():
        name = key if _plain_key(key) else json.dumps(key)
        lines += _entry(f"{pad}{name}:", item, depth)
    return lines


def _entry(head: str, item: Value, depth: int) -> list[str]:
    if isinstance(item, Mapping):
        return [head + " {}"] if not item else [head, *_mapping(item, depth + 1)]
    if isinstance(item, (list, tuple)):
        return [head + " []"] if not item else [head, *_sequence(item, depth + 1)]
    scalar = _scalar(item, depth)
    if isinstance(scalar, list):
        keep = "" if isinstance(item, str) and item.endswith("\n") else "-"
        return [f"{head} |{keep}", *scalar]
    return [f"{head} {scalar}"]


def _sequence(value: Sequence[Value], depth: int) -> list[str]:
    lines: list[str] = []
    pad = INDENT * (depth - 1) + "- "
    for item in value:
        if isinstance(item, Mapping) and item:
            inner = _mapping(item, depth)
            lines.append(pad + inner[0].lstrip())
            lines += inner[1:]
        else:
            entry = _entry(pad.rstrip(), item, depth)
            lines += entry
    return lines


def _plain_key(key: str) -> bool:
    return bool(key) and all(c.isalnum() or c in "-_./" for c in key) and not key[0].isdigit()
