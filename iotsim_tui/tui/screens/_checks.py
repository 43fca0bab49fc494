"""Checks of single form values, in plain words. Each returns an error message or None.

These are the quick checks run as the user types, by the same rules as the profile loader.
The dialogs then run the loader's own validation over the finished model
(`profile_problems`), so a dialog never accepts what would not open again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from iotsim_tui.errors import ProfileError, ProfileProblem, ProfileProblems
from iotsim_tui.profiles.load import parse_network
from iotsim_tui.profiles.model import BrokerSettings, Device, MQTTVersion, Network
from iotsim_tui.profiles.save import dumps_network
from iotsim_tui.protocol.topics import TopicError, validate_topic_filter, validate_topic_name
from iotsim_tui.tui.editing import device_as_template

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_BAD_ID_CHARS = re.compile(r"[+#\x00-\x1f\x7f]")
Check = Callable[[str], str | None]
"""Checks one text field: an error message in plain words, or None when the text is fine."""

_FILE_NAME_HINT = "letters, digits, '_', '-' or '.' (up to 64, starting with a letter or digit)"


def check_network_name(text: str) -> str | None:
    """A network name: required, and usable as a file name (it names the profile file)."""
    name = text.strip()
    if not name:
        return "a network needs a name"
    if not NAME_PATTERN.fullmatch(name):
        return f"use {_FILE_NAME_HINT}: the name is also the profile's file name"
    return None


def check_required(what: str) -> Check:
    """A check that the text is not blank."""

    def check(text: str) -> str | None:
        return None if text.strip() else f"{what} is required"

    return check


def check_device_id(text: str) -> str | None:
    """A device id: required, and fit to go into topics; it becomes the MQTT client id."""
    device_id = text.strip()
    if not device_id:
        return "a device needs an id (it becomes its MQTT client id)"
    if _BAD_ID_CHARS.search(device_id):
        return "an id must not contain '+', '#' or control characters (ids go into topics)"
    return None


def check_host(text: str) -> str | None:
    """A broker host name or address."""
    host = text.strip()
    if not host:
        return "the broker host is required, e.g. 127.0.0.1"
    if any(char.isspace() for char in host) or "/" in host:
        return "a host is a name or an address, with no spaces or '/'"
    return None


def int_in(what: str, low: int, high: int, *, blank_ok: bool = False) -> Check:
    """A check that the text is a whole number from `low` to `high`."""

    def check(text: str) -> str | None:
        if not text.strip():
            return None if blank_ok else f"{what} is required"
        try:
            number = int(text.strip())
        except ValueError:
            return f"{what} must be a whole number from {low} to {high}"
        if not low <= number <= high:
            return f"{what} must be from {low} to {high}"
        return None

    return check


def check_port(text: str) -> str | None:
    """A TCP port; blank means the default for plain or TLS."""
    return int_in("the port", 1, 65535, blank_ok=True)(text)


def check_interval(text: str) -> str | None:
    """Seconds between two telemetry messages: a number above zero."""
    try:
        seconds = float(text.strip())
    except ValueError:
        return "the interval is a number of seconds, e.g. 5 or 0.5"
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        return "the interval must be more than 0 seconds"
    return None


def check_topic_filter(text: str) -> str | None:
    """A subscription's topic filter (wildcards allowed)."""
    try:
        validate_topic_filter(text)
    except TopicError as error:
        return _sentence(error)
    return None


def check_topic_name(text: str, *, device_id: str = "id", device_name: str = "name") -> str | None:
    """A topic to publish to; `{id}` and `{name}` stand for the device's."""
    try:
        validate_topic_name(text.replace("{id}", device_id).replace("{name}", device_name))
    except TopicError as error:
        return _sentence(error)
    return None


def _sentence(error: TopicError) -> str:
    text = str(error)
    return text[:1].lower() + text[1:]


def profile_problems(network: Network, under: str | None = None) -> list[ProfileProblem]:
    """What the profile loader would refuse in `network` once saved (only under the key
    `under`, such as `devices[2]`, when given).

    The network goes through the same TOML text and checks as a saved profile, so a dialog
    accepts exactly what opens again later.
    """
    try:
        parse_network(dumps_network(network), "profile")
    except ProfileProblems as error:
        return [
            problem
            for problem in error.problems
            if under is None
            or problem.key == under
            or problem.key.startswith((f"{under}.", f"{under}["))
        ]
    except ProfileError as error:
        return [ProfileProblem("profile", under or "network", error.message)]
    return []


def device_problems(
    device: Device, under: str, *, template: bool, protocol: MQTTVersion = MQTTVersion.V5
) -> list[ProfileProblem]:
    """`profile_problems` of a network of `device` alone, under the key `devices[0]` + `under`,
    on a broker of `protocol` (MQTT 5 by default, which allows what 3.1.1 does and more).

    With `template`, `device` is a device template's pattern (`{n}` may stand in its topics),
    checked as a template; its problems are still keyed `devices[0]...`.
    """
    broker = BrokerSettings(protocol=protocol)
    if not template:
        return profile_problems(
            Network("check", broker=broker, devices=(device,)), f"devices[0]{under}"
        )
    pattern = device_as_template(device)
    checked = Network("check", broker=broker, templates=(pattern,))
    problems = profile_problems(checked, f"templates[0]{under}")
    for problem in problems:
        problem.key = "devices[0]" + problem.key.removeprefix("templates[0]")
    return problems


def place_problems(
    problems: list[ProfileProblem],
    where: str,
    field_of_key: Mapping[str, str],
    errors: dict[str, str],
) -> None:
    """Put each problem under the key `where` beside its form field, the others on the form.

    `field_of_key` maps a key below `where` (`name`, `id`, ...) to the field that shows it;
    a key inside a table (`state.rate`) goes to the table's field, named; a field keeps its
    first problem.
    """
    for problem in problems:
        key = problem.key.removeprefix(f"{where}.")
        table, _, inner = key.partition(".")
        if key in field_of_key:
            errors.setdefault(field_of_key[key], problem.problem)
        elif inner and table in field_of_key:
            errors.setdefault(field_of_key[table], f"{inner} {problem.problem}")
        else:
            errors.setdefault("form", problem_text(problem, key=key))


def problem_text(problem: ProfileProblem, *, key: str | None = None) -> str:
    """A loader problem for a form: `key = value: what is wrong`, without the file."""
    shown = problem.key if key is None else key
    if problem.value is None:
        return f"{shown}: {problem.problem}" if shown else problem.problem
    value = "…" if problem.key.endswith("password") else repr(problem.value)
    return f"{shown} = {value}: {problem.problem}" if shown else f"{value}: {problem.problem}"
