"""Broker settings: defaults, the TOML config file, the command line on top, plain errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from iotsim_tui.broker.config import BrokerConfig, build_config, load_config_file
from iotsim_tui.errors import BrokerError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broker.toml"
    path.write_text(text)
    return path


def test_file_then_command_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[broker]\nport = false\ntls_port = 8884\ncerts = "certs"\nmax_packet_size = 4096\n',
    )
    settings = load_config_file(path)
    assert settings == {
        "port": None,
        "tls_port": 8884,
        "certs": tmp_path / "certs",
        "max_packet_size": 4096,
    }
    config = build_config(settings, {"max_packet_size": 8192, "bind": None})
    assert (config.port, config.tls_port, config.max_packet_size) == (None, 8884, 8192)
    assert config.bind == "127.0.0.1"


def test_defaults() -> None:
    config = build_config({}, {})
    assert config == BrokerConfig()
    assert (config.bind, config.port, config.tls_port) == ("127.0.0.1", 1883, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[broker]\nprot = 1\n", "broker.prot: unknown setting"),
        ('[broker]\nport = "1883"\n', "broker.port = '1883': wrong type"),
        ("[broker]\nallow_anonymous = 1\n", "broker.allow_anonymous = 1: wrong type"),
        ("[broker]\nport = true\n", "give a port number or false"),
        ("[broker\n", "not valid TOML"),
    ],
)
def test_bad_files_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(BrokerError) as caught:
        load_config_file(path)
    assert str(path) in caught.value.message
    assert message in caught.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="cannot read broker config"):
        load_config_file(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"port": None}, "at least one listener"),
        ({"tls_port": 8883}, "needs a certificates folder"),
        ({"require_client_cert": True}, "needs a TLS listener"),
        ({"allow_anonymous": False}, "needs a password file"),
        ({"port": 70000}, "is not a TCP port"),
        ({"max_packet_size": 10}, "max_packet_size 10 must be between"),
        ({"log_level": "loud"}, "log level 'loud'"),
        ({"tls_version": "1.2"}, r"TLS version \(--tls-version\) needs a TLS listener"),
        (
            {"tls_port": 8883, "certs": Path("certs"), "tls_version": "1.1"},
            "tls_version '1.1' is not one of 1.2, 1.3",
        ),
    ],
)
def test_settings_that_cannot_work(settings: dict[str, object], message: str) -> None:
    with pytest.raises(BrokerError, match=message):
        build_config(settings, {})
