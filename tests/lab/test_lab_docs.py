"""docs/labs.md: its examples load, and it names every kind of check, step and reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iotsim_tui.profiles.lab_model import REFUSAL_REASONS, CheckKind, StepAction
from iotsim_tui.profiles.load import parse_network

DOC = Path(__file__).resolve().parents[2] / "docs" / "labs.md"
TEXT = DOC.read_text(encoding="utf-8")
EXAMPLES = re.findall(r"```toml\n(.*?)```", TEXT, re.DOTALL)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda text: text.splitlines()[0])
def test_every_example_loads(example: str) -> None:
    assert parse_network(example, "docs/labs.md").lab.checks


def test_every_kind_step_and_reason_has_a_row() -> None:
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", TEXT, re.MULTILINE))
    names = {kind.value for kind in CheckKind} | {action.value for action in StepAction}
    assert names | set(REFUSAL_REASONS) <= rows
