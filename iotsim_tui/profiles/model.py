"""The typed model of a network profile: one TOML file = one `Network`.

Plain frozen dataclasses: the loader (`profiles.load`) builds them from TOML after checking
every value, the writer (`profiles.save`) turns them back into TOML, and the engine and the
app read them. Change a model with `dataclasses.replace`; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

from iotsim_tui.profiles.lab_model import Lab

# The protocol level a network's devices speak ("3.1.1" or "5" in a profile): one enum for the
# profile and the codec.
from iotsim_tui.protocol.reasons import MQTTVersion as MQTTVersion

PLAIN_PORT = 1883
TLS_PORT = 8883


class SubscribeOn(StrEnum):
    """When a device subscribes to a command topic."""

    START = "start"
    """As soon as the device is connected."""
    MANUAL = "manual"
    """Only when the user asks for it in the app."""


class TelemetryFormat(StrEnum):
    """How a telemetry payload is built from its fields."""

    JSON = "json"
    """A JSON object of the fields (nested tables become nested objects)."""
    TEXT = "text"
    """The `template` string with `{field}` placeholders filled in."""
    BINARY = "binary"
    """Bytes: the fields packed by `struct`, or the fixed `base64` payload."""


class TelemetryAction(StrEnum):
    """What a command does to a device's telemetry."""

    STOP = "stop"
    START = "start"


class GeneratorKind(StrEnum):
    """The value generators a telemetry field can use."""

    CONSTANT = "constant"  # value
    INT = "int"  # min, max: uniform random integer
    FLOAT = "float"  # min, max, round: uniform random number
    WALK = "walk"  # min, max, step, start, round: bounded random walk
    SEQUENCE = "sequence"  # values: one after the other, then stays on the last
    CYCLE = "cycle"  # values: one after the other, round and round
    CHOICE = "choice"  # values: one at random each time
    BOOL = "bool"  # probability: chance of true
    TIMESTAMP = "timestamp"  # format: "iso", "epoch" or "epoch_ms"
    COUNTER = "counter"  # start, step: 0, 1, 2, ...
    FIELD = "field"  # name: a device field ("id", "name", "description")
    STATE = "state"  # name: a device state value, which commands can change
    SINE = "sine"  # period, amplitude, phase, base, round: a wave over the wall clock
    GAUSSIAN = "gaussian"  # base, sigma, min, max, round: normal noise around a base
    ROUTE = "route"  # waypoints, speed, round: a GPS position moving along waypoints
    REPLAY = "replay"  # file, topic, column: a recording's payloads (or one field of them)
    COLUMN = "column"  # file, column: one column of a CSV (or JSON lines) file


@dataclass(frozen=True)
class ValueSpec:
    """One generated value of a telemetry payload. Which keys apply depends on `kind`."""

    kind: GeneratorKind
    value: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    start: float | None = None
    round: int | None = None
    values: tuple[Any, ...] = ()
    probability: float | None = None
    format: str | None = None
    name: str | None = None
    period: float | None = None
    """sine: seconds per wave."""
    amplitude: float | None = None
    """sine: how far the wave goes above and below `base`."""
    phase: float | None = None
    """sine: degrees the wave is shifted by (devices alike but out of step)."""
    base: float | None = None
    """sine: the middle of the wave; gaussian: the mean."""
    sigma: float | None = None
    """gaussian: the standard deviation."""
    waypoints: tuple[tuple[float, float], ...] = ()
    """route: (latitude, longitude) points in degrees, followed in order and round again."""
    speed: float | None = None
    """route: metres per second along the route."""
    file: str | None = None
    """replay, column: the recording, or the CSV or JSON lines file, to read values from."""
    column: str | None = None
    """column: the column's name; replay: a field of the JSON payloads (a dotted path)."""
    topic: str | None = None
    """replay: only the messages of this MQTT topic filter."""


PayloadFields: TypeAlias = Mapping[str, "ValueSpec | PayloadFields"]
"""Field name -> a generated value, or a nested table of fields (a nested JSON object)."""


@dataclass(frozen=True)
class TLSSettings:
    """How devices reach the broker over TLS."""

    enabled: bool = False
    ca: str | None = None
    """CA certificate file (PEM) that signed the broker's certificate; None = system CAs."""
    cert: str | None = None
    """Client certificate file (PEM) for brokers that require one."""
    key: str | None = None
    """Private key of the client certificate (PEM)."""
    verify_certificate: bool = True
    """Check the broker's certificate chain. Off only when a profile says so; the UI warns."""
    verify_hostname: bool = True
    """Check that the certificate names the broker's host. Off only when a profile says so."""
    min_version: str = "1.2"
    """Lowest TLS version offered: "1.2" or "1.3"."""
    key_log: str | None = None
    """Write TLS session keys to this file (SSLKEYLOGFILE format) so Wireshark can decrypt."""


