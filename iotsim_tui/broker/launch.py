"""What to start the bundled broker with: its listeners, who it lets in, and its defences.

`BrokerLaunch` says how one bundled broker is started (`from_network` reads it off a
profile) and turns itself into the `iotsim-tui broker` command line; `check_ports_free`
refuses a launch whose ports are taken before anything starts. `broker.process` runs it.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from iotsim_tui.errors import BrokerError
from iotsim_tui.profiles.model import Network


@dataclass(frozen=True)
class BrokerLaunch:
    """How to start the bundled broker: its listeners and who it lets in."""

    bind: str = "127.0.0.1"
    plain_port: int | None = 1883
    """The plain listener's port, None for none, 0 for any free port (see `listening`)."""
    tls_port: int | None = None
    certs_dir: Path | None = None
    """The folder with server.crt, server.key and (for client certificates) ca.crt."""
    require_client_cert: bool = False
    password_file: Path | None = None
    allow_anonymous: bool = True
    tls_version: str | None = None
    """The only TLS version the TLS listener speaks ("1.2" or "1.3"); None: both."""
    login: tuple[str, str] | None = field(default=None, repr=False)
    """A user name and password the broker lets in (a profile's credentials): written, hashed,
    to a password file of its own (0600, in a 0700 folder) when the broker starts, and
    removed when it stops. Never shown (`repr=False`) and never on a command line."""
    data_dir: Path | None = None
    """The folder of the broker's data file; None keeps everything in memory."""
    persistence: str = "periodic"
    """How the broker writes to `data_dir`: "periodic" or "sync" (see docs/broker.md)."""
    acl: str | None = None
    """The text of an ACL file (mosquitto's format), written beside the password file."""
    settings: tuple[tuple[str, bool | int | float], ...] = ()
    """More settings, named as in mosquitto.conf (`max_publish_rate`, `failed_login_delay`,
    `use_identity_as_username`, ...), written to a config file of this broker's own."""

    def __post_init__(self) -> None:
        if self.plain_port is None and self.tls_port is None:
            raise BrokerError("the bundled broker needs a plain or a TLS port")
        for port in (self.plain_port, self.tls_port):
            if port is not None and not 0 <= port <= 65535:
                raise BrokerError(f"port {port} is not between 1 and 65535 (0: any free port)")
        if self.plain_port and self.plain_port == self.tls_port:
            raise BrokerError(f"the plain and TLS listeners cannot share port {self.plain_port}")
        if self.tls_port is not None and self.certs_dir is None:
            raise BrokerError("a TLS listener needs a certificate folder")
        if self.require_client_cert and self.tls_port is None:
            raise BrokerError("client certificates can only be required on a TLS listener")
        if not self.allow_anonymous and self.password_file is None and self.login is None:
            raise BrokerError("without anonymous access the broker needs a password file")

    @classmethod
    def from_network(
        cls, network: Network, certs_dir: Path, data_dir: Path | None = None
    ) -> BrokerLaunch:
        """The broker a network's devices expect, on its effective port.

        With TLS enabled the broker listens with TLS, using the folder of the profile's CA
        file (or `certs_dir` when the profile names none), and requires client certificates
        when the profile gives its devices one; it also keeps the plain port
        `keep_plain_port` open when the profile asks for it.
        """
        broker = network.broker
        if not broker.is_local:
            raise BrokerError(
                f"network {network.name!r} uses the broker at {broker.host}, which is not "
                "this machine: the bundled broker only serves local hosts"
            )
        bind = bind_address(broker.host)
        # A profile with a user name and password gets a broker that checks them, so that a
        # wrong password shows as it would on a real broker.
        login = (broker.username, broker.password) if broker.username and broker.password else None
        acl, settings = defence_settings(network)
        if not broker.tls.enabled:
            return cls(
                bind=bind,
                plain_port=broker.effective_port,
                login=login,
                allow_anonymous=login is None,
                data_dir=data_dir,
                acl=acl,
                settings=settings,
            )
        folder = Path(broker.tls.ca).parent if broker.tls.ca else certs_dir
        return cls(
            bind=bind,
            plain_port=broker.keep_plain_port,
            tls_port=broker.effective_port,
            certs_dir=folder,
            require_client_cert=broker.tls.cert is not None,
            login=login,
            allow_anonymous=login is None,
            data_dir=data_dir,
            acl=acl,
            settings=settings,
        )

    @property
    def listeners(self) -> list[tuple[str, int]]:
        """("plain" | "tls", port) for each listener."""
        found = [("plain", self.plain_port), ("tls", self.tls_port)]
        return [(kind, port) for kind, port in found if port is not None]

    def arguments(self) -> list[str]:
        """The `iotsim-tui broker` command line for this launch."""
        args = ["broker", "--bind", self.bind]
        if self.plain_port is None:
            args.append("--no-plain")
        else:
            args += ["--port", str(self.plain_port)]
        if self.tls_port is not None:
            args += ["--tls-port", str(self.tls_port), "--certs", str(self.certs_dir)]
        if self.require_client_cert:
            args.append("--require-client-cert")
        if self.tls_version is not None:
            args += ["--tls-version", self.tls_version]
        if self.password_file is not None:
            args += ["--password-file", str(self.password_file)]
        if not self.allow_anonymous:
            args.append("--no-anonymous")
        if self.data_dir is not None:
            args += ["--persistence", self.persistence, "--data", str(self.data_dir)]
        return args


