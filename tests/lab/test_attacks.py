"""The seven attacks against the real bundled broker: each works with its defence off and is
refused with it on (one run of profiles/labs/broker_hardening.toml, shared by the module),
the ACL the app writes, the defences in profiles and in the app's broker, the loopback guard.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from iotsim_tui.broker.acl import AccessControl
from iotsim_tui.broker.device_acl import device_acl
from iotsim_tui.broker.launch import BrokerLaunch
from iotsim_tui.broker.process import BundledBroker
from iotsim_tui.cli import main
from iotsim_tui.errors import ProfileError
from iotsim_tui.lab.attacker import Attacker, AttackTarget, ConnectRefused, TargetRefused
from iotsim_tui.lab.attacks import ATTACKS
from iotsim_tui.lab.steps import LabResult, LabRun
from iotsim_tui.ports import free_port
from iotsim_tui.profiles.load import load_network, parse_network
from iotsim_tui.profiles.model import Defences
from iotsim_tui.profiles.save import dumps_network
from tests.support.bundled import skip_without_broker

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "profiles" / "labs" / "broker_hardening.toml"


@pytest.fixture(scope="module")
def lab_result(tmp_path_factory: pytest.TempPathFactory) -> LabResult:
    """Every attack of the hardening lab, its defence off then on, run once for the module."""
    skip_without_broker()
    network = load_network(LAB)
    folder = tmp_path_factory.mktemp("hardening")
    return asyncio.run(LabRun(network, folder, lambda _line: None).run())


def _step(result: LabResult, attack: str, state: str) -> str:
    for step in result.steps:
        if step.text.startswith(f"{attack}, defence ") and f" {state}: " in step.text:
            return step.text
    raise AssertionError(f"no step of {attack} with its defence {state}: {result.steps}")


@pytest.mark.slow
@pytest.mark.parametrize("attack", [a.name for a in ATTACKS])
def test_each_attack_works_with_its_defence_off_and_is_refused_with_it_on(
    lab_result: LabResult, attack: str
) -> None:
    assert ": succeeded: " in _step(lab_result, attack, "off")
    assert ": refused: " in _step(lab_result, attack, "on")


@pytest.mark.slow
def test_the_hardening_lab_passes_and_says_why_each_attack_failed(lab_result: LabResult) -> None:
    failed = [(v.title, v.detail) for v in lab_result.verdicts if not v.passed]
    assert not failed
    assert len(lab_result.verdicts) == 15
    assert "CONNACK 0x87 not authorized" in _step(lab_result, "anonymous", "on")
    assert "SUBACK # 0x87 not authorized, $SYS/# 0x87" in _step(lab_result, "wildcard", "on")
    assert "takeover refused: CONNACK 0x85" in _step(lab_result, "takeover", "on")
    assert "retained write denied: PUBACK 0x87" in _step(lab_result, "retained", "on")
    assert "write denied: PUBACK 0x87" in _step(lab_result, "spoof_status", "on")
    assert "login slowed down" in _step(lab_result, "brute_force", "on")
    assert "rate limited" in _step(lab_result, "flood", "on")
    # What the open broker gave away, with counts.
    assert "client id(s)" in _step(lab_result, "wildcard", "off")
    assert "guessed the password in 10 attempt(s)" in _step(lab_result, "brute_force", "off")
    assert "reached the attacker" in _step(lab_result, "takeover", "off")


NETWORK = """
[network]
name = "WARD_7"

[network.broker]
host = "127.0.0.1"
username = "ward7"
password = "dragon"

[network.broker.defences]
password = true
acl = true
login_delay = true
rate_limit = true

[[devices]]
name = "Temperature_Sensor"
id = "TS1"
subscribe = [{ topic = "ward/{id}/cmd", qos = 1, on = "start" }, { topic = "High_Tempe" }]
will = { topic = "ward/{id}/status", payload = "offline" }

[[devices.telemetry]]
topic = "ward/{id}/temperature"

