"""The bundled brokers the app runs for its networks: one per host and port.

A broker starts when a network that uses it is opened or started, restarts when the network's
TLS settings or certificate files changed (unless running devices still use it), and stops
when the app ends. With free ports (`iotsim-tui --free-ports`, which `serve` uses for each
browser tab) a broker listens on a free port of its own instead of the profile's, and
`reached` says where the devices, the eavesdrop relay and the console find it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import socket
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from iotsim_tui.errors import BrokerError
from iotsim_tui.ports import free_port
from iotsim_tui.profiles.model import Network

if TYPE_CHECKING:
    # Imported where used, so that the first frame is not kept waiting for them.
    from iotsim_tui.broker.launch import BrokerLaunch
    from iotsim_tui.broker.process import BundledBroker

Where = tuple[str, int]
"""A broker's host and port."""


def where_of(network: Network) -> Where:
    """The host and port the network's devices connect to."""
    return (network.broker.host, network.broker.effective_port)


class AppBrokers(Mapping[Where, "BundledBroker"]):
    """The running bundled brokers, by host and port, and what became of the others."""

    def __init__(self, *, enabled: bool, certs_dir: Path, free_ports: bool = False) -> None:
        self.enabled = enabled
        """False with --no-broker: the app starts none."""
        self.certs_dir = certs_dir
        self.free_ports = free_ports
        """True: each broker listens on a free port, not on its profile's (see `reached`)."""
        self._ports: dict[Where, int] = {}
        """With free ports: the port each profile's host and port is served on."""
        self._running: dict[Where, BundledBroker] = {}
        self._notes: dict[Where, str] = {}
        """A failed start or an exit, said in the header instead of "running"."""
        self._files: dict[Where, tuple[tuple[str, str], ...]] = {}
        """The certificate and password files each running broker read, as (name, SHA-256)."""
        self._lock = asyncio.Lock()
        """One broker start at a time: the app's start-up and a key press may race."""
        self._foreign: set[Where] = set()
        """Where a broker the app did not start listens: the devices use it, as `run` does."""
        self._notices: dict[Where, str] = {}
        """What to tell the user once about a broker (`take_notice`)."""
        self._wanted: dict[str, Where] = {}
        """Where each network (by name) last wanted its bundled broker."""

    def __getitem__(self, where: Where) -> BundledBroker:
        return self._running[where]

    def __iter__(self) -> Iterator[Where]:
        return iter(self._running)

    def __len__(self) -> int:
        return len(self._running)

    def serves(self, network: Network) -> bool:
        """True when the app should run the bundled broker for this network."""
        return self.enabled and network.broker.wants_bundled

    def reached(self, network: Network) -> Network:
        """The network with its broker where its devices reach it.

        The profile itself, unless the app gave its bundled broker a free port: then the
        same network with that port, for the relay, the devices and the console to connect
        to and the screens to show.
        """
        if not (self.free_ports and self.serves(network)):
            return network
        port = self._free_port_of(where_of(network))
        return replace(network, broker=replace(network.broker, port=port))

    def state(self, network: Network) -> str:
        """The bundled broker's state for this network, in a few words."""
        if not network.broker.wants_bundled:
            return "external broker"
        if not self.enabled:
            return "bundled broker off (--no-broker)"
        where = where_of(network)
        if where in self._foreign:
            return f"another broker on {where[0]}:{where[1]}, not the bundled one"
        if where in self._notes:
            return self._notes[where]
        running = self._running.get(where)
        if running is not None and running.running:
            return "bundled broker running"
        return "bundled broker stopped"

    async def ensure(
        self, network: Network, *, in_use: Iterable[Network] = ()
    ) -> BundledBroker | None:
        """Start the bundled broker this network needs, unless it runs already as needed.

        `in_use`: the networks whose devices run now; a broker they use is not restarted.
        Raises BrokerError in plain words (port in use, certificates missing, ...).
        """
        if not self.serves(network):
            return None
        async with self._lock:
            return await self._ensure(network, list(in_use))

    def foreign(self, network: Network) -> bool:
        """True when the network's port has a broker the app did not start (the devices and
        the broker console use it)."""
        return self.serves(network) and where_of(network) in self._foreign

    def take_notice(self, network: Network) -> str | None:
        """What to tell the user about this network's broker, once (None: nothing new)."""
        return self._notices.pop(where_of(network), None)

    async def _ensure(self, network: Network, in_use: list[Network]) -> BundledBroker | None:
        from iotsim_tui.broker.launch import BrokerLaunch, data_folder
        from iotsim_tui.broker.process import BundledBroker

        where = where_of(network)
        folder: Path | None = data_folder(network.name)
        if any(b.launch.data_dir == folder for w, b in self._running.items() if w != where):
            folder = None  # two networks of one name on two ports: one data folder is one's
        await self._release_old(network, where, in_use)
        launch = self._on_free_port(
            where, BrokerLaunch.from_network(network, self.certs_dir, folder)
        )
        files = _files_stamp(launch)
        running = self._running.get(where)
        # With free ports the profile's port is not used: whatever listens there is no matter.
        if running is None and not self.free_ports and await asyncio.to_thread(_listening, *where):
            # Someone else's broker (or one started by hand) has the port: use it and say so,
            # as `iotsim-tui run` does, rather than refuse to start the devices.
            if where not in self._foreign:
                self._foreign.add(where)
                self._notices[where] = (
                    f"A broker the app did not start already listens on {where[0]}:{where[1]}: "
                    "the devices use it, and the broker console shows its clients and counters "
                    "(the bundled broker is not started)"
                )
            return None
        self._foreign.discard(where)
        if running is not None and running.running:
            # Another network on the same host and port shares the running broker and its data.
            same = replace(running.launch, data_dir=launch.data_dir) == launch
            if same and self._files.get(where) == files:
                return running
            # TLS switched on or off on the same port, or new certificates: the broker the
            # devices would meet is not the one running.
            _refuse_restart(where, network, [n.name for n in in_use if where_of(n) == where])
            del self._running[where]
            await running.stop()
        broker = BundledBroker(launch)
        self._notes.pop(where, None)
        try:
            try:
                await broker.start()
            except BrokerError:
                if where not in self._ports:
                    raise
                # Another program took the free port meanwhile: one more try on another.
                self._ports.pop(where)
                broker = BundledBroker(self._on_free_port(where, launch))
                await broker.start()
        except BrokerError as error:
            self._notes[where] = "bundled broker failed"
            raise BrokerError(
                f"the bundled broker could not start on {where[0]}:{where[1]}: {error.message}",
                title=error.title,
            ) from None
        self._running[where] = broker
        self._files[where] = files
        return broker

    def _on_free_port(self, where: Where, launch: BrokerLaunch) -> BrokerLaunch:
        """With free ports, the launch on the port this host and port is served on (one
        picked now the first time, kept for restarts); else the launch as it is."""
        if not self.free_ports:
            return launch
        port = self._free_port_of(where)
        if launch.plain_port is not None:
            return replace(launch, plain_port=port)
        return replace(launch, tls_port=port)

    def _free_port_of(self, where: Where) -> int:
        """The free port this host and port is served on: picked the first time it is
        asked for (so the screens show it before the broker runs), then kept."""
        port = self._ports.get(where)
        if port is None:
            port = self._ports[where] = _free_port(where[0])
        return port

    async def _release_old(self, network: Network, where: Where, in_use: list[Network]) -> None:
        """Stop the broker this network used before its port changed, when nobody needs it.

        TLS switched on with a port set by hand moves the network to a new broker; the old
        plain one would otherwise listen until the app ends.
        """
        old, self._wanted[network.name] = self._wanted.get(network.name), where
        if old is None or old == where or old in self._wanted.values():
            return
        if any(where_of(n) == old or n.name == network.name for n in in_use):
            return  # running devices are still on it
        broker = self._running.pop(old, None)
        self._notes.pop(old, None)
        if broker is not None:
            await broker.stop()

    async def forget_state(
        self, network: Network, *, in_use: Iterable[Network] = ()
    ) -> BundledBroker | None:
        """Delete what the bundled broker keeps on disk for this network.

        A broker running on that folder is stopped first and started again, empty (returned).
        Raises BrokerError when running devices use it.
        """
        from iotsim_tui.broker.launch import data_folder

        folder = data_folder(network.name)
        async with self._lock:
            where = where_of(network)
            running = self._running.get(where)
            restart = running is not None and running.running and running.launch.data_dir == folder
            if restart and running is not None:
                users = [n.name for n in in_use if where_of(n) == where]
                if users:
                    raise BrokerError(
                        f"devices of {', '.join(sorted(set(users)))} use the bundled broker: "
                        "stop them (S) before forgetting its state",
                        title="Broker in use",
                    )
                del self._running[where]
                await running.stop()
            await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)
            return await self._ensure(network, []) if restart else None

    def exited(self, where: Where, code: int) -> str:
        """Record that a broker ended on its own; returns what to tell the user."""
        self._running.pop(where, None)
        self._notes[where] = f"bundled broker exited ({code})"
        return (
            f"The bundled broker on {where[0]}:{where[1]} stopped unexpectedly (exit code "
            f"{code}). Devices will keep trying to reconnect; stop and start the network (S, S) "
            "to start the broker again."
        )

    def kill(self) -> None:
        """Terminate, by their process ids, the brokers that are still running.

        The last resort when the app ends without `stop_all()` (its loop is gone).
        """
        for broker in self._running.values():
            if broker.running and broker.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(broker.pid, signal.SIGTERM)
        self._running.clear()

    async def stop_all(self) -> None:
        """Stop every broker the app started."""
        brokers = list(self._running.values())
        self._running.clear()
        for broker in brokers:
            await broker.stop()


