"""Each lesson's case: which certificates the broker and the device get, and who listens in.

`set_up` turns a lesson and a network into a `CaseSetup`: the bundled broker's launch (TLS
listener, client certificates, TLS version, password file), the device's TLS settings, and
the relay (passive, or an impostor with a certificate of its own). It makes the certificates
and the password file it needs; it starts nothing.
"""

from __future__ import annotations

import secrets
import ssl
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from iotsim_tui.certs.authority import CA_CERT, SERVER_CERT, SERVER_KEY
from iotsim_tui.errors import IotsimError
from iotsim_tui.lab.lessons import Lesson
from iotsim_tui.lab.setup_certs import LessonCerts, LessonSetupError
from iotsim_tui.profiles.expand import devices_of
from iotsim_tui.profiles.model import (
    BrokerSettings,
    Device,
    Network,
    Subscription,
    TLSSettings,
)
from iotsim_tui.protocol.topics import TopicError, validate_topic_name

if TYPE_CHECKING:
    from iotsim_tui.broker.launch import BrokerLaunch

LESSON_USER = "sensor"
"""The user name of the plain-password lesson when the profile gives none."""
PASSWORDS_FILE = "lesson.passwd"


@dataclass(frozen=True)
class LessonDevice:
    """The device a lesson runs: the network's first, subscribed to a command topic."""

    device: Device
    client_id: str
    topic: str
    """Where the lesson's command goes (the device's first command topic)."""

    @property
    def id(self) -> str:
        """The device's id."""
        return self.device.id


def lesson_device(network: Network) -> LessonDevice:
    """The network's first device, without telemetry, subscribed to its command topic.

    A network without devices gets a lesson device `TS1`; a device without a plain command
    topic (no subscription, or only wildcard filters) is subscribed to `<id>/command`.
    """
    devices = devices_of(network)
    device = devices[0] if devices else Device("Temperature_Sensor", "TS1")
    topic = next((s.topic for s in device.subscribe if _plain_topic(s.topic)), None)
    subscribe = device.subscribe
    if topic is None:
        topic = f"{device.id}/command"
        subscribe = (*subscribe, Subscription(topic, qos=1))
    bare = replace(device, telemetry=(), commands=(), will=None, subscribe=subscribe)
    return LessonDevice(bare, network.broker.client_id_prefix + device.id, topic)


def _plain_topic(topic: str) -> bool:
    try:
        validate_topic_name(topic)
    except TopicError:
        return False
    return True


@dataclass(frozen=True)
class Impostor:
    """The impostor's own certificate: signed by another CA, for the right host names."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class CaseSetup:
    """Everything a lesson starts, described; `lessons_run` starts and stops it."""

    lesson: Lesson
    network: Network
    device: LessonDevice
    certs: LessonCerts
    broker_certs: Path | None
    """The folder the lesson's broker serves TLS from; None: plain MQTT."""
    require_client_cert: bool = False
    tls_version: str | None = None
    password_file: Path | None = None
    device_ca: Path | None = None
    device_cert: Path | None = None
    device_key: Path | None = None
    impostor: Impostor | None = None
    username: str | None = None
    password: str | None = None
    """The plain-password lesson's own throwaway password (never the profile's)."""
    sends_command: bool = False

    @property
    def host(self) -> str:
        """The broker's host as the profile names it (what the device checks certificates for)."""
        return self.network.broker.host

    @property
    def tls(self) -> bool:
        """True when the lesson's broker speaks TLS."""
        return self.broker_certs is not None

    @property
    def topic(self) -> str:
        """The topic the lesson's command is sent on."""
        return self.device.topic

    def launch(self, port: int) -> BrokerLaunch:
        """The lesson broker's launch on loopback: `port` (0: a free one)."""
        from iotsim_tui.broker.launch import BrokerLaunch

        bind = "::1" if self.host.strip("[]") == "::1" else "127.0.0.1"
        if self.host.startswith("127."):
            bind = self.host
        return BrokerLaunch(
            bind=bind,
            plain_port=None if self.tls else port,
            tls_port=port if self.tls else None,
            certs_dir=self.broker_certs,
            require_client_cert=self.require_client_cert,
            password_file=self.password_file,
            allow_anonymous=self.password_file is None,
            tls_version=self.tls_version,
        )

    def device_network(self, port: int, *, verify: bool = True) -> Network:
        """The one-device network the lesson runs, on the lesson broker's `port`."""
        broker = self.network.broker
        tls = TLSSettings(
            enabled=self.tls,
            ca=str(self.device_ca) if self.device_ca else None,
            cert=str(self.device_cert) if self.device_cert else None,
            key=str(self.device_key) if self.device_key else None,
            verify_certificate=verify,
            verify_hostname=verify,
        )
        settings = BrokerSettings(
            host=broker.host,
            port=port,
            bundled=False,
            protocol=broker.protocol,
            keepalive=broker.keepalive,
            client_id_prefix=broker.client_id_prefix,
            username=self.username,
            password=self.password,
            tls=tls,
        )
        return Network(
            f"{self.network.name} · lesson {self.lesson.name}",
            broker=settings,
            devices=(self.device.device,),
        )

    def console_context(self) -> ssl.SSLContext:
        """What the broker console (and the impostor, towards the broker) connects with:
        the trusted CA, and the device's client certificate where the broker asks for one."""
        trusted = self.certs.trusted()
        context = ssl.create_default_context(cafile=str(trusted / CA_CERT))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.require_client_cert:
            client = self.certs.client()
            context.load_cert_chain(client.cert, client.key)
        return context


def set_up(lesson: Lesson, network: Network, certs: LessonCerts) -> CaseSetup:
    """The case of `lesson`, with its certificates (and password file) made in `certs`.

    Raises:
        LessonSetupError: a certificate or the password file cannot be written.
    """
    device = lesson_device(network)
    trusted = certs.trusted()
    base = CaseSetup(
        lesson, network, device, certs, broker_certs=trusted, device_ca=trusted / CA_CERT
    )
    name = lesson.name
    if name == "other-ca":
        return replace(base, device_ca=certs.other_ca() / CA_CERT)
    if name == "expired":
        return replace(base, broker_certs=certs.expired())
    if name == "other-host":
        return replace(base, broker_certs=certs.other_host())
    if name == "no-client-cert":
        return replace(base, require_client_cert=True)
    if name == "foreign-client-cert":
        foreign = certs.foreign_client()
        return replace(
            base, require_client_cert=True, device_cert=foreign.cert, device_key=foreign.key
        )
    if name == "tls12-certificate":
        return replace(base, tls_version="1.2", sends_command=True)
    if name == "impostor":
        other = certs.other_ca()
        impostor = Impostor(other / SERVER_CERT, other / SERVER_KEY)
        return replace(base, impostor=impostor, sends_command=True)
    if name == "plain-password":
        return _plain_password(base, certs.directory)
    raise IotsimError(f"lesson {name!r} has no set-up")


def _plain_password(base: CaseSetup, folder: Path) -> CaseSetup:
    from iotsim_tui.broker.auth import add_user

    user = base.network.broker.username or LESSON_USER
    # A throwaway password the lesson makes and shows: never the profile's own.
    password = secrets.token_urlsafe(9)
    path = folder / PASSWORDS_FILE
    try:
        add_user(path, user, password)
    except (OSError, IotsimError) as error:
        raise LessonSetupError(f"cannot write the lesson's password file {path}: {error}") from None
    return replace(
        base,
        broker_certs=None,
        device_ca=None,
        password_file=path,
        username=user,
        password=password,
        sends_command=True,
    )