[[devices]]
name = "Heart_Rate_Monitor"
id = "HR1"
subscribe = [{ topic = "ward/{id}/cmd", qos = 1, on = "start" }]
"""


def test_the_acl_lets_each_device_use_only_its_own_topics() -> None:
    text = device_acl(parse_network(NETWORK, "ward.toml"))
    assert "pattern read ward/%c/cmd" in text
    assert "pattern write ward/%c/temperature" in text
    assert "pattern write ward/%c/status" in text
    assert text.count("pattern read ward/%c/cmd") == 1  # one rule serves both devices
    assert "# shared: these topics do not name a device" in text
    acl = AccessControl.parse(text, "ward.acl")
    ts1 = acl.client("TS1", "ward7")
    assert ts1.can_subscribe("ward/TS1/cmd")
    assert ts1.can_write("ward/TS1/temperature")
    assert not ts1.can_subscribe("ward/HR1/cmd")
    assert not ts1.can_write("ward/HR1/status")
    attacker = acl.client("attacker-x", None)
    assert not attacker.can_subscribe("#")
    assert not attacker.can_subscribe("$SYS/#")
    assert not attacker.can_write("ward/TS1/cmd")
    assert attacker.can_subscribe("High_Tempe")  # shared: it names no device


def test_defences_round_trip_through_a_profile() -> None:
    network = parse_network(NETWORK, "ward.toml")
    assert network.broker.defences == Defences(
        password=True, acl=True, login_delay=True, rate_limit=True
    )
    again = parse_network(dumps_network(network), "again.toml")
    assert again.broker.defences == network.broker.defences
    plain = replace(network, broker=replace(network.broker, defences=Defences()))
    assert "defences" not in dumps_network(plain)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            'password = "dragon"\n',
            "ward.toml:9: network.broker.defences.password = true: needs username and password",
        ),
        ("acl = true\n", "ward.toml:12: network.broker.defences.identity = true: needs TLS on"),
        ("rate_limit = true\n", "ward.toml:14: network.broker.defences.rate_limt"),
    ],
)
def test_a_defence_that_cannot_apply_is_told_with_its_line(change: str, problem: str) -> None:
    text = NETWORK
    if change.startswith("password"):
        text = text.replace('username = "ward7"\n', "")  # a password defence needs a login
        text = text.replace('password = "dragon"\n', "")
    elif change.startswith("acl"):
        text = text.replace("acl = true", "identity = true")  # needs TLS with a client cert
    else:
        text = text.replace("rate_limit = true", "rate_limt = true")
    with pytest.raises(ProfileError) as caught:
        parse_network(text, "ward.toml")
    assert problem in caught.value.message


def test_an_attack_step_names_a_known_attack() -> None:
    text = NETWORK + '[lab]\nsteps = [{ do = "attack", attack = "wildcards" }]\n'
    text += 'checks = [{ kind = "attack_refused", attack = "wildcard" }]\n'
    with pytest.raises(ProfileError) as caught:
        parse_network(text, "ward.toml")
    assert 'lab.steps[0].attack = "wildcards": did you mean "wildcard"?' in caught.value.message


def test_the_apps_broker_applies_the_profiles_defences(tmp_path: Path) -> None:
    """BrokerLaunch.from_network: the ACL, login slow-down and rate limit the profile asks for."""
    skip_without_broker()
    network = parse_network(NETWORK, "ward.toml")
    port = free_port("127.0.0.1")
    network = replace(network, broker=replace(network.broker, port=port))
    launch = BrokerLaunch.from_network(network, tmp_path)
    assert launch.acl is not None
    assert "pattern read ward/%c/cmd" in launch.acl
    assert ("max_publish_rate", 20.0) in launch.settings
    assert ("failed_login_delay", 1.0) in launch.settings
    assert not launch.allow_anonymous

    async def attack() -> tuple[str, dict[str, int | None]]:
        async with BundledBroker(launch) as broker:
            target = AttackTarget(broker)
            with pytest.raises(ConnectRefused) as anonymous:
                await Attacker(target, "anonymous").connect()
            async with Attacker(target, "x", username="ward7", password="dragon") as insider:
                codes = await insider.subscribe(["#", "ward/HR1/cmd"])
            return anonymous.value.reason, codes

    reason, codes = asyncio.run(attack())
    assert reason == "CONNACK 0x87 not authorized"
    assert codes == {"#": 0x87, "ward/HR1/cmd": 0x87}


def test_the_attacker_only_reaches_a_running_broker_of_its_own() -> None:
    broker = BundledBroker(BrokerLaunch(plain_port=0))  # never started
    with pytest.raises(TargetRefused, match="not running"):
        _ = AttackTarget(broker).address


def test_an_unknown_attack_exits_2_and_starts_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "attack", "sniff", str(LAB)]) == 2
    assert "no attack 'sniff': the attacks are anonymous, wildcard" in capsys.readouterr().err


def test_lab_attack_prints_what_stopped_the_attacker(capsys: pytest.CaptureFixture[str]) -> None:
    skip_without_broker()
    assert main(["lab", "attack", "1", str(LAB), "--defence", "on"]) == 0
    out = capsys.readouterr().out
    assert "Attack 1 · Anonymous access · defence password on" in out
    assert "Result: REFUSED: CONNACK 0x87 not authorized" in out
    assert "attacker-anonymous connected with no user name" in out
    assert "the attacker read 0 device messages" in out


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_a_broker_that_is_not_loopback_is_refused_without_a_network(tmp_path: Path) -> None:
    profile = tmp_path / "remote.toml"
    profile.write_text(LAB.read_text().replace('host = "127.0.0.1"', 'host = "192.0.2.10"'))
    command = [sys.executable, "-m", "iotsim_tui", "lab", "attack", "wildcard", str(profile)]
    try:
        result = subprocess.run(
            ["unshare", "-n", *command], capture_output=True, text=True, timeout=60, check=False
        )
    except PermissionError:
        pytest.skip("unshare is not allowed here")
    if "Operation not permitted" in result.stderr:
        pytest.skip("unshare -n is not allowed here")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "uses the broker at 192.0.2.10, which is not this machine's loopback" in result.stderr
    assert "attacks only run against a broker iotsim-tui starts itself" in result.stderr
