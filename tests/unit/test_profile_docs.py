"""The TOML examples in docs/profiles.md load, so the documentation cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iotsim_tui.profiles.load import parse_network

DOC = Path(__file__).resolve().parents[2] / "docs" / "profiles.md"
EXAMPLES = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_the_doc_has_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda text: text.splitlines()[0])
def test_every_example_loads(example: str) -> None:
    # Snippets that show one part of a profile get a network table to stand in.
    text = example if "[network]" in example else '[network]\nname = "DOC"\n' + example
    assert parse_network(text, "docs/profiles.md").name
