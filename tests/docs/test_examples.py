"""The documentation's examples hold: every TOML example loads, every fenced block says what
it is, and measured figures are quoted only in docs/performance.md (which the benchmarks
write), so no page keeps a copy that goes stale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iotsim_tui.broker.config import build_config, load_config_file
from iotsim_tui.profiles.load import parse_network
from tests.docs.markdown import PAGES, ROOT, SHELL, Block, all_blocks

LANGUAGES = {*SHELL, "console", "toml", "text", "python", "json", "nginx", "yaml", "dockerfile"}
"""Languages a block may name; only sh blocks run, toml blocks load, the rest are shown."""
"""What a fenced block may be; a shell block runs in test_commands.py."""

FIGURE = re.compile(
    r"""(?ix)
      ~?\d[\d,]*(?:\.\d+)?\s?(?:ms|µs|us|ns)\b                                  # a latency
    | \d[\d,]*(?:\.\d+)?\s?(?:msg|messages|packets|connections)/s\b             # a rate
    | \d[\d,]*\s+(?:\w+\s+)?(?:messages|packets|msg|connections)\s+(?:a|per)\s+second
    | \b\d+(?:\.\d+)?x\s+(?:faster|slower|the|as)\b                             # a ratio
    | \d[\d,]*(?:\.\d+)?\s?(?:KB|MB|KiB|MiB)\s+(?:each|per|a)\b                 # memory per thing
    | \d+(?:\.\d+)?\s?%\s+of\s+a\s+(?:core|CPU)                                 # CPU share
    """
)
"""What a measured figure looks like: a latency, a rate, a ratio, memory or CPU per thing."""

NOT_FIGURES = {
    ("profiles.md", "0 new connections per second"): "a setting's allowed range (> 0)",
    ("scale-out.md", "1,667 messages a second"): "arithmetic: 16,667 devices / 10 s",
    ("scale-out.md", "~20 KB a device plus 150 MB"): "the memory the manifest asks for per device",
    ("broker.md", "16 MiB each"): "what the scrypt parameters ask for (n = 16384, r = 8)",
    ("broker.md", "2 ms per turn"): "a limit the broker sets itself, not a measurement",
    ("broker.md", "waited under 50 ms"): "what a test asserts, not a measurement",
}
"""(page, text) -> why text that looks like a figure is not a measured one."""

TOML = all_blocks("toml")


@pytest.mark.parametrize("block", TOML, ids=lambda block: block.where)
def test_every_toml_example_loads(block: Block, tmp_path: Path) -> None:
    if re.search(r"^\[broker\]", block.text, re.MULTILINE):
        config = tmp_path / "broker.toml"
        config.write_text(block.text)
        assert build_config(load_config_file(config), {})
        return
    # A snippet that shows one part of a profile gets a network table to stand in.
    text = block.text if "[network]" in block.text else '[network]\nname = "DOC"\n' + block.text
    assert parse_network(text, block.where).name


def test_the_pages_have_toml_examples() -> None:
    pages = {block.page.name for block in TOML}
    assert {"README.md", "profiles.md", "broker.md", "eavesdrop.md"} <= pages
    assert len(TOML) >= 6


def test_every_fenced_block_says_what_it_is() -> None:
    unnamed = [f"{b.where}: ```{b.language}" for b in all_blocks() if b.language not in LANGUAGES]
    assert not unnamed, (
        "give each block a language: sh (commands, run by the tests), console, toml, "
        f"text, python or json: {unnamed}"
    )


def _figures(text: str) -> list[str]:
    return [match.group(0) for match in FIGURE.finditer(text)]


def test_measured_figures_appear_only_in_performance_md() -> None:
    found = []
    for page in PAGES:
        if page.name == "performance.md":
            continue
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
            for figure in _figures(line):
                if not any(page.name == p and text in line for p, text in NOT_FIGURES):
                    found.append(f"{page.relative_to(ROOT)}:{number}: {figure!r}")
    assert not found, (
        "figures belong in docs/performance.md (written by benchmarks/): link to it instead, "
        f"or say in NOT_FIGURES why this is no measured figure: {found}"
    )


def test_the_figure_check_knows_a_figure_when_it_sees_one() -> None:
    assert _figures("the relay adds about 0.1 ms (direct ~45 µs)") == ["0.1 ms", "~45 µs"]
    assert _figures("500,104 msg/s, 80,000 packets a second") == [
        "500,104 msg/s",
        "80,000 packets a second",
    ]
    assert _figures("2.1x faster, 17 KB each, 26% of a core") == [
        "2.1x faster",
        "17 KB each",
        "26% of a core",
    ]
    assert _figures("port 1883, 1,000 devices, 16 MiB and 100,000 chunks, every 5 s") == []
    assert (ROOT / "docs" / "performance.md").read_text(encoding="utf-8").count("<!-- bench:") >= 3


def test_each_exemption_is_still_on_its_page() -> None:
    texts = {page.name: page.read_text(encoding="utf-8") for page in PAGES}
    for page, text in NOT_FIGURES:
        assert text in texts[page], f"NOT_FIGURES: {page} no longer says {text!r}: remove it"
