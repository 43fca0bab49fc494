"""The bundled profiles load, validate from the command line, and survive a save."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from iotsim_tui.profiles.expand import devices_of
from iotsim_tui.profiles.load import load_network, parse_network
from iotsim_tui.profiles.model import SubscribeOn
from iotsim_tui.profiles.save import dumps_network

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted((ROOT / "profiles").glob("*.toml"))


def test_the_three_profiles_are_bundled() -> None:
    names = {path.name for path in BUNDLED}
    assert {"health_care.toml", "nde_finance_lab.toml", "fleet_1000.toml"} <= names


@pytest.mark.parametrize("path", BUNDLED, ids=lambda path: path.name)
def test_round_trip_gives_an_equal_network(path: Path) -> None:
    network = load_network(path)
    text = dumps_network(network)
    assert parse_network(text, "saved.toml") == network
    assert dumps_network(parse_network(text, "saved.toml")) == text


def test_lab_network_matches_the_lab() -> None:
    network = load_network(ROOT / "profiles" / "nde_finance_lab.toml")
    assert network.name == "NDE_FINANCE_NETWORK"
    assert network.description
    (device,) = network.devices
    assert (device.name, device.id) == ("Temperature_Sensor", "TS1")
    assert device.description
    (subscription,) = device.subscribe
    assert (subscription.topic, subscription.qos, subscription.on) == (
        "High_Tempe",
        1,
        SubscribeOn.START,
    )
    assert device.telemetry
    tls = network.broker.tls
    assert not tls.enabled
    assert tls.ca == "certs/ca.crt"
    assert network.broker.effective_port == 1883


def test_health_care_devices_each_have_telemetry_and_a_command() -> None:
    network = load_network(ROOT / "profiles" / "health_care.toml")
    devices = devices_of(network)
    assert len(devices) >= 5
    for device in devices:
        assert device.telemetry, device.id
        assert device.commands, device.id
    kinds = {
        spec.kind
        for device in devices
        for telemetry in device.telemetry
        for spec in telemetry.fields.values()
        if hasattr(spec, "kind")
    }
    assert len(kinds) >= 8
    assert any(device.will for device in devices)
    assert any(command.response for device in devices for command in device.commands)
    assert any(command.telemetry for device in devices for command in device.commands)


def test_fleet_has_a_thousand_devices_with_unique_ids() -> None:
    network = load_network(ROOT / "profiles" / "fleet_1000.toml")
    devices = devices_of(network)
    assert len(devices) == 1000
    assert len({device.id for device in devices}) == 1000
    assert all(0 < telemetry.interval <= 10 for d in devices for telemetry in d.telemetry)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda path: path.name)
def test_every_bundled_profile_uses_the_bundled_broker_on_loopback(path: Path) -> None:
    broker = load_network(path).broker
    assert broker.bundled
    assert broker.host == "127.0.0.1"


def test_validate_command_passes_on_the_bundled_profiles() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "iotsim_tui", "validate", *map(str, BUNDLED)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(BUNDLED)
    assert "ok  " in lines[0]
    assert any(line.endswith("FLEET_1000, 1,000 devices") for line in lines)


def test_outside_the_repository_the_default_network_comes_from_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iotsim_tui.cli import DEFAULT_PROFILE, profiles_to_open
    from iotsim_tui.tui.app import make_app

    monkeypatch.chdir(ROOT)
    assert profiles_to_open([]) == ([DEFAULT_PROFILE], [])
    assert profiles_to_open([Path("x.toml")]) == ([Path("x.toml")], [])

    monkeypatch.chdir(tmp_path)
    profiles, new = profiles_to_open([])
    assert profiles == []
    (shipped,) = new
    assert shipped.read_bytes() == (ROOT / DEFAULT_PROFILE).read_bytes()
    app = make_app(profiles, new=new, start_broker=False, log_file=tmp_path / "log")
    (opened,) = app.session.networks
    assert opened.network.name == "HEALTH_CARE"
    assert opened.path is None, "saving must ask where, never write into the package"
    assert not opened.dirty
    assert app.problems == []
