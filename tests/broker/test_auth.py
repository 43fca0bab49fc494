"""The broker's password file: scrypt hashes, strict parsing, 0600 atomic saves."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from iotsim_tui.broker.auth import PasswordFile, PasswordHash, add_user
from iotsim_tui.errors import BrokerError


def test_add_user_then_verify(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    assert add_user(path, "sensor-1", "s3cret: with spaces")
    assert add_user(path, "console", "other")
    passwords = PasswordFile.load(path)
    assert passwords.users == ["console", "sensor-1"]
    assert passwords.verify("sensor-1", "s3cret: with spaces")
    assert passwords.verify("sensor-1", b"s3cret: with spaces")  # MQTT passwords are bytes
    assert not passwords.verify("sensor-1", "s3cret")
    assert not passwords.verify("console", "s3cret: with spaces")
    assert not passwords.verify("nobody", "other")
    assert not passwords.verify("sensor-1", "")


def test_changing_a_password_replaces_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    add_user(path, "sensor-1", "old")
    assert not add_user(path, "sensor-1", "new")
    passwords = PasswordFile.load(path)
    assert len(passwords) == 1
    assert passwords.verify("sensor-1", "new")
    assert not passwords.verify("sensor-1", "old")


def test_the_file_holds_scrypt_hashes_never_the_password(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    add_user(path, "sensor-1", "hunter2")
    add_user(path, "sensor-2", "hunter2")
    text = path.read_text()
    assert "hunter2" not in text
    lines = text.splitlines()
    assert [line.split(":")[0] for line in lines] == ["sensor-1", "sensor-2"]
    first = PasswordHash.decode(lines[0].split(":", 1)[1])
    second = PasswordHash.decode(lines[1].split(":", 1)[1])
    assert first.salt != second.salt  # the same password never hashes alike
    assert lines[0].split(":", 1)[1].startswith("scrypt$16384$8$1$")
    # Independently recomputed with the standard KDF and the stored parameters.
    expected = hashlib.scrypt(b"hunter2", salt=first.salt, n=first.n, r=first.r, p=first.p)
    assert expected[: len(first.digest)] == first.digest


def test_saved_0600_and_atomic_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    path.write_text("")
    path.chmod(0o666)
    previous = os.umask(0)
    try:
        add_user(path, "sensor-1", "pw")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["passwords"]


def test_comments_and_blank_lines_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    add_user(path, "sensor-1", "pw")
    path.write_text("# users of the lab broker\n\n" + path.read_text() + "   \n")
    assert PasswordFile.load(path).verify("sensor-1", "pw")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("sensor-1", "expected user:scrypt"),
        ("sensor-1:md5$abc", "expected user:scrypt"),
        ("sensor-1:scrypt$16384$8$1$c2FsdA", "expected user:scrypt"),
        ("sensor-1:scrypt$x$8$1$c2FsdHNhbHQ=$aGFzaA==", "numbers and base64"),
        ("sensor-1:scrypt$16384$8$1$!!!$aGFzaA==", "numbers and base64"),
        ("sensor-1:scrypt$1000$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==", "cost out of range"),
        ("sensor-1:scrypt$4194304$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==", "cost out of"),
        ("sensor-1:scrypt$16384$8$1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==", "salt or hash too short"),
        (":scrypt$16384$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==", "user name is empty"),
    ],
)
def test_malformed_lines_are_located(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "passwords"
    path.write_text(f"# header\n{line}\n")
    with pytest.raises(BrokerError, match=rf"^{path}:2: .*{problem}") as raised:
        PasswordFile.load(path)
    assert raised.value.title == "Password file error"


def test_a_user_twice_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    add_user(path, "sensor-1", "pw")
    path.write_text(path.read_text() * 2)
    with pytest.raises(BrokerError, match=r":2: user 'sensor-1' appears twice"):
        PasswordFile.load(path)


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="does not exist: add a user with `iotsim-tui broker"):
        PasswordFile.load(tmp_path / "nope")


@pytest.mark.parametrize(
    ("user", "problem"),
    [
        ("", "empty"),
        ("a:b", "colon"),
        ("tab\there", "control character"),
        (" padded", "space"),
        ("\ud800", "not a valid MQTT string"),
    ],
)
def test_unusable_user_names_are_refused(user: str, problem: str) -> None:
    with pytest.raises(BrokerError, match=problem):
        PasswordFile().set(user, "pw")


def test_an_empty_password_is_refused() -> None:
    with pytest.raises(BrokerError, match="the password is empty"):
        PasswordFile().set("sensor-1", "")