@dataclass(frozen=True)
class Defences:
    """The bundled broker's defences against the lab's attacks, one switch each.

    `[network.broker.defences]`; each is off unless the profile turns it on (docs/labs.md).
    """

    password: bool = False
    """Refuse clients without the profile's user name and password (anonymous access)."""
    acl: bool = False
    """An ACL the app writes: each device reads and writes only its own topics (`#` enumeration,
    retained command poisoning, spoofed status)."""
    identity: bool = False
    """With TLS: the client certificate's CN is the user name and must be the client id
    (client-id takeover)."""
    login_delay: bool = False
    """Slow logins down after each failure from an address (password guessing)."""
    rate_limit: bool = False
    """A per-client publish rate and queue limit (publish flood)."""


DEFENCE_NAMES: tuple[str, ...] = ("password", "acl", "identity", "login_delay", "rate_limit")


@dataclass(frozen=True)
class BrokerSettings:
    """Where a network's devices connect, and how."""

    host: str = "127.0.0.1"
    port: int | None = None
    """None: 1883, or 8883 with TLS. A port set by hand stays when TLS is switched."""
    bundled: bool = True
    """Start the bundled broker when the host is local."""
    keep_plain_port: int | None = None
    """With TLS on, the bundled broker also keeps this plain port open (1883 in the app's
    settings), so a lab can show plain and TLS side by side. Devices still use TLS."""
    protocol: MQTTVersion = MQTTVersion.V311
    keepalive: int = 60
    clean_start: bool = True
    session_expiry: int = 0
    """Seconds a session outlives its connection (MQTT 5; 3.1.1 keeps it when not clean)."""
    client_id_prefix: str = ""
    username: str | None = None
    password: str | None = None
    """Never logged or shown; the app masks it."""
    tls: TLSSettings = field(default_factory=TLSSettings)
    defences: Defences = field(default_factory=Defences)

    @property
    def effective_port(self) -> int:
        """The port devices connect to."""
        if self.port is not None:
            return self.port
        return TLS_PORT if self.tls.enabled else PLAIN_PORT

    @property
    def is_local(self) -> bool:
        """True when the host is this machine (loopback), so the bundled broker can serve it."""
        return self.host in ("localhost", "::1") or self.host.startswith("127.")

    @property
    def wants_bundled(self) -> bool:
        """True when the profile asks for the bundled broker and its host is this machine."""
        return self.bundled and self.is_local

    @property
    def plain_port_kept(self) -> int | None:
        """The plain port the bundled broker keeps open beside TLS, when it does."""
        if self.tls.enabled and self.wants_bundled:
            return self.keep_plain_port
        return None


@dataclass(frozen=True)
class Ramp:
    """How fast a network's devices connect, so that thousands do not stampede a broker."""

    rate: float = 5000.0
    """New connections per second at most (about twice what one process connects to a local
    broker: the default paces a stampede without slowing a run down)."""
    in_flight: int = 200
    """Connections being set up at once, at most."""


@dataclass(frozen=True)
class Subscription:
    """A topic filter a device subscribes to ("subscribe to command")."""

    topic: str
    qos: int = 1
    on: SubscribeOn = SubscribeOn.START


class PayloadFormat(StrEnum):
    """MQTT 5's payload format indicator: what the receiver may assume of the payload."""

    BYTES = "bytes"
    UTF8 = "utf-8"


@dataclass(frozen=True)
class MessageProperties:
    """MQTT 5 properties of a message a device publishes (telemetry, a command's response).

    They need `protocol = "5"`. `{id}` and `{name}` are filled in the response topic and the
    correlation data, as in topics.
    """

    content_type: str | None = None
    """A MIME type, as in "application/json"."""
    payload_format: PayloadFormat | None = None
    message_expiry: int | None = None
    """Seconds a broker keeps the message for an offline subscriber before dropping it."""
    response_topic: str | None = None
    """Where a receiver should answer (a request, in MQTT 5's request/response)."""
    correlation_data: str | None = None
    """Sent back with the answer, so the requester can tell which request it answers."""
    user: Mapping[str, str] = field(default_factory=dict)
    """User properties: name -> value pairs the receiver sees with the message."""


