"""`iotsim-tui lab lesson`: its output, exit codes, capture file, and every kind of bad input.

Bad input must start nothing: no broker process, no certificates folder, no traffic.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from iotsim_tui.cli import main
from iotsim_tui.lab.lessons import lesson_names
from tests.lab.conftest import TOPIC, lab_network, save_profile
from tests.support.bundled import skip_without_broker
from tests.support.ports import free_port
from tests.wiretap.sessions import tshark

PROGRAM = [sys.executable, "-m", "iotsim_tui"]


def _lesson(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PROGRAM, "lab", "lesson", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_a_lesson_prints_the_three_things_and_writes_a_capture_tshark_reads(
    tmp_path: Path,
) -> None:
    skip_without_broker()
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark)")
    profile = save_profile(lab_network(), tmp_path)
    pcap = tmp_path / "lesson.pcap"
    port = free_port()

    done = _lesson(
        "plain-password", str(profile), "--pcap", str(pcap), "--port", str(port), cwd=tmp_path
    )

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("Lesson 8 · Plain MQTT with a password\n")
    for heading in ("The device log", "What the eavesdrop relay saw", "What stopped it"):
        assert f"\n{heading}" in out
    assert f"Reason: connected to 127.0.0.1:{port}" in out
    shown = re.search(r"⚠ +password: (\S+) +← read off the wire", out)
    assert shown is not None, out
    assert f"capture written to {pcap}: " in out
    # Wireshark's own MQTT dissector reads the same password from the capture.
    fields = tshark(
        pcap,
        "-d",
        f"tcp.port=={port},mqtt",
        "-Y",
        "mqtt.msgtype == 1",
        "-T",
        "fields",
        "-e",
        "mqtt.username",
        "-e",
        "mqtt.passwd",
    )
    assert fields.split() == ["sensor", shown.group(1)]
    publish = tshark(
        pcap,
        "-d",
        f"tcp.port=={port},mqtt",
        "-Y",
        "mqtt.msgtype == 3",
        "-T",
        "fields",
        "-e",
        "mqtt.topic",
    )
    assert publish.split() == [TOPIC]
    assert not list(tmp_path.glob("iotsim-lesson-*"))


def test_an_unknown_lesson_lists_the_names_and_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = save_profile(lab_network(), tmp_path)
    before = _children()
    code = main(["lab", "lesson", "no-such-lesson", str(profile), "--certs-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "no lesson 'no-such-lesson': the lessons are " + ", ".join(lesson_names()) in err
    assert _children() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.toml"]


def test_a_lesson_number_names_the_lesson_too(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        main(["lab", "lesson", "--help"])
    assert ended.value.code == 0
    out = capsys.readouterr().out
    for number, name in enumerate(lesson_names(), 1):
        assert f"{number}. {name}" in out


def test_a_profile_with_tls_off_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    network = lab_network()
    plain = replace(
        network, broker=replace(network.broker, tls=replace(network.broker.tls, enabled=False))
    )
    profile = save_profile(plain, tmp_path)
    assert main(["lab", "lesson", "other-ca", str(profile)]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"{re.escape(str(profile))}:\d+: network.broker.tls.enabled = false: ", err)
    assert "the lessons are for a network with TLS on" in err


def test_a_profile_without_the_bundled_broker_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = save_profile(lab_network(bundled=False), tmp_path)
    assert main(["lab", "lesson", "expired", str(profile)]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"{re.escape(str(profile))}:\d+: network.broker.bundled = false: ", err)
    assert "lessons only run on brokers the app starts" in err


def test_a_missing_profile_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "lesson", "expired", str(tmp_path / "none.toml")]) == 1
    assert f"{tmp_path / 'none.toml'}: no such file" in capsys.readouterr().err


def test_a_remote_broker_is_refused_without_any_traffic(tmp_path: Path) -> None:
    if (
        shutil.which("unshare") is None
        or subprocess.run(["unshare", "-n", "true"], check=False).returncode
    ):
        pytest.skip("unshare -n is not available here")
    profile = save_profile(lab_network(host="10.20.30.40"), tmp_path)
    # No network at all (not even loopback is up): any attempt to reach a broker would fail
    # with a network error; the lesson must refuse before it tries.
    done = subprocess.run(
        [
            "unshare",
            "-n",
            *PROGRAM,
            "lab",
            "lesson",
            "other-ca",
            str(profile),
            "--certs-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    host_line = next(
        number
        for number, line in enumerate(profile.read_text().splitlines(), 1)
        if line.startswith("host = ")
    )
    assert (
        f'{profile}:{host_line}: network.broker.host = "10.20.30.40": not a loopback address'
        in done.stderr
    )
    assert done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.toml"]


def test_a_taken_port_is_named_and_nothing_is_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    skip_without_broker()
    profile = save_profile(lab_network(), tmp_path)
    certs = tmp_path / "certs-here"
    certs.mkdir()
    before = _children()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(
            [
                "lab",
                "lesson",
                "expired",
                str(profile),
                "--port",
                str(port),
                "--certs-dir",
                str(certs),
            ]
        )
    err = capsys.readouterr().err
    assert code == 1
    assert f"the lesson's broker could not start: port {port} on 127.0.0.1 is already in use" in err
    assert _children() == before
    assert list(certs.iterdir()) == []


def test_a_certificates_folder_that_cannot_be_written_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = save_profile(lab_network(), tmp_path)
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    before = _children()
    code = main(["lab", "lesson", "expired", str(profile), "--certs-dir", str(not_a_folder)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"cannot make the lesson's certificates folder in {not_a_folder}: " in err
    assert _children() == before


def test_a_bad_port_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        main(["lab", "lesson", "expired", "x.toml", "--port", "70000"])
    assert ended.value.code == 2
    assert "port 70000 is not between 0 and 65535" in capsys.readouterr().err
