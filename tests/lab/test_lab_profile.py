"""The [lab] table of a profile: every problem named by file, line and key; saved as read."""

from __future__ import annotations

from pathlib import Path

import pytest

from iotsim_tui.errors import ProfileProblems
from iotsim_tui.profiles.lab_model import CheckKind, StepAction
from iotsim_tui.profiles.load import load_network, parse_network
from iotsim_tui.profiles.save import dumps_network, save_network

HEAD = """\
[network]
name = "LAB"

[[devices]]
name = "Temperature_Sensor"
id = "TS1"
subscribe = [{ topic = "High_Tempe", qos = 1 }]

[[templates]]
name = "Sensor {n}"
id = "S{n}"
count = 3
"""


def problems(lab: str) -> list[str]:
    with pytest.raises(ProfileProblems) as raised:
        parse_network(HEAD + lab, "lab.toml")
    return [problem.message for problem in raised.value.problems]


def test_a_lab_loads_with_its_steps_and_checks() -> None:
    network = parse_network(
        HEAD
        + """
[lab]
steps = [{ do = "start", devices = ["TS1", "S2"] }, { do = "wait", seconds = 0.5 }]
checks = [
    { kind = "received", device = "TS1", topic = "High_Tempe", payload = "Alert" },
    { kind = "refused", device = "S3", reason = "hostname", name = "S3 refused" },
]
""",
        "lab.toml",
    )
    assert [step.do for step in network.lab.steps] == [StepAction.START, StepAction.WAIT]
    assert network.lab.steps[0].devices == ("TS1", "S2")
    assert network.lab.steps[1].seconds == 0.5
    assert [check.kind for check in network.lab.checks] == [CheckKind.RECEIVED, CheckKind.REFUSED]
    assert network.lab.checks[1].name == "S3 refused"


def test_an_unknown_check_kind_is_named_with_its_line() -> None:
    found = problems('\n[lab]\nsteps = [{ do = "start" }]\nchecks = [{ kind = "recieved" }]\n')
    assert len(found) == 1
    assert found[0].startswith('lab.toml:16: lab.checks[0].kind = "recieved": must be "received"')


def test_a_check_naming_a_missing_device_is_refused_with_a_hint() -> None:
    found = problems(
        "\n[lab]\nchecks = [\n"
        '    { kind = "tls", device = "TS1" },\n'
        '    { kind = "tls", device = "TS2" },\n'
        "]\n"
    )
    assert found == [
        'lab.toml:17: lab.checks[1].device = "TS2": is not a device of this network; '
        'did you mean "S2"?'
    ]


def test_keys_that_do_not_belong_to_a_kind_or_are_missing_are_named() -> None:
    found = problems(
        '\n[lab]\nchecks = [{ kind = "received", device = "TS1", payload = "x", qos = 1 }]\n'
    )
    assert 'lab.toml:15: lab.checks[0].qos: is not a key of kind = "received"' in found[0]
    assert found[1] == 'lab.toml:15: lab.checks[0].topic: is required by kind = "received"'


def test_a_check_looks_for_a_payload_that_is_not_empty() -> None:
    (found,) = problems('\n[lab]\nchecks = [{ kind = "clear_on_wire", payload = " " }]\n')
    assert found == 'lab.toml:15: lab.checks[0].payload = " ": must not be empty'


def test_an_unknown_refusal_reason_lists_the_known_ones() -> None:
    (found,) = problems('\n[lab]\nchecks = [{ kind = "refused", device = "TS1", reason = "x" }]\n')
    assert "must be one of: unknown_ca, expired, hostname" in found


@pytest.mark.parametrize(
    ("steps", "line", "words"),
    [
        ('{ do = "send", topic = "t", payload = "p" }', 16, "put a start step before it"),
        ('{ do = "restart" }', 16, "put a start step before it"),
        ('{ do = "tls" }', 16, 'needs certificates: put { do = "certificates" } before it'),
        ('{ do = "start" },\n    { do = "start" }', 17, "already started here"),
        ('{ do = "wait", seconds = 600 }', 16, "at most 60"),
        ('{ do = "start", devices = ["TS9"] }', 16, "is not a device of this network"),
        ('{ do = "dance" }', 16, 'must be "start", "stop", "wait"'),
    ],
)
def test_an_impossible_step_is_named_with_its_line(steps: str, line: int, words: str) -> None:
    found = problems(f"\n[lab]\nsteps = [\n    {steps},\n]\n")
    assert len(found) == 1, found
    assert found[0].startswith(f"lab.toml:{line}: lab.steps[")
    assert words in found[0]


def test_steps_that_follow_each_other_are_possible() -> None:
    network = parse_network(
        HEAD
        + """
[lab]
steps = [
    { do = "start" },
    { do = "certificates" },
    { do = "tls" },
    { do = "restart" },
    { do = "stop" },
    { do = "tls", enabled = false },
    { do = "start", devices = ["TS1"] },
]
""",
        "lab.toml",
    )
    assert network.lab.steps[5].enabled is False


def test_saving_keeps_the_steps_and_checks(tmp_path: Path) -> None:
    bundled = Path(__file__).parents[2] / "profiles" / "labs" / "tls_lab.toml"
    network = load_network(bundled)
    assert len(network.lab.steps) == 7
    assert len(network.lab.checks) == 6
    saved = tmp_path / "saved.toml"
    save_network(network, saved)
    assert load_network(saved) == network
    text = saved.read_text()
    assert "[lab]" in text
    assert '{ do = "send", topic = "High_Tempe", payload = "Alert for High Temperature" }' in text
    assert dumps_network(load_network(saved)) == text


def test_validate_counts_the_steps_and_checks(capsys: pytest.CaptureFixture[str]) -> None:
    from iotsim_tui.cli import main

    bundled = Path(__file__).parents[2] / "profiles" / "labs" / "tls_lab.toml"
    assert main(["validate", str(bundled)]) == 0
    assert capsys.readouterr().out.endswith(
        "NDE_FINANCE_NETWORK, 1 device, a lab of 7 steps and 6 checks\n"
    )


def test_long_form_tables_are_the_same_lab_and_save_short() -> None:
    long_form = parse_network(
        HEAD
        + """
[[lab.steps]]
do = "start"

[[lab.checks]]
kind = "tls"
device = "TS1"

[[lab.checks]]
kind = "ledger"
""",
        "lab.toml",
    )
    short = parse_network(
        HEAD
        + '\n[lab]\nsteps = [{ do = "start" }]\n'
        + 'checks = [{ kind = "tls", device = "TS1" }, { kind = "ledger" }]\n',
        "lab.toml",
    )
    assert long_form == short
    assert 'checks = [{ kind = "tls", device = "TS1" }, { kind = "ledger" }]' in dumps_network(
        long_form
    )


def test_a_problem_in_a_long_form_check_has_its_own_line() -> None:
    found = problems(
        '\n[[lab.checks]]\nkind = "tls"\n\n[[lab.checks]]\nkind = "tls"\ndevice = "X"\n'
    )
    assert found == [
        'lab.toml:14: lab.checks[0].device: is required by kind = "tls"',
        'lab.toml:19: lab.checks[1].device = "X": is not a device of this network; '
        "add it under [[devices]] first",
    ]
