"""Counts agree with their nouns, through one helper, everywhere a count is shown."""

from __future__ import annotations

import ast
from pathlib import Path

from iotsim_tui.engine.console import ClientsFeed
from iotsim_tui.engine.views import Summary
from iotsim_tui.headless.output import final_report
from iotsim_tui.tui.widgets.clients_table import feed_note
from iotsim_tui.tui.widgets.marks import payload_preview
from iotsim_tui.wiretap.pcap import PcapSummary
from iotsim_tui.words import agreeing, counted

PACKAGE = Path(__file__).resolve().parents[2] / "iotsim_tui"


def test_one_is_singular_and_every_other_count_plural() -> None:
    assert counted(1, "message") == "1 message"
    assert counted(0, "message") == "0 messages"
    assert counted(2, "message") == "2 messages"
    assert counted(1000, "device") == "1,000 devices"
    assert counted(2, "entry", "entries") == "2 entries"
    assert agreeing(1, "was", "were") == "was"
    assert agreeing(3, "was", "were") == "were"


def test_the_broker_console_says_1_message() -> None:
    feed = ClientsFeed(
        clients=(), connected=1, subscriptions=1, messages_received=1, messages_sent=1, updated=0
    )
    note = feed_note(feed)
    assert "1 client · 1 subscription" in note
    assert "1 message published to it, 1 message delivered by it" in note
    assert "messages" not in note


def test_the_headless_summary_says_1_message() -> None:
    lines = final_report(Summary(devices=1, connected=1, messages_out=1, messages_in=2), "N", 1.0)
    assert lines[0].startswith("N: 1 device ran for 1.0 s; 1 was connected")
    assert lines[1].startswith("messages: 1 published (1.0/s")


def test_a_one_byte_payload_and_a_one_packet_capture() -> None:
    assert payload_preview(b"\xff", 1).endswith("(1 byte)")
    written = PcapSummary(Path("x.pcap"), packets=1, connections=1, truncated=False)
    assert str(written) == "1 packet of 1 connection"


def _words(node: ast.expr) -> set[str]:
    parts = node.values if isinstance(node, ast.JoinedStr) else [node]
    text = " ".join(
        p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str)
    )
    return set(text.split()) | ({"s"} if text == "s" else set())


def _hand_made_plurals(path: Path) -> list[str]:
    """`"1 device" if n == 1 else f"{n} devices"` and the like: a noun and its plural picked
    by comparing a count with 1 by hand, instead of through `counted`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.IfExp) or not isinstance(node.test, ast.Compare):
            continue
        compared = [node.test.left, *node.test.comparators]
        by_one = any(isinstance(c, ast.Constant) and c.value == 1 for c in compared)
        if not by_one or not isinstance(node.test.ops[0], ast.Eq | ast.NotEq):
            continue
        one, other = _words(node.body), _words(node.orelse)
        if "s" in one | other or any(word + "s" in one | other for word in one | other):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return found


def test_no_module_spells_a_plural_by_hand() -> None:
    found = [
        place
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "words.py"
        for place in _hand_made_plurals(path)
    ]
    assert not found, f"use iotsim_tui.words.counted / agreeing: {found}"
