"""Every lesson end to end: the real bundled broker, a real device, the relay, then nothing left.

The lessons run in this process (the broker is its own process, as in the app) and share the
session's certificates, so each takes well under a second on a quiet machine.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import psutil
import pytest

from iotsim_tui.lab.lessons import LESSONS, find_lesson
from iotsim_tui.lab.lessons_run import COMMAND, LessonResult, run_lesson
from iotsim_tui.lab.lessons_seen import Mark, Seen
from iotsim_tui.lab.setup_certs import LessonCerts
from tests.lab.conftest import TOPIC, lab_network
from tests.support.bundled import bundled_broker, skip_without_broker
from tests.wiretap.sessions import tshark

# What each lesson's device says, and the line the relay must show, marked as it must be.
EXPECTED: dict[str, tuple[str, str, Mark]] = {
    "other-ca": (
        "the broker's certificate is not signed by",
        "→ Alert (fatal): unknown_ca",
        Mark.KEY,
    ),
    "expired": (
        "the broker's certificate has expired",
        "→ Alert (fatal): certificate_expired",
        Mark.KEY,
    ),
    "other-host": (
        "hostname mismatch: certificate is for broker.example.net, not 127.0.0.1",
        "→ Alert (fatal): bad_certificate",
        Mark.KEY,
    ),
    "no-client-cert": (
        "the broker requires a client certificate",
        "← Application Data, 19 bytes  (the broker's alert",
        Mark.KEY,
    ),
    "foreign-client-cert": (
        "the broker does not trust the client certificate (unknown CA)",
        "← Application Data, 19 bytes  (the broker's alert",
        Mark.KEY,
    ),
    "tls12-certificate": (
        f"over TLSv1.2; received {COMMAND!r} on {TOPIC}",
        "← Certificate, subject CN=localhost,O=iotsim-tui  (in clear)",
        Mark.KEY,
    ),
    "impostor": (
        "checks off: connected to 127.0.0.1:",
        f"← PUBLISH {TOPIC}: {COMMAND}",
        Mark.ALARM,
    ),
    "plain-password": (
        f"received {COMMAND!r} on {TOPIC}",
        "→ CONNECT client id TS1, user sensor, password in clear",
        Mark.ALARM,
    ),
}


def _line(result: LessonResult, start: str) -> Seen:
    found = [seen for seen in result.seen if seen.text.startswith(start)]
    assert found, f"no line {start!r} in what the relay saw:\n" + _shown(result)
    return found[0]


def _shown(result: LessonResult) -> str:
    return "\n".join(f"{s.mark.value:>5} {s.text}" for s in result.seen)


def _refuses_connections(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_every_lesson_is_covered() -> None:
    assert [lesson.name for lesson in LESSONS] == list(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
async def test_a_lesson_shows_its_reason_and_what_the_relay_saw(
    name: str, lesson_certs: LessonCerts
) -> None:
    skip_without_broker()
    lesson = find_lesson(name)
    network = lab_network()
    children = {p.pid for p in psutil.Process().children(recursive=True)}

    result = await run_lesson(lesson, network, certs=lesson_certs)

    reason, line, mark = EXPECTED[name]
    assert reason in result.reason, result.device_log
    assert result.as_expected, result.reason
    assert result.refused is (lesson.refused or name == "impostor")
    assert _line(result, line).mark is mark, _shown(result)
    # Restored: the lesson's broker is gone, and no process it started is left.
    assert _refuses_connections(result.broker)
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= children
    assert network == lab_network()


async def test_a_refused_device_sends_no_mqtt(lesson_certs: LessonCerts) -> None:
    skip_without_broker()
    result = await run_lesson(find_lesson("expired"), lab_network(), certs=lesson_certs)
    assert not [s for s in result.seen if "CONNECT" in s.text or "PUBLISH" in s.text]
    assert result.device_log[-1].startswith("error: the broker's certificate has expired")


async def test_tls_1_2_decodes_the_certificate_and_keeps_the_command_secret(
    lesson_certs: LessonCerts,
) -> None:
    skip_without_broker()
    result = await run_lesson(find_lesson("tls12-certificate"), lab_network(), certs=lesson_certs)
    texts = [s.text for s in result.seen]
    issuer = lesson_certs.trusted().joinpath("ca.crt").read_text()
    assert any(t.startswith("    subject: CN=localhost,O=iotsim-tui") for t in texts)
    assert any(t.startswith("    issuer: CN=iotsim-tui CA ") for t in texts)
    assert any(t.startswith("    valid: ") and t.endswith(" UTC") for t in texts)
    assert issuer  # the CA the issuer line names is the session's trusted CA
    assert not any(COMMAND in t for t in texts)  # the command itself stayed encrypted


async def test_the_impostor_reads_with_checks_off_and_is_refused_with_checks_on(
    lesson_certs: LessonCerts,
) -> None:
    skip_without_broker()
    result = await run_lesson(find_lesson("impostor"), lab_network(), certs=lesson_certs)
    first, second = result.reason.split(" / ")
    assert first.startswith("checks off: connected")
    assert f"received {COMMAND!r}" in first
    assert second.startswith("checks on: the broker's certificate is not signed by")
    assert _line(result, "MAN IN THE MIDDLE").mark is Mark.ALARM
    refused = _line(result, "the device refused the impostor's certificate")
    assert refused.text.endswith("TLS alert unknown_ca")


async def test_the_password_lesson_shows_the_password_read_off_the_wire(
    lesson_certs: LessonCerts,
) -> None:
    skip_without_broker()
    result = await run_lesson(find_lesson("plain-password"), lab_network(), certs=lesson_certs)
    password = _line(result, "    password: ")
    assert password.mark is Mark.ALARM
    shown = password.text.removeprefix("    password: ").split()[0]
    assert len(shown) >= 12
    assert "hidden" not in shown
    # The lesson's own throwaway password, never the profile's; it is not written to the
    # device log either.
    assert not any(shown in line for line in result.device_log)


async def test_a_lesson_makes_its_certificates_and_removes_them(tmp_path: Path) -> None:
    skip_without_broker()
    parent = tmp_path / "made-here"
    parent.mkdir()
    result = await run_lesson(
        find_lesson("foreign-client-cert"), lab_network(), certs_parent=parent
    )
    assert result.as_expected
    assert list(parent.iterdir()) == []


async def test_localhost_profiles_check_the_certificate_for_localhost(
    lesson_certs: LessonCerts,
) -> None:
    skip_without_broker()
    result = await run_lesson(
        find_lesson("other-host"), lab_network(host="localhost"), certs=lesson_certs
    )
    assert "not localhost" in result.reason


async def test_the_networks_own_broker_runs_on_untouched(
    tmp_path: Path, lesson_certs: LessonCerts
) -> None:
    skip_without_broker()
    async with bundled_broker(tmp_path, plain=False, tls=True) as own:
        host, port = own.listening["tls"]
        network = lab_network(port=port)
        result = await run_lesson(find_lesson("no-client-cert"), network, certs=lesson_certs)
        assert result.as_expected
        assert result.broker != (host, port)
        assert own.running
        socket.create_connection((host, port), timeout=5).close()


def test_lesson_keys_are_private_and_never_in_the_repository(lesson_certs: LessonCerts) -> None:
    repository = Path(__file__).resolve().parents[2]
    assert repository not in lesson_certs.directory.resolve().parents
    keys = list(lesson_certs.directory.rglob("*.key"))
    assert len(keys) >= 6  # two CAs, their brokers and clients, expired, other host
    for key in keys:
        assert key.stat().st_mode & 0o777 == 0o600, key
        assert key.parent.stat().st_mode & 0o777 == 0o700, key.parent


async def test_what_the_impostor_read_opens_in_tshark(
    lesson_certs: LessonCerts, tmp_path: Path
) -> None:
    skip_without_broker()
    pcap = tmp_path / "impostor.pcap"
    result = await run_lesson(find_lesson("impostor"), lab_network(), certs=lesson_certs, pcap=pcap)
    assert result.capture is not None
    port = result.broker[1]
    topics = tshark(
        pcap,
        "-d",
        f"tcp.port=={port},mqtt",
        "-Y",
        "mqtt.msgtype == 3",
        "-T",
        "fields",
        "-e",
        "mqtt.topic",
        "-e",
        "mqtt.msg",
    )
    topic, message = topics.split("\t")
    assert topic == TOPIC
    assert bytes.fromhex(message.strip().replace(":", "")).decode() == COMMAND


@pytest.mark.parametrize("when", ["making certificates", "broker running"])
async def test_a_cancelled_lesson_leaves_nothing(tmp_path: Path, when: str) -> None:
    skip_without_broker()
    parent = tmp_path / "made-here"
    parent.mkdir()
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    lesson = find_lesson("plain-password")  # its set-up also writes a password file
    task = asyncio.create_task(run_lesson(lesson, lab_network(), certs_parent=parent))
    if when == "broker running":
        async with asyncio.timeout(30):
            while not {p.pid for p in psutil.Process().children(recursive=True)} - children:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    else:
        async with asyncio.timeout(30):
            while not list(parent.iterdir()):  # noqa: ASYNC110
                await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(parent.iterdir()) == []
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= children