def _listening(host: str, port: int) -> bool:
    """True when something accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _refuse_restart(where: Where, network: Network, users: list[str]) -> None:
    """Raise BrokerError when running devices (of networks `users`) use the broker."""
    if not users:
        return
    if users == [network.name]:
        advice = f"stop network {network.name} (S) and start it again to apply them"
    else:
        advice = f"stop {', '.join(sorted(set(users) - {network.name}))} first"
    raise BrokerError(
        f"the bundled broker on {where[0]}:{where[1]} must restart with new TLS settings or "
        f"certificates, but devices use it: {advice}",
        title="Broker restart needed",
    )


def _free_port(host: str) -> int:
    """A port nothing uses now at `host` (on 127.0.0.1 for a local name it cannot bind)."""
    try:
        return free_port(host)
    except OSError:  # a local name this machine cannot bind: the broker binds 127.0.0.1
        return free_port("127.0.0.1")


def _files_stamp(launch: BrokerLaunch) -> tuple[tuple[str, str], ...]:
    """What the broker's certificate and password files hold now: (name, SHA-256)."""
    paths = [launch.password_file] if launch.password_file else []
    if launch.tls_port is not None and launch.certs_dir is not None:
        paths += [launch.certs_dir / name for name in ("server.crt", "server.key", "ca.crt")]
    found = []
    for path in paths:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            continue
        found.append((str(path), digest))
    return tuple(found)
