"""Running one attack for real: a bundled broker with its defence on or off, the devices, and
the attacker.

`run_attack` starts the bundled broker on a free loopback port with the settings the attack's
scenario needs (its defence on or off, nothing else changed), starts the network's devices
(the first `MAX_DEVICES`), lets the attacker do its move (`attack_moves`), and stops
everything again. Certificates, the ACL and the password file live in a private temporary
folder removed afterwards; the profile is never changed, and no broker but the one started
here is ever touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from iotsim_tui.broker.device_acl import device_acl
from iotsim_tui.broker.launch import LOGIN_DELAY, PUBLISH_RATE, QUEUED_MESSAGES, BrokerLaunch
from iotsim_tui.broker.process import BundledBroker
from iotsim_tui.engine.events import DeviceStatus, Event, MessageIn, StatusChanged
from iotsim_tui.engine.simulation import Simulation
from iotsim_tui.errors import UsageError
from iotsim_tui.lab.attacker import ATTACKER_PREFIX, AttackTarget, TargetRefused, is_loopback
from iotsim_tui.lab.attacks import WORDS, Attack, AttackOutcome
from iotsim_tui.profiles.expand import devices_of
from iotsim_tui.profiles.model import Defences, Device, Network, SubscribeOn, TLSSettings

MAX_DEVICES = 10
"""Devices an attack run starts at most (the first ones of the network)."""
SETTLE_TIMEOUT = 15.0
"""Seconds the devices may take to connect and subscribe, on a loaded machine."""
WEAK_LOGIN = ("iotsim", "dragon")
"""The login a password-guessing run gives the devices when the profile has none."""


def refuse_remote(network: Network) -> None:
    """Raise TargetRefused unless the network's broker is this machine's loopback."""
    host = network.broker.host
    if not is_loopback(host):
        raise TargetRefused(
            f"network {network.name!r} uses the broker at {host}, which is not this machine's "
            "loopback: attacks only run against a broker iotsim-tui starts itself on loopback"
        )


def target_device(network: Network, device_id: str | None = None) -> Device:
    """The device an attack aims at: `device_id`, or the network's first."""
    devices = devices_of(network)
    if not devices:
        raise UsageError(f"network {network.name!r} has no device to attack")
    if device_id is None:
        return devices[0]
    for device in devices:
        if device.id == device_id:
            return device
    raise UsageError(f"network {network.name!r} has no device {device_id!r}")


@dataclass
class Scene:
    """Everything one attack run started: the broker, the devices, what they reported."""

    attack: Attack
    defence: bool
    network: Network
    """The network as its devices connect in this run (loopback, the run's port)."""
    target: Device
    broker: BundledBroker
    simulation: Simulation
    folder: Path
    login: tuple[str, str] | None
    """The devices' user name and password in this run, if any."""
    attacker_tls: ssl.SSLContext | None = None
    received: list[MessageIn] = field(default_factory=list)
    statuses: list[StatusChanged] = field(default_factory=list)
    news: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def endpoint(self) -> AttackTarget:
        """Where the attacker connects: the run's own broker, nothing else."""
        return AttackTarget(self.broker, "tls" if self.network.broker.tls.enabled else "plain")

    @property
    def client_id(self) -> str:
        """The target device's MQTT client id."""
        return self.network.broker.client_id_prefix + self.target.id

    def status_of(self, device_id: str) -> DeviceStatus:
        """A device's status now."""
        return self.simulation.device(device_id).status

    def take(self, batch: list[Event]) -> None:
        """Keep what the moves look at (bounded: the flood's arrivals are only counted)."""
        for event in batch:
            if isinstance(event, MessageIn):
                if len(self.received) < 2000:
                    self.received.append(event)
            elif isinstance(event, StatusChanged):
                self.statuses.append(event)
        self.news.set()

    async def until(self, done: Callable[[], bool], seconds: float) -> bool:
        """Wait until `done()` holds (looking again at each piece of news) or time runs out."""
        deadline = time.monotonic() + seconds
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.news.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.news.wait(), min(left, 0.1))
        return True

    def settled(self, device_ids: list[str]) -> bool:
        """True when each device is connected and subscribed (or has failed)."""
        for device_id in device_ids:
            view = self.simulation.device(device_id)
            if view.status is DeviceStatus.ERROR:
                continue
            if view.status is not DeviceStatus.CONNECTED:
                return False
            device = next(d for d in devices_of(self.network) if d.id == device_id)
            topics = {s.topic for s in device.subscribe if s.on is SubscribeOn.START}
            wanted = len(topics | {c.topic for c in device.commands})
            if sum(s.since is not None for s in view.subscriptions) < wanted:
                return False
        return True

    def attacker_log(self) -> tuple[str, ...]:
        """The broker's log lines that name an attacker."""
        return tuple(line for line in self.broker.log if ATTACKER_PREFIX in line)[-8:]


