"""Saving profiles: short TOML, atomic replacement, and never over a broken file."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from iotsim_tui.errors import ProfileError, ProfileProblems
from iotsim_tui.profiles.load import check_network, load_network, parse_network
from iotsim_tui.profiles.model import (
    BrokerSettings,
    Command,
    Device,
    DeviceTemplate,
    GeneratorKind,
    MQTTVersion,
    Network,
    Response,
    SubscribeOn,
    Subscription,
    Telemetry,
    TelemetryAction,
    TelemetryFormat,
    TLSSettings,
    ValueSpec,
    Will,
)
from iotsim_tui.profiles.save import dumps_network, save_network

ROOT = Path(__file__).resolve().parents[2]
LAB = Network(
    name="NDE_FINANCE_NETWORK",
    description="Finance floor",
    devices=(
        Device(
            name="Temperature_Sensor",
            id="TS1",
            subscribe=(Subscription("High_Tempe", qos=1),),
        ),
    ),
)


def test_defaults_are_left_out() -> None:
    assert dumps_network(Network("LAB")) == (
        '[network]\nname = "LAB"\n\n[network.broker]\nhost = "127.0.0.1"\n'
    )


def test_a_small_network_reads_like_a_hand_written_one() -> None:
    assert dumps_network(LAB) == (
        "[network]\n"
        'name = "NDE_FINANCE_NETWORK"\n'
        'description = "Finance floor"\n'
        "\n"
        "[network.broker]\n"
        'host = "127.0.0.1"\n'
        "\n"
        "[[devices]]\n"
        'name = "Temperature_Sensor"\n'
        'id = "TS1"\n'
        'subscribe = [{ topic = "High_Tempe", qos = 1 }]\n'
    )


def every_setting() -> Network:
    """A network that sets every key to something other than its default."""
    fields = {
        "walk": ValueSpec(GeneratorKind.WALK, min=1, max=9.5, step=0.5, start=2, round=1),
        "pick": ValueSpec(GeneratorKind.CHOICE, values=("a", 2, True)),
        "list": ValueSpec(GeneratorKind.CONSTANT, value=(1, 2)),
        "text": ValueSpec(GeneratorKind.CONSTANT, value='quote " and \\ and é'),
        "nested": {"deeper": {"p": ValueSpec(GeneratorKind.BOOL, probability=0.25)}},
        "empty": {},
        "when": ValueSpec(GeneratorKind.TIMESTAMP, format="epoch_ms"),
        "who": ValueSpec(GeneratorKind.FIELD, name="description"),
        "power": ValueSpec(GeneratorKind.STATE, name="power"),
        "n": ValueSpec(GeneratorKind.COUNTER, start=10, step=-1),
        "kind": ValueSpec(GeneratorKind.CONSTANT, value="a field named kind"),
    }
    device = Device(
        name="Pump \u00e9",
        id="P-1",
        description="line one\nline two",
        subscribe=(Subscription("a/+/c", qos=2, on=SubscribeOn.MANUAL),),
        telemetry=(
            Telemetry("t/{id}", interval=0.5, qos=1, retain=True, fields=fields),
            Telemetry(
                "t/{name}/text",
                format=TelemetryFormat.TEXT,
                template="{v} units",
                fields={"v": ValueSpec(GeneratorKind.INT, min=-3, max=3)},
            ),
        ),
        commands=(
            Command(
                "cmd/{id}/#",
                qos=0,
                match="",
                response=Response("{topic}/ack", payload="done", qos=2, retain=True),
                set={"power": "{payload}"},
                telemetry=TelemetryAction.STOP,
            ),
        ),
        state={"power": "on", "level": 3, "ratio": 0.5, "ok": False},
        will=Will("w/{id}", payload="", qos=2, retain=True, delay=30),
    )
    template = DeviceTemplate(
        name="S{n}", id="S{n}", count=20, first=0, telemetry=(Telemetry("s/{n}"),)
    )
    broker = BrokerSettings(
        host="broker.example",
        port=18883,
        bundled=False,
        protocol=MQTTVersion.V5,
        keepalive=0,
        clean_start=False,
        session_expiry=3600,
        client_id_prefix="lab-",
        username="user",
        password="p\u00e4ss word",
        tls=TLSSettings(
            enabled=True,
            ca="certs/ca.crt",
            cert="certs/client.crt",
            key="certs/client.key",
            verify_certificate=False,
            verify_hostname=False,
            min_version="1.3",
            key_log="keys.log",
        ),
    )
    return Network("ALL", "every key", broker, devices=(device,), templates=(template,))


def test_every_setting_survives_a_round_trip() -> None:
    network = every_setting()
    assert check_network(network) == []
    text = dumps_network(network)
    assert parse_network(text, "all.toml") == network


def test_the_password_is_written_only_when_present() -> None:
    with_password = every_setting()
    assert 'password = "p\u00e4ss word"' in dumps_network(with_password)
    without = replace(with_password, broker=replace(with_password.broker, password=None))
    assert "password" not in dumps_network(without)
    assert parse_network(dumps_network(without), "x.toml").broker.password is None


def test_save_then_load_gives_the_same_network(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    save_network(LAB, path)
    assert load_network(path) == LAB
    changed = replace(LAB, description="changed")
    save_network(changed, path)
    assert load_network(path) == changed
    assert [p.name for p in tmp_path.iterdir()] == ["lab.toml"]


def test_save_keeps_the_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "private.toml"
    save_network(LAB, path)
    path.chmod(0o600)
    save_network(replace(LAB, description="secret"), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_new_profile_with_a_password_is_private(tmp_path: Path) -> None:
    network = every_setting()
    save_network(network, tmp_path / "secret.toml")
    assert stat.S_IMODE((tmp_path / "secret.toml").stat().st_mode) == 0o600
    save_network(LAB, tmp_path / "open.toml")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "open.toml").stat().st_mode) == 0o666 & ~umask


def test_a_linked_profile_is_saved_where_the_link_points(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "lab.toml"
    save_network(LAB, real)
    link = tmp_path / "lab.toml"
    link.symlink_to(real)
    changed = replace(LAB, description="through the link")
    save_network(changed, link)
    assert link.is_symlink()
    assert load_network(real) == changed


def test_a_failed_rename_leaves_the_original_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lab.toml"
    save_network(LAB, path)
    original = path.read_bytes()

    def refuse(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ProfileError) as caught:
        save_network(replace(LAB, description="never written"), path)
    assert caught.value.message == f"{path}: cannot be written: No space left on device"
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["lab.toml"]


def test_a_failed_write_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lab.toml"
    save_network(LAB, path)
    original = path.read_bytes()

    def fail(descriptor: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(ProfileError, match="cannot be written: Input/output error"):
        save_network(replace(LAB, description="never written"), path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["lab.toml"]


def test_a_broken_file_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    broken = '[network]\nname = "LAB"\n[[devices]]\nname = "A"\nid = "A1"\n'
    broken += 'subscribe = [{ topic = "a", qos = 3 }]\n'
    path.write_text(broken)
    with pytest.raises(ProfileError) as caught:
        save_network(LAB, path)
    assert caught.value.title == "Not saved"
    assert caught.value.message == (
        f"{path}: not saved, because the file there is not a valid profile and would be lost "
        f"({path}:6: devices[0].subscribe[0].qos = 3: must be 0, 1 or 2); "
        "fix it or save under another name"
    )
    assert path.read_text() == broken


def test_a_file_that_is_not_toml_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text("this is = = not toml\n")
    with pytest.raises(ProfileError, match="not saved, because the file there is not a valid"):
        save_network(LAB, path)
    assert path.read_text() == "this is = = not toml\n"


def test_a_broken_file_is_overwritten_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text("this is = = not toml\n")
    save_network(LAB, path, overwrite_broken=True)
    assert load_network(path) == LAB


def test_an_invalid_network_is_not_saved(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    bad = replace(LAB, devices=(*LAB.devices, Device(name="Twin", id="TS1")))
    with pytest.raises(ProfileError) as caught:
        save_network(bad, path)
    assert caught.value.message == (
        f"{path}: not saved, because the network is not valid:\n"
        f'{path}:15: devices[1].id = "TS1": is already the id of devices[0]'
    )
    assert not path.exists()


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "lab.toml"
    with pytest.raises(ProfileError, match=r"nowhere/lab.toml: cannot be written: No such file"):
        save_network(LAB, path)


def test_check_network_names_keys_without_a_file() -> None:
    device = Device(
        name="",
        id="TS+1",
        subscribe=(Subscription("a/#/b", qos=3),),
        commands=(Command("cmd", set={"nothing": 1}),),
    )
    problems = check_network(replace(LAB, devices=(device,)))
    assert [problem.message for problem in problems] == [
        'NDE_FINANCE_NETWORK: devices[0].name = "": must not be empty',
        "NDE_FINANCE_NETWORK: devices[0].subscribe[0].topic = \"a/#/b\": '#' must be a whole "
        "level and the last one, as in 'a/b/#'",
        "NDE_FINANCE_NETWORK: devices[0].subscribe[0].qos = 3: must be 0, 1 or 2",
        "NDE_FINANCE_NETWORK: devices[0].commands[0].set.nothing = 1: is not one of the "
        "device's state values; add a state table first",
        "NDE_FINANCE_NETWORK: devices[0].id = \"TS+1\": must not contain '+', '#' or control "
        "characters (ids go into topics)",
    ]
    assert problems[2].key == "devices[0].subscribe[0].qos"
    assert problems[2].problem == "must be 0, 1 or 2"


def test_a_constant_table_is_refused_rather_than_read_back_as_fields(tmp_path: Path) -> None:
    odd = ValueSpec(GeneratorKind.CONSTANT, value={"a": 1})
    device = Device(name="A", id="A1", telemetry=(Telemetry("t", fields={"x": odd}),))
    with pytest.raises(ProfileError) as caught:
        save_network(replace(LAB, devices=(device,)), tmp_path / "odd.toml")
    assert caught.value.message.endswith(
        "devices[0].telemetry[0].fields.x.value = { a = 1 }: "
        "must be a string, a number, true/false, or an array of them"
    )


def test_a_value_toml_cannot_hold_is_a_profile_error() -> None:
    device = Device(name="A", id="A1", state={"when": None})
    with pytest.raises(ProfileError, match="cannot be written as TOML"):
        dumps_network(replace(LAB, devices=(device,)))


@pytest.mark.parametrize("path", sorted((ROOT / "profiles").glob("*.toml")), ids=str)
def test_saving_a_bundled_profile_gives_it_back(path: Path, tmp_path: Path) -> None:
    network = load_network(path)
    copy = tmp_path / path.name
    save_network(network, copy)
    assert load_network(copy) == network


def test_problems_of_a_saved_copy_point_at_its_lines(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    save_network(LAB, path)
    path.write_text(path.read_text().replace("qos = 1", "qos = 7"))
    with pytest.raises(ProfileProblems) as caught:
        load_network(path)
    assert str(caught.value) == f"{path}:11: devices[0].subscribe[0].qos = 7: must be 0, 1 or 2"
