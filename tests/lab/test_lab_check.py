"""`iotsim-tui lab check`: real runs against the bundled broker, the relay and the devices."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from iotsim_tui.cli import main

TLS_LAB = Path(__file__).parents[2] / "profiles" / "labs" / "tls_lab.toml"

PLAIN_LAB = """\
[network]
name = "PLAIN_LAB"

[network.broker]
host = "127.0.0.1"

[[devices]]
name = "Temperature_Sensor"
id = "TS1"
subscribe = [{ topic = "High_Tempe", qos = 1 }]

[[devices.telemetry]]
topic = "finance/{id}/temperature"
interval = 0.05
fields = { temperature = 21.5 }

[lab]
steps = [
    { do = "start" },
    { do = "send", topic = "High_Tempe", payload = "hello in clear" },
    { do = "wait", seconds = 0.3 },
    { do = "stop" },
]
checks = [
    { kind = "received", device = "TS1", topic = "High_Tempe", payload = "hello in clear" },
    { kind = "clear_on_wire", payload = "hello in clear" },
    { kind = "ledger" },
    { kind = "received", device = "TS1", topic = "High_Tempe", payload = "never sent" },
    { kind = "hidden_on_wire", payload = "hello in clear" },
    { kind = "clear_on_wire", payload = "never sent" },
    { kind = "tls", device = "TS1" },
    { kind = "verified", device = "TS1" },
    { kind = "refused", device = "TS1", reason = "hostname" },
]
"""


def children() -> set[int]:
    """The processes this test process started that are still alive (Linux /proc)."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        found.update(int(pid) for pid in (task / "children").read_text().split())
    return found