def _scenario(
    attack: Attack, network: Network, target: Device, folder: Path, port: int, defence: bool
) -> tuple[Network, BrokerLaunch, tuple[str, str] | None, ssl.SSLContext | None]:
    """The network the devices use and the broker launch for one attack, defence on or off."""
    broker = network.broker
    bind = broker.host if broker.host not in ("localhost",) else "127.0.0.1"
    login = (broker.username, broker.password) if broker.username and broker.password else None
    allow_anonymous = True
    acl = None
    settings: list[tuple[str, bool | int | float]] = []
    tls = TLSSettings()
    attacker_tls = None
    tls_port: int | None = None
    match attack.defence:
        case "password":
            if defence:
                login = login or ("iotsim-devices", secrets.token_urlsafe(12))
                allow_anonymous = False
        case "acl":
            if defence:
                acl = device_acl(replace(network, broker=replace(broker, host=bind)))
        case "identity":
            if defence:
                tls, attacker_tls = _identity_certs(folder, network, target)
                tls_port = port
                settings += [
                    ("use_identity_as_username", True),
                    ("clientid_must_match_identity", True),
                ]
        case "login_delay":
            login = login or WEAK_LOGIN
            allow_anonymous = False
            first, longest = LOGIN_DELAY if defence else (0.0, 0.0)
            settings += [("failed_login_delay", first), ("failed_login_delay_max", longest)]
        case "rate_limit":
            if defence:
                settings += [
                    ("max_publish_rate", PUBLISH_RATE),
                    ("max_queued_messages", QUEUED_MESSAGES),
                ]
    username, password = login if login is not None else (None, None)
    devices_broker = replace(
        broker,
        host=bind,
        port=port,
        bundled=True,
        keep_plain_port=None,
        username=username,
        password=password,
        tls=tls,
        defences=Defences(),
    )
    launch = BrokerLaunch(
        bind=bind,
        plain_port=None if tls_port else port,
        tls_port=tls_port,
        certs_dir=folder if tls_port else None,
        require_client_cert=bool(tls_port),
        login=login,
        allow_anonymous=allow_anonymous,
        acl=acl,
        settings=tuple(settings),
    )
    return replace(network, broker=devices_broker), launch, login, attacker_tls


def _identity_certs(
    folder: Path, network: Network, target: Device
) -> tuple[TLSSettings, ssl.SSLContext]:
    """A CA, the broker's certificate, the target's (CN = its client id) and the attacker's own."""
    from iotsim_tui.certs.authority import init_certs, issue_client

    init_certs(folder, force=True)
    client_id = network.broker.client_id_prefix + target.id
    device = issue_client(folder, client_id, force=True)
    stolen = issue_client(folder, ATTACKER_PREFIX + "takeover", force=True)
    tls = TLSSettings(
        enabled=True, ca=str(folder / "ca.crt"), cert=str(device.cert), key=str(device.key)
    )
    context = ssl.create_default_context(cafile=str(folder / "ca.crt"))
    context.load_cert_chain(str(stolen.cert), str(stolen.key))
    return tls, context


async def run_attack(
    attack: Attack,
    network: Network,
    *,
    defence: bool,
    device_id: str | None = None,
    say: Callable[[str], None] | None = None,
) -> AttackOutcome:
    """Run `attack` against a bundled broker of its own, its defence on or off.

    Raises:
        TargetRefused: The network's broker is not on this machine's loopback.
        UsageError: The network cannot be attacked so (no device, no command topic...).
        BrokerError: The broker could not start.
    """
    from iotsim_tui.lab.attack_moves import MOVES
    from iotsim_tui.ports import free_port

    refuse_remote(network)
    target = target_device(network, device_id)
    tell = say or (lambda _line: None)
    with tempfile.TemporaryDirectory(prefix="iotsim-attack-") as workdir:
        folder = Path(workdir)
        bind = network.broker.host if network.broker.host != "localhost" else "127.0.0.1"
        port = free_port(bind)
        devices_network, launch, login, attacker_tls = await asyncio.to_thread(
            _scenario, attack, network, target, folder / "certs", port, defence
        )
        state = "on" if defence else "off"
        tell(f"{attack.title}: defence {attack.defence} {state}, broker on {bind}:{port}")
        async with BundledBroker(launch) as broker:
            ids = [d.id for d in devices_of(network)][:MAX_DEVICES]
            if attack.defence == "identity" and defence:
                ids = [target.id]  # only the target holds a certificate in this run
            if target.id not in ids:
                ids.append(target.id)
            async with Simulation(devices_network, device_ids=ids) as simulation:
                scene = Scene(
                    attack,
                    defence,
                    devices_network,
                    target,
                    broker,
                    simulation,
                    folder,
                    login,
                    attacker_tls,
                )
                reader = asyncio.create_task(_read(scene))
                try:
                    await simulation.start(ids)
                    await scene.until(lambda: scene.settled(ids), SETTLE_TIMEOUT)
                    tell("devices: " + ", ".join(f"{i} {scene.status_of(i).value}" for i in ids))
                    outcome = await MOVES[attack.name](scene)
                finally:
                    await simulation.stop()
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader
            return replace(outcome, broker_log=scene.attacker_log())


async def _read(scene: Scene) -> None:
    async for batch in scene.simulation.events():
        scene.take(batch)


def word_position(password: str | None) -> int | None:
    """Where a password is in the guesser's list (1-based); None when it is not there."""
    if password is None or password not in WORDS:
        return None
    return WORDS.index(password) + 1
