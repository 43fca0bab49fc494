"""Reading network profiles: TOML text -> a checked `Network`.

Every problem in a profile is reported at once, each with the file, the dotted key, the
line, the bad value and what is allowed:

    profiles/lab.toml:14: devices[2].subscribe[0].qos = 3: must be 0, 1 or 2
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from iotsim_tui.errors import ProfileError, ProfileProblem, ProfileProblems
from iotsim_tui.profiles.checks import Checker
from iotsim_tui.profiles.document import network_document
from iotsim_tui.profiles.limits import check_parsed, check_text, read_profile_text
from iotsim_tui.profiles.model import Network
from iotsim_tui.profiles.validate import build_network

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$|\s*\(at end of document\)$")


def load_network(path: Path) -> Network:
    """Read and check the profile at `path` (relative paths resolve against the working dir).

    Raises:
        ProfileError: the file cannot be read, is not a regular file, is beyond what a
            profile may be (profiles/limits.py) or is not valid TOML.
        ProfileProblems: the TOML is valid but some values are not; lists all of them.
    """
    text = read_profile_text(path)
    return parse_network(text, str(path))


def parse_network(text: str, path: str) -> Network:
    """Check the profile `text`; `path` names it in messages.

    Raises:
        ProfileError: `text` is not valid TOML.
        ProfileProblems: some values are not valid; lists all of them, in line order.
    """
    check_text(text, path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(_syntax_message(str(error), path)) from None
    except RecursionError:  # check_text bounds the nesting; this is a last guard
        raise ProfileError(f"{path}: nested too deep to read") from None
    check_parsed(raw, path)
    checker = Checker(path, text)
    network = build_network(raw, checker)
    if checker.problems:
        problems = sorted(checker.problems, key=lambda p: p.line if p.line is not None else 0)
        raise ProfileProblems(problems)
    return network


def _syntax_message(message: str, path: str) -> str:
    """`tomllib`'s "Invalid value (at line 3, column 7)" as "path:3: not valid TOML: ..."."""
    match = _TOML_POSITION.search(message)
    if match is None:
        return f"{path}: not valid TOML: {message}"
    what = message[: match.start()]
    what = what[:1].lower() + what[1:]
    if match.group(1) is None:
        return f"{path}: not valid TOML: {what} at the end of the file"
    return f"{path}:{match.group(1)}: not valid TOML: {what} (column {match.group(2)})"


def check_network(network: Network) -> list[ProfileProblem]:
    """The problems of a network built in code (by the app's forms), by the profile's rules.

    Each problem names the dotted key (`devices[2].subscribe[0].qos`) and, in place of a
    file, the network's name; there are no line numbers. [] when the network is valid.
    """
    checker = Checker(network.name or "network")
    build_network(network_document(network), checker)
    return checker.problems