@dataclass(frozen=True)
class Trigger:
    """Publish a telemetry only when one of its fields changed enough or crossed a value.

    The payload is still built every `interval` (the device samples), but sent only when the
    trigger fires, and always the first time after the device connects.
    """

    field: str
    """A top-level field of the telemetry."""
    change: float | None = None
    """Publish when the field moved by at least this much since the last message (any
    change at all for text and true/false)."""
    crosses: float | None = None
    """Publish when the field crosses this value, upwards or downwards."""


@dataclass(frozen=True)
class Telemetry:
    """A message a device publishes every `interval` seconds."""

    topic: str
    """A topic name; `{id}` and `{name}` are replaced by the device's."""
    interval: float = 5.0
    qos: int = 0
    retain: bool = False
    format: TelemetryFormat = TelemetryFormat.JSON
    jitter: float = 0.02
    """Each interval is stretched or shrunk at random by up to this fraction (0: exact)."""
    on_connect: bool = False
    """Also publish once as soon as the device connects (a "birth" message)."""
    publish_when: Trigger | None = None
    """Publish only when a field changes or crosses a value (None: every interval)."""
    template: str | None = None
    """For `format = "text"`: the payload, with `{field}` placeholders."""
    struct: str | None = None
    """For `format = "binary"`: how the fields are packed, in Python's struct notation
    ("<hHf": little-endian int16, uint16, float32), one item per field in order."""
    base64: str | None = None
    """For `format = "binary"`: a fixed payload, written in base64."""
    fields: PayloadFields = field(default_factory=dict)
    properties: MessageProperties | None = None
    """MQTT 5 properties sent with each message (`protocol = "5"`)."""


@dataclass(frozen=True)
class Response:
    """A message a device publishes when a command arrives."""

    topic: str
    """`{id}`, `{name}`, `{topic}` and `{payload}` (the command's) are replaced."""
    payload: str = "{payload}"
    qos: int = 0
    retain: bool = False
    properties: MessageProperties | None = None
    """MQTT 5 properties of the response (`protocol = "5"`). A command that arrives with a
    response topic (MQTT 5 request/response) is answered there instead, with its correlation
    data."""


@dataclass(frozen=True)
class Command:
    """How a device reacts to a command: a message on a topic that matches `topic`."""

    topic: str
    """A topic filter; `{id}` and `{name}` are replaced. Subscribed on start with `qos`."""
    qos: int = 1
    match: str | None = None
    """Only react when the payload equals this (trimmed, any case); None = any payload."""
    response: Response | None = None
    set: Mapping[str, Any] = field(default_factory=dict)
    """State values to change; the string "{payload}" takes the command's payload."""
    telemetry: TelemetryAction | None = None


@dataclass(frozen=True)
class Will:
    """The last will the broker publishes when a device drops without a DISCONNECT."""

    topic: str
    payload: str = "offline"
    qos: int = 0
    retain: bool = False
    delay: int = 0
    """Seconds the broker waits before publishing it (MQTT 5)."""


@dataclass(frozen=True)
class Device:
    """One simulated device: one MQTT client."""

    name: str
    id: str
    """Unique in the network; the MQTT client id is the broker's prefix plus this."""
    description: str = ""
    subscribe: tuple[Subscription, ...] = ()
    telemetry: tuple[Telemetry, ...] = ()
    commands: tuple[Command, ...] = ()
    state: Mapping[str, Any] = field(default_factory=dict)
    """Initial state values (setpoint, power, ...) that telemetry reports and commands change."""
    will: Will | None = None


@dataclass(frozen=True)
class DeviceTemplate:
    """`count` devices made alike; `{n}` in name, id, description and topics is their number."""

    name: str
    id: str
    count: int
    first: int = 1
    description: str = ""
    subscribe: tuple[Subscription, ...] = ()
    telemetry: tuple[Telemetry, ...] = ()
    commands: tuple[Command, ...] = ()
    state: Mapping[str, Any] = field(default_factory=dict)
    will: Will | None = None


@dataclass(frozen=True)
class LibraryCommand:
    """A command kept in the profile, sent from the broker console by name or by key."""

    name: str
    topic: str
    payload: str = ""
    qos: int = 1
    retain: bool = False
    key: str | None = None
    """"1" to "9": the key that sends it from the broker console; None for none."""


@dataclass(frozen=True)
class Network:
    """A network of simulated devices and the broker they talk to."""

    name: str
    description: str = ""
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    ramp: Ramp = field(default_factory=Ramp)
    devices: tuple[Device, ...] = ()
    templates: tuple[DeviceTemplate, ...] = ()
    lab: Lab = field(default_factory=Lab)
    library: tuple[LibraryCommand, ...] = ()
    """The broker console's named commands."""