def data_folder(network_name: str) -> Path:
    """Where the app's bundled broker keeps a network's state.

    `$XDG_DATA_HOME/iotsim-tui/brokers/NAME` (`~/.local/share/...` without XDG_DATA_HOME), with
    characters other than letters, digits, `.`, `_` and `-` in the name replaced by `_`.
    """
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", network_name).lstrip(".") or "_"
    return Path(base) / "iotsim-tui" / "brokers" / safe


LOGIN_DELAY = (1.0, 30.0)
"""`login_delay` on: the first wait after a failed login, and the longest (it doubles)."""
PUBLISH_RATE = 20.0
"""`rate_limit` on: PUBLISH packets per second one client may send."""
QUEUED_MESSAGES = 100
"""`rate_limit` on: QoS 1/2 messages queued per client at most."""


def defence_settings(
    network: Network,
) -> tuple[str | None, tuple[tuple[str, bool | int | float], ...]]:
    """The ACL text and broker settings that the network's `[network.broker.defences]` ask for.

    `password` needs no setting here: a profile with a user name and password already gets a
    broker that refuses anonymous clients (`from_network`).
    """
    defences = network.broker.defences
    acl = None
    if defences.acl:
        from iotsim_tui.broker.device_acl import device_acl

        acl = device_acl(network)
    settings: list[tuple[str, bool | int | float]] = []
    tls = network.broker.tls
    if defences.identity and tls.enabled and tls.cert is not None:
        settings += [("use_identity_as_username", True), ("clientid_must_match_identity", True)]
    if defences.login_delay:
        first, longest = LOGIN_DELAY
        settings += [("failed_login_delay", first), ("failed_login_delay_max", longest)]
    if defences.rate_limit:
        settings += [("max_publish_rate", PUBLISH_RATE), ("max_queued_messages", QUEUED_MESSAGES)]
    return acl, tuple(settings)


def port_in_use_message(port: int, host: str) -> str:
    """What to tell the user when a listener's port is taken."""
    return (
        f"port {port} on {host} is already in use: another broker is running? stop it or pick "
        "another port in the network settings"
    )


def check_ports_free(launch: BrokerLaunch) -> None:
    """Raise BrokerError when something already listens on one of the launch's ports."""
    family = socket.AF_INET6 if ":" in launch.bind else socket.AF_INET
    for _, port in launch.listeners:
        if port == 0:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As the broker will: a port left in TIME_WAIT is free, a listening one is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((launch.bind, port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise BrokerError(port_in_use_message(port, launch.bind)) from None
                raise BrokerError(
                    f"cannot listen on {launch.bind}:{port}: {error.strerror or error}"
                ) from None


def bind_address(host: str) -> str:
    """The address the bundled broker listens on for a profile's broker host: the host itself
    when it is an IP address (127.0.0.2, ::1), else 127.0.0.1 (a local name: localhost)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "127.0.0.1"
    return host


def broker_listens(host: str, port: int) -> bool:
    """True when something accepts connections on host:port (a broker the app or a user
    started there already): a blocking check of at most a second."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False
