"""The bundled broker's settings: defaults, a TOML config file, and the command line on top.

A config file holds the same settings as the command line, under a `[broker]` table:

    [broker]
    bind = "127.0.0.1"
    port = 1883            # false: no plain listener
    tls_port = 8883
    certs = "certs"
    require_certificate = true
    tls_version = "1.2"    # only this TLS version (default: 1.2 and 1.3)
    password_file = "broker.passwd"
    acl_file = "broker.acl"
    allow_anonymous = false
    max_packet_size = 1048576
    log_level = "info"
    persistence = "periodic"      # "off", "periodic" or "sync"
    persistence_location = "data"  # the data folder
    autosave_interval = 1.0

Options given on the command line win over the file; unknown keys are an error. Keys are
named as in mosquitto.conf where they mean the same (`listener = "1883 127.0.0.1"`,
`require_certificate`, `max_inflight_messages`); the first names used here
(`require_client_cert`, `max_inflight`) are still read.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from iotsim_tui.errors import BrokerError

DEFAULT_PLAIN_PORT = 1883
DEFAULT_TLS_PORT = 8883
MAX_PACKET_LIMIT = 268_435_455  # the largest Remaining Length MQTT can express, plus headers
LOG_LEVELS = ("debug", "info", "warning", "error")
TLS_VERSIONS = ("1.2", "1.3")
PERSISTENCE_MODES = ("off", "periodic", "sync")


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Everything the broker needs to start; ports of 0 pick a free port."""

    bind: str = "127.0.0.1"
    port: int | None = DEFAULT_PLAIN_PORT
    """The plain TCP listener; None for none."""
    tls_port: int | None = None
    """The TLS listener; needs `certs`."""
    certs: Path | None = None
    """A folder with ca.crt, server.crt and server.key."""
    require_client_cert: bool = False
    tls_version: str | None = None
    """The only TLS version the TLS listener speaks ("1.2" or "1.3"); None: 1.2 and 1.3."""
    password_file: Path | None = None
    allow_anonymous: bool = True
    max_packet_size: int = 1_048_576
    """The largest packet a client may send us, header included (also before CONNECT)."""
    log_level: str = "info"
    max_queued_messages: int = 1000
    """QoS 1/2 messages kept per session while its client is offline or slow."""
    receive_maximum: int = 100
    """QoS 1/2 PUBLISH packets a client may have unacknowledged towards us."""
    max_inflight: int = 100
    """QoS 1/2 PUBLISH packets we send a client before waiting for acknowledgements."""
    topic_alias_maximum: int = 10
    max_keepalive: int = 65_535
    """The longest keepalive a client may use (see docs/broker.md); 0: no limit."""
    max_session_expiry: int = 86_400
    """Upper bound on a session's expiry interval, in seconds."""
    write_buffer_limit: int = 256 * 1024
    """Bytes waiting for a slow client past which QoS 0 messages to it are dropped."""
    write_buffer_disconnect: int = 4 * 1024 * 1024
    """Bytes waiting for a client past which it is disconnected."""
    max_retained: int = 100_000
    clients_feed_interval: float = 0.3
    """Seconds between two publishes of the broker console feed ($SYS/iotsim/clients)."""
    clients_feed_limit: int = 2000
    sys_interval: float = 1.0
    """Seconds between two publishes of the $SYS/broker/... statistics."""
    acl_file: Path | None = None
    """Rules in mosquitto's ACL format (`broker/acl.py`); None: everyone may do anything."""
    use_identity_as_username: bool = False
    """On the TLS listener, the client certificate's CN is the user name (no password)."""
    use_username_as_clientid: bool = False
    """The user name replaces the client id, as in mosquitto (an old session is taken over)."""
    clientid_must_match_identity: bool = False
    """With `use_identity_as_username`: refuse a client whose client id is not its CN."""
    max_queued_bytes: int = 0
    """Payload bytes queued per session at most (with max_queued_messages); 0: no limit."""
    max_publish_rate: float = 0.0
    """PUBLISH packets per second a client may send; faster ones are read later. 0: no limit."""
    close_timeout: float = 2.0
    """Seconds a closing connection may take to flush; then it is cut (will published)."""
    failed_login_delay: float = 0.1
    """Seconds the next login from an address waits after a failure; doubles per failure."""
    failed_login_delay_max: float = 10.0
    persistence: str = "off"
    """"off", "periodic" (every `autosave_interval` s) or "sync" (acknowledged once on disk)."""
    persistence_location: Path | None = None
    """The folder of the data file; needed unless persistence is off."""
    autosave_interval: float = 1.0
    """Seconds between two writes with persistence "periodic"."""

    def __post_init__(self) -> None:
        if self.port is None and self.tls_port is None:
            raise BrokerError("the broker needs at least one listener: a plain port or a TLS port")
        if self.tls_port is not None and self.certs is None:
            raise BrokerError("a TLS listener needs a certificates folder (--certs DIR)")
        if self.require_client_cert and self.tls_port is None:
            raise BrokerError("requiring client certificates needs a TLS listener (--tls-port)")
        if self.tls_version is not None and self.tls_port is None:
            raise BrokerError("a TLS version (--tls-version) needs a TLS listener (--tls-port)")
        if self.tls_version is not None and self.tls_version not in TLS_VERSIONS:
            raise BrokerError(
                f"tls_version {self.tls_version!r} is not one of {', '.join(TLS_VERSIONS)}"
            )
        certificates_only = self.use_identity_as_username and self.port is None
        if not self.allow_anonymous and self.password_file is None and not certificates_only:
            raise BrokerError(
                "refusing anonymous clients needs a password file (--password-file), "
                "or no client could ever connect"
            )
        for name in ("port", "tls_port"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 65_535:
                raise BrokerError(f"{name} {value} is not a TCP port (0-65535)")
        if not 64 <= self.max_packet_size <= MAX_PACKET_LIMIT:
            raise BrokerError(
                f"max_packet_size {self.max_packet_size} must be between 64 and {MAX_PACKET_LIMIT}"
            )
        if self.log_level not in LOG_LEVELS:
            raise BrokerError(f"log level {self.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
        if not 1 <= self.receive_maximum <= 65_535 or not 1 <= self.max_inflight <= 65_535:
            raise BrokerError(
                "receive_maximum and max_inflight_messages must be between 1 and 65535"
            )
        if self.use_identity_as_username and not self.require_client_cert:
            raise BrokerError(
                "use_identity_as_username needs client certificates (require_certificate)"
            )
        if self.clientid_must_match_identity and not self.use_identity_as_username:
            raise BrokerError("clientid_must_match_identity needs use_identity_as_username")
        if not 0 <= self.max_keepalive <= 65_535:
            raise BrokerError(f"max_keepalive {self.max_keepalive} must be between 0 and 65535")
        for name in ("max_queued_bytes", "max_publish_rate", "close_timeout", "max_retained"):
            if getattr(self, name) < 0:
                raise BrokerError(f"{name} must not be negative")
        if self.persistence not in PERSISTENCE_MODES:
            raise BrokerError(
                f"persistence {self.persistence!r} is not one of {', '.join(PERSISTENCE_MODES)}"
            )
        if self.persistence != "off" and self.persistence_location is None:
            raise BrokerError(f"persistence {self.persistence!r} needs a data folder (--data DIR)")
        if not 0 < self.autosave_interval <= 86_400:
            raise BrokerError(f"autosave_interval {self.autosave_interval} must be 0-86400 s")


_TYPES: dict[str, tuple[type, ...]] = {
    "bind": (str,),
    "port": (int, bool),
    "tls_port": (int, bool),
    "certs": (str,),
    "require_client_cert": (bool,),
    "tls_version": (str,),
    "password_file": (str,),
    "allow_anonymous": (bool,),
    "max_packet_size": (int,),
    "log_level": (str,),
    "max_queued_messages": (int,),
    "receive_maximum": (int,),
    "max_inflight": (int,),
    "topic_alias_maximum": (int,),
    "max_keepalive": (int,),
    "max_session_expiry": (int,),
    "write_buffer_limit": (int,),
    "write_buffer_disconnect": (int,),
    "max_retained": (int,),
    "acl_file": (str,),
    "use_identity_as_username": (bool,),
    "use_username_as_clientid": (bool,),
    "clientid_must_match_identity": (bool,),
    "max_queued_bytes": (int,),
    "max_publish_rate": (int, float),
    "close_timeout": (int, float),
    "failed_login_delay": (int, float),
    "failed_login_delay_max": (int, float),
    "sys_interval": (int, float),
    "persistence": (str, bool),
    "persistence_location": (str,),
    "autosave_interval": (int, float),
}

ALIASES: dict[str, str] = {
    "require_certificate": "require_client_cert",
    "max_inflight_messages": "max_inflight",
}
"""mosquitto.conf's names for settings whose first name here was another; both are read."""


def load_config_file(path: Path) -> dict[str, Any]:
    """Read the `[broker]` table of a TOML file as BrokerConfig keyword arguments.

    Raises `BrokerError` naming the file and key when something is wrong.
    """
    try:
        with path.open("rb") as stream:
            document = tomllib.load(stream)
    except OSError as error:
        raise BrokerError(f"cannot read broker config {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise BrokerError(f"{path}: not valid TOML: {error}") from None
    table = document.get("broker", document)
    if not isinstance(table, dict):
        raise BrokerError(f"{path}: [broker] must be a table")
    settings: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for raw_name, value in table.items():
        name = str(raw_name)
        key = ALIASES.get(name, name)
        found = _listener(path, value) if name == "listener" else {key: value}
        for setting in found:
            other = given_as.get(setting)
            if other is not None:
                raise BrokerError(
                    f"{path}: broker.{name}: the same setting is also given as {other}"
                )
            given_as[setting] = name
        if name == "listener":
            settings.update(found)
            continue
        expected = _TYPES.get(key)
        if expected is None:
            known = ", ".join(sorted({*_TYPES, *ALIASES, "listener"}))
            raise BrokerError(f"{path}: broker.{name}: unknown setting (known: {known})")
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            raise BrokerError(f"{path}: broker.{name} = {value!r}: wrong type")
        if key in ("port", "tls_port") and isinstance(value, bool):
            if value:
                raise BrokerError(f"{path}: broker.{name} = true: give a port number or false")
            value = None
        if key == "persistence" and isinstance(value, bool):
            value = "periodic" if value else "off"  # mosquitto's `persistence true`
        if key in ("certs", "password_file", "acl_file", "persistence_location"):
            value = (path.parent / value) if not Path(value).is_absolute() else Path(value)
        settings[key] = value
    return settings


def _listener(path: Path, value: object) -> dict[str, Any]:
    """mosquitto's `listener PORT [ADDRESS]` for the plain listener: 1883 or "1883 0.0.0.0"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return {"port": value}
    if isinstance(value, str):
        words = value.split()
        if 1 <= len(words) <= 2 and words[0].isdigit():
            found: dict[str, Any] = {"port": int(words[0])}
            if len(words) == 2:
                found["bind"] = words[1]
            return found
    raise BrokerError(f'{path}: broker.listener = {value!r}: expected a port or "PORT ADDRESS"')


def build_config(file_settings: dict[str, Any], overrides: dict[str, Any]) -> BrokerConfig:
    """Merge defaults, then the config file, then command-line `overrides` (None = not given)."""
    names = {field.name for field in fields(BrokerConfig)}
    merged = {**file_settings, **{k: v for k, v in overrides.items() if v is not None}}
    unknown = set(merged) - names
    if unknown:
        raise BrokerError(f"unknown broker settings: {', '.join(sorted(unknown))}")
    return replace(BrokerConfig(), **merged) if merged else BrokerConfig()