def write(tmp_path: Path, text: str, name: str = "lab.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_tls_lab_passes_from_a_clean_checkout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # certificates go to a temporary folder, never into ./certs
    junit = tmp_path / "result.xml"
    before = children()
    assert main(["lab", "check", str(TLS_LAB), "--junit", str(junit)]) == 0
    assert children() <= before  # both brokers it started are gone
    out = capsys.readouterr().out
    assert "the profile's port 1883 is 127.0.0.1:" in out
    assert "the profile's port 8883 is 127.0.0.1:" in out
    assert "step 5 restart: restarted: TS1 connected to 127.0.0.1:8883" in out
    assert "6 of 6 checks passed (NDE_FINANCE_NETWORK" in out
    assert list(tmp_path.iterdir()) == [junit]
    suite = ET.parse(junit).getroot()  # noqa: S314 (the file this test just wrote)
    assert suite.tag == "testsuite"
    assert (suite.get("tests"), suite.get("failures")) == ("6", "0")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [
        "first alert delivered on 1883",
        "first alert readable on the wire",
        "second alert delivered on 8883",
        "second alert unreadable on the wire",
        "TS1 verified the broker's certificate",
        "no message lost",
    ]
    assert all(case.find("failure") is None for case in cases)


def test_a_failing_check_exits_1_and_is_a_junit_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = write(tmp_path, PLAIN_LAB)
    junit = tmp_path / "result.xml"
    assert main(["lab", "check", str(profile), "--junit", str(junit), "--json"]) == 1
    captured = capsys.readouterr()
    assert "step 2 send: sent 'hello in clear' on High_Tempe (QoS 1); delivered to TS1" in (
        captured.err
    )
    document = json.loads(captured.out)
    assert document["passed"] is False
    assert list(document["ports"]) == ["1883"]
    assert document["ports"]["1883"] != 1883
    results = [(check["kind"], check["result"]) for check in document["checks"]]
    assert results == [
        ("received", "pass"),
        ("clear_on_wire", "pass"),
        ("ledger", "pass"),
        ("received", "fail"),
        ("hidden_on_wire", "fail"),
        ("clear_on_wire", "fail"),
        ("tls", "fail"),
        ("verified", "fail"),
        ("refused", "fail"),
    ]
    details = [check["detail"] for check in document["checks"]]
    assert details[4].startswith("the eavesdrop relay read it in clear (MQTT")
    assert details[6] == "TS1 has not connected over TLS"
    published = int(details[2].split()[0])
    assert published > 0, details[2]
    suite = ET.parse(junit).getroot()  # noqa: S314 (the file this test just wrote)
    assert (suite.get("tests"), suite.get("failures")) == ("9", "6")
    failed = [case for case in suite.findall("testcase") if case.find("failure") is not None]
    assert [case.get("classname") for case in failed] == [
        "PLAIN_LAB.received",
        "PLAIN_LAB.hidden_on_wire",
        "PLAIN_LAB.clear_on_wire",
        "PLAIN_LAB.tls",
        "PLAIN_LAB.verified",
        "PLAIN_LAB.refused",
    ]
    failure = failed[1].find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("the eavesdrop relay read it in clear")


def test_a_device_refused_for_a_certificate_of_another_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The broker's certificate names localhost and 127.0.0.1; the device dials 127.0.0.2.
    profile = write(
        tmp_path,
        """\
[network]
name = "WRONG_HOST"

[network.broker]
host = "127.0.0.2"

[[devices]]
name = "Temperature_Sensor"
id = "TS1"

[lab]
steps = [{ do = "certificates" }, { do = "tls" }, { do = "start" }]
checks = [
    { kind = "refused", device = "TS1", reason = "hostname" },
    { kind = "refused", device = "TS1", reason = "unknown_ca" },
    { kind = "tls", device = "TS1" },
]
""",
    )
    assert main(["lab", "check", str(profile)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[-4].startswith("PASS  TS1 refused: hostname")
    assert (
        "TS1: hostname mismatch: certificate is for localhost, 127.0.0.1, ::1, not 127.0.0.2"
        in (lines[-4])
    )
    assert lines[-3].startswith("FAIL  TS1 refused: unknown_ca")
    assert "TS1 failed otherwise: hostname mismatch" in lines[-3]
    assert lines[-2].startswith("FAIL  TS1 connected over TLS")
    assert lines[-1].startswith("1 of 3 checks passed (WRONG_HOST")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            PLAIN_LAB.replace('device = "TS1", reason', 'device = "TS7", reason'),
            'lab.toml:33: lab.checks[8].device = "TS7": is not a device of this network',
        ),
        (
            PLAIN_LAB.replace('{ do = "start" },', ""),
            'lab.toml:20: lab.steps[0].do = "send": cannot run before the network is started',
        ),
        (PLAIN_LAB.split("[lab]")[0], "lab.toml: has no [lab] checks to grade"),
        (
            re.sub(r"steps = \[.*?\]\n(?=checks)", "", PLAIN_LAB, flags=re.DOTALL),
            "lab.toml: has no [lab] steps",
        ),
    ],
)
def test_bad_input_exits_2_and_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    profile = write(tmp_path, text)
    assert main(["lab", "check", str(profile)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # not even the first line: nothing was started
    assert message in captured.err


def test_a_missing_profile_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "check", str(tmp_path / "nothing.toml")]) == 2
    assert "nothing.toml: no such file" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_a_broker_that_is_not_loopback_is_refused_without_a_network(tmp_path: Path) -> None:
    profile = write(tmp_path, PLAIN_LAB.replace('host = "127.0.0.1"', 'host = "192.0.2.10"'))
    command = ["unshare", "-n", sys.executable, "-m", "iotsim_tui", "lab", "check", str(profile)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except PermissionError:
        pytest.skip("unshare is not allowed here")
    if "Operation not permitted" in result.stderr:
        pytest.skip("unshare -n is not allowed here")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "uses the broker at 192.0.2.10, which is not this machine's loopback" in result.stderr


def test_a_junit_file_in_a_missing_folder_exits_2_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "no" / "result.xml"
    assert main(["lab", "check", str(TLS_LAB), "--junit", str(junit)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"the folder {junit.parent} does not exist" in captured.err


def test_tls_switched_on_while_stopped_applies_at_the_next_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = PLAIN_LAB.split("[lab]")[0] + (
        "[lab]\n"
        "steps = [\n"
        '    { do = "start" },\n'
        '    { do = "stop" },\n'
        '    { do = "certificates" },\n'
        '    { do = "tls" },\n'
        '    { do = "start", devices = ["TS1"] },\n'
        '    { do = "send", topic = "High_Tempe", payload = "over TLS" },\n'
        "]\n"
        "checks = [\n"
        '    { kind = "verified", device = "TS1" },\n'
        '    { kind = "tls", device = "TS1" },\n'
        '    { kind = "received", device = "TS1", topic = "High_Tempe", payload = "over TLS" },\n'
        '    { kind = "hidden_on_wire", payload = "over TLS" },\n'
        "]\n"
    )
    assert main(["lab", "check", str(write(tmp_path, lab))]) == 0
    out = capsys.readouterr().out
    assert (
        "step 5 start: TS1 connected to 127.0.0.1:8883 through the eavesdrop relay over TLS" in out
    )
    assert "4 of 4 checks passed" in out
