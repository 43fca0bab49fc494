"""The user documentation as the doc tests read it: pages, fenced blocks, tables, commands.

Pages are README.md, certs/README.md and every docs/*.md, so a new page is read without being
named here. A fenced block's language says what it is: `sh` (or `bash`, `shell`) holds
commands to run, `console` holds `$ command` lines followed by their output, `toml` a profile
or broker config, and `text` anything that is neither (a synopsis, a diagram, an error).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", ROOT / "certs" / "README.md", *(ROOT / "docs").glob("*.md")])
SHELL = ("sh", "bash", "shell")
_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    page: Path
    line: int
    """The line of its opening fence, counted from 1."""
    language: str
    text: str

    @property
    def where(self) -> str:
        """`docs/profiles.md:15`, for test ids and messages."""
        return f"{self.page.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class Command:
    """One shell command as a page shows it, with the output shown under it (console)."""

    where: str
    text: str
    output: tuple[str, ...] = ()


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page, in order."""
    text = page.read_text(encoding="utf-8")
    return [
        Block(page, text.count("\n", 0, match.start()) + 1, match.group(1), match.group(2))
        for match in _FENCE.finditer(text)
    ]


def all_blocks(*languages: str) -> list[Block]:
    """The blocks of every page in one of `languages` (all blocks without any)."""
    found = [block for page in PAGES for block in blocks(page)]
    return [block for block in found if not languages or block.language in languages]


def commands_of(block: Block) -> list[Command]:
    """A shell block's commands: continuation lines joined, comment lines left out; in a
    console block, the `$ ` lines and the output lines under each."""
    found: list[Command] = []
    pending = ""
    for number, line in enumerate(block.text.splitlines(), start=block.line + 1):
        if block.language == "console" and not line.startswith("$ ") and not pending:
            if found and line.strip():
                last = found[-1]
                found[-1] = Command(last.where, last.text, (*last.output, line))
            continue
        line = line.removeprefix("$ ") if not pending else line
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        where = f"{block.page.relative_to(ROOT)}:{number}"
        found.append(Command(where, " ".join((pending + line).split())))
        pending = ""
    return found


def table_rows(page: Path, heading: str) -> list[list[str]]:
    """The body rows of the first table under `heading` (a `## ...` line), as cells."""
    lines = page.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading)
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
        elif rows:
            break
    return [row for row in rows[1:] if not set("".join(row)) <= set("-:| ")]


def code_spans(cell: str) -> list[str]:
    """The `code` parts of a table cell."""
    return _CODE.findall(cell)
