"""The TLS lessons: what each check of TLS stops, shown for real, one case each.

Each lesson sets its case up with certificates made on the spot, the bundled broker on a free
loopback port, one of the network's devices (the engine) and the eavesdrop relay, and gives
three things: the device log's reason in plain words, what the relay saw, and what stopped
the attack (or what would have). `run_lesson` (in `lessons_run`) runs one; this module says
which lessons there are and checks that a network may take one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from iotsim_tui.errors import IotsimError
from iotsim_tui.profiles.model import Network


class LessonRefused(IotsimError):
    """A lesson that must not run: an unknown name, or a network it may not touch."""

    title = "Lesson refused"
    exit_code = 2

    def __init__(
        self, message: str, *, key: str | None = None, value: object = None, problem: str = ""
    ) -> None:
        super().__init__(message)
        self.key = key
        """The profile key at fault ("network.broker.host"), to locate it in the file."""
        self.value = value
        self.problem = problem
        """What is wrong with the key's value, in words that follow `key = value: `."""


@dataclass(frozen=True)
class Lesson:
    """One case of the TLS lessons."""

    name: str
    """What `iotsim-tui lab lesson NAME` takes."""
    title: str
    case: str
    """The set-up in one sentence."""
    lesson: str
    """What stopped it, or what would have stopped it."""
    refused: bool
    """True when the device is meant to be refused (the check works)."""


LESSONS: tuple[Lesson, ...] = (
    Lesson(
        "other-ca",
        "The device trusts another CA",
        "The broker's certificate is signed by a CA the device does not trust.",
        "Stopped by the device's chain check. Anyone can make a certificate that says "
        "'broker'; only the signature of a CA the device trusts tells the real broker from "
        "an impostor (lesson 7). The device ended the handshake before any MQTT. "
        "To connect: give the device the CA that signed the broker (tls.ca), or have the "
        "broker's certificate signed by the CA the device trusts.",
        refused=True,
    ),
    Lesson(
        "expired",
        "The broker's certificate has expired",
        "The broker presents a certificate from the right CA that expired yesterday.",
        "Stopped by the device's date check. An expired certificate is no longer vouched "
        "for: its key may have leaked long ago, and nobody revokes it any more. To connect: "
        "renew the broker's certificate before its 'not after' date "
        "(iotsim-tui certs show, certs init --force).",
        refused=True,
    ),
    Lesson(
        "other-host",
        "The certificate is for another host name",
        "The broker's certificate is valid and from the right CA, but names another host.",
        "Stopped by the device's host name check. Without it, any certificate from the same "
        "CA (another broker, a test server, a stolen one) would pass for this broker. To "
        "connect: issue the broker's certificate for the name devices use "
        "(certs init --host NAME), or point devices at a name in the certificate.",
        refused=True,
    ),
    Lesson(
        "no-client-cert",
        "The broker requires a client certificate; the device has none",
        "The broker accepts only clients with a certificate from its CA; the device has none.",
        "Stopped by the broker: it asked the device to prove who it is and got no "
        "certificate, so it ended the handshake before any MQTT (certificate_required). "
        "Without that requirement anything that reaches the port may connect, read '#' and "
        "send commands. To connect: issue the device a client certificate "
        "(certs client ID) and set tls.cert and tls.key.",
        refused=True,
    ),
    Lesson(
        "foreign-client-cert",
        "The device's client certificate is signed by another CA",
        "The broker requires a client certificate; the device's comes from another CA.",
        "Stopped by the broker's chain check of the client certificate (unknown_ca). A "
        "certificate names a device only when the broker trusts who signed it: anyone can "
        "sign one with any name. To connect: issue the client certificate from the "
        "broker's CA.",
        refused=True,
    ),
    Lesson(
        "tls12-certificate",
        "TLS 1.2 only: the broker's certificate in clear",
        "The broker speaks TLS 1.2 only; the device connects and gets a command.",
        "Nothing stopped it: the command stayed encrypted, but under TLS 1.2 the broker's "
        "certificate crosses the wire in clear. A sniffer reads whom the broker claims to be, "
        "who vouches for it and until when, without touching it. TLS 1.3 encrypts the "
        "certificate: after its Server Hello a sniffer sees only Application Data. What "
        'stops it: a broker that speaks TLS 1.3 (and tls.min_version = "1.3").',
        refused=False,
    ),
    Lesson(
        "impostor",
        "Verification off, with an impostor",
        "The device connects with certificate checks off; the relay answers with a "
        "certificate of its own (a man in the middle).",
        "Nothing stopped it with checks off: the device took the impostor's certificate, so "
        "the impostor decrypted the session, read the command and passed it on; device and "
        "broker saw nothing wrong. Encryption without verification is encryption to whoever "
        "answers. With checks on, the same impostor was refused: its certificate is not "
        "signed by the CA the device trusts (lesson 1). What stops it: "
        "tls.verify_certificate and tls.verify_hostname on, as they are by default.",
        refused=False,
    ),
    Lesson(
        "plain-password",
        "Plain MQTT with a password",
        "The device logs in with a user name and a password, without TLS.",
        "Nothing stopped it: without TLS the CONNECT packet carries the user name and the "
        "password as plain bytes, and anyone on the path can read them and log in as the "
        "device. A password protects nothing on a link a sniffer reads. What stops it: TLS "
        "(port 8883): the same CONNECT then travels inside Application Data.",
        refused=False,
    ),
)


def lesson_names() -> list[str]:
    """Every lesson's name, in order."""
    return [lesson.name for lesson in LESSONS]


def find_lesson(name: str) -> Lesson:
    """The lesson called `name` (or numbered: "1" to "8"); LessonRefused listing the names."""
    for number, lesson in enumerate(LESSONS, 1):
        if name in (lesson.name, str(number)):
            return lesson
    raise LessonRefused(f"no lesson {name!r}: the lessons are {', '.join(lesson_names())}")


def number_of(lesson: Lesson) -> int:
    """The lesson's number in the list, from 1."""
    return LESSONS.index(lesson) + 1


def check_network(network: Network) -> None:
    """Refuse a network whose broker is not the bundled broker on this machine's loopback.

    Lessons start brokers of their own on loopback and never send a byte elsewhere; the check
    is made before anything starts. The error names the profile key at fault.
    """
    broker = network.broker
    name = network.name
    if not is_loopback(broker.host):
        problem = (
            "not a loopback address of this machine: lessons only run on the bundled broker "
            "on 127.0.0.1, ::1 or localhost"
        )
        raise LessonRefused(
            f"network {name!r} uses the broker at {broker.host}, which is {problem}",
            key="network.broker.host",
            value=broker.host,
            problem=problem,
        )
    if not broker.bundled:
        problem = "lessons only run on brokers the app starts (the bundled broker)"
        raise LessonRefused(
            f"network {name!r} does not use the bundled broker: {problem}",
            key="network.broker.bundled",
            value=False,
            problem=problem,
        )
    if not broker.tls.enabled:
        problem = (
            "the lessons are for a network with TLS on (network settings, ctrl+t; or "
            "[network.broker.tls] enabled = true)"
        )
        raise LessonRefused(
            f"network {name!r} has TLS off: {problem}",
            key="network.broker.tls.enabled",
            value=False,
            problem=problem,
        )


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1), and nothing else."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
