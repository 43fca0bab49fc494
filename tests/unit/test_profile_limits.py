"""What a profile may be: bounded size, nesting, keys and devices, refused before parsing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iotsim_tui.errors import ProfileError
from iotsim_tui.profiles.limits import MAX_DEVICES, MAX_PROFILE_BYTES, check_parsed
from iotsim_tui.profiles.load import load_network, parse_network

ROOT = Path(__file__).resolve().parents[2]
HEAD = '[network]\nname = "N"\n'


def refused(text: str) -> str:
    started = time.monotonic()
    with pytest.raises(ProfileError) as caught:
        parse_network(text, "p.toml")
    assert time.monotonic() - started < 2.0
    return caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEAD + "x = " + "[" * 400 + "]" * 400 + "\n", "p.toml:3: arrays and tables are nested"),
        (HEAD + "x = " + "{a=" * 400 + "1" + "}" * 400 + "\n", "p.toml:3: arrays and tables"),
        (HEAD + "[" + ".".join(["a"] * 400) + "]\n", "p.toml:3: a dotted key has more than 32"),
        (HEAD + ".".join(["k"] * 50_000) + " = 1\n", "p.toml:3: a dotted key has more than 32"),
        (HEAD + f'"{"k" * 300}" = 1\n', "the key 'kkkk"),
    ],
    ids=["arrays", "inline-tables", "table-header", "dotted-key", "long-key"],
)
def test_a_profile_beyond_the_bounds_is_refused_quickly(text: str, expected: str) -> None:
    assert expected in refused(text)


def test_brackets_and_dots_inside_strings_and_comments_do_not_count() -> None:
    deep = "[" * 40 + "." * 40 + "{" * 40
    text = HEAD.replace('"N"', f'"N {deep}"') + f"# {deep}\ndescription = '''{deep}\n'''\n"
    assert parse_network(text, "p.toml").name.startswith("N [[[")


def test_explicit_devices_are_bounded_like_templates() -> None:
    with pytest.raises(ProfileError, match=r"100,001 \[\[devices\]\]: a profile holds at most"):
        check_parsed({"devices": [{}] * (MAX_DEVICES + 1)}, "p.toml")


def test_files_that_are_not_profiles_are_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="is a character device, not a profile file"):
        load_network(Path("/dev/zero"))
    big = tmp_path / "big.toml"
    with big.open("wb") as file:
        file.truncate(MAX_PROFILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(ProfileError, match="too large for a profile"):
        load_network(big)


@pytest.mark.timeout(30)
def test_validate_on_a_fifo_answers_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "iotsim_tui", "validate", str(fifo)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 1
    assert f"{fifo}: is a FIFO (named pipe), not a profile file" in done.stdout + done.stderr
