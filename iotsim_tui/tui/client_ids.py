"""Client ids that two open networks would share on one broker, found before a start.

Two clients with one client id take the session from each other again and again (the
broker closes the older connection each time the other reconnects), so the app refuses
to start a device whose client id a running network already uses on the same broker.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from iotsim_tui.engine.events import DeviceStatus
from iotsim_tui.profiles.model import Network
from iotsim_tui.tui.session import OpenNetwork
from iotsim_tui.words import agreeing

SHOWN_IDS = 3
"""Client ids named in the message; the rest are counted."""
_IN_USE = (DeviceStatus.CONNECTING, DeviceStatus.CONNECTED, DeviceStatus.RECONNECTING)


@dataclass(frozen=True)
class Clash:
    """A client id the network to start shares with a running network on the same broker."""

    client_id: str
    other: OpenNetwork


def broker_address(network: Network) -> tuple[str, int]:
    """The broker as host:port, with every loopback name taken as this machine's broker."""
    broker = network.broker
    host = "localhost" if broker.is_local else broker.host.lower()
    return host, broker.effective_port


def clashes(
    starting: OpenNetwork, device_ids: Collection[str] | None, networks: Iterable[OpenNetwork]
) -> list[Clash]:
    """Client ids of the devices about to start (None: all) that a running device uses.

    Only devices of other open networks count, and only while they are connecting,
    connected or reconnecting to the same broker.
    """
    profile = starting.network
    to_start = starting.records if device_ids is None else device_ids
    prefix = profile.broker.client_id_prefix
    wanted = {
        prefix + device_id
        for device_id in to_start
        if device_id in starting.records and starting.records[device_id].status not in _IN_USE
    }
    where = broker_address(profile)
    found: list[Clash] = []
    for other in networks:
        running = other.running or other.network  # its devices use the settings it started with
        if other is starting or broker_address(running) != where:
            continue
        for record in other.records.values():
            client_id = running.broker.client_id_prefix + record.device.id
            if record.status in _IN_USE and client_id in wanted:
                found.append(Clash(client_id, other))
    return found


def network_label(opened: OpenNetwork, networks: Sequence[OpenNetwork]) -> str:
    """The network's name, and its file when another open network has the same name."""
    name = opened.network.name
    if sum(n.network.name == name for n in networks) < 2:
        return name
    return f"{name} ({opened.path.name if opened.path else 'not saved yet'})"


def clash_message(
    starting: OpenNetwork, found: Sequence[Clash], networks: Sequence[OpenNetwork]
) -> str:
    """Why the start is refused and what to do, naming both networks and the client ids."""
    ids = list(dict.fromkeys(clash.client_id for clash in found))
    named = ", ".join(ids[:SHOWN_IDS])
    if len(ids) > SHOWN_IDS:
        named += f" and {len(ids) - SHOWN_IDS} more"
    others = list(dict.fromkeys(network_label(c.other, networks) for c in found))
    broker = starting.network.broker
    ids_are = agreeing(len(ids), f"client id {named} is", f"client ids {named} are")
    running = " and ".join(others)
    where = f"{broker.host}:{broker.effective_port}"
    return (
        f"{network_label(starting, networks)} was not started: {ids_are} already in use on "
        f"{where} by {running}, which is running. Two clients with one client id take the "
        f"session from each other again and again. Stop {agreeing(len(ids), 'it', 'them')} "
        f"in {running} first, or give one of the networks another client id prefix (c: settings)."
    )
