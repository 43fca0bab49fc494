"""The ACL the app writes for a network: each device reads and writes only its own topics.

A device's topics are those its profile names: telemetry and responses (write), its will
(write), its subscriptions and commands (read). Where a topic holds the device's client id,
the rule is a `pattern` with `%c` in its place, so it applies to that client id alone:

    # TS1 (Temperature_Sensor)
    pattern write ward/%c/temperature
    pattern read ward/%c/cmd

A topic that does not name the device (`High_Tempe`) cannot be tied to one client id: it is
written as a `pattern` without `%c`, shared by every client, under a comment that says so.
Everything else is denied, `#` and `$SYS/#` included.
"""

from __future__ import annotations

from iotsim_tui.profiles.expand import devices_of
from iotsim_tui.profiles.model import Device, Network

SHARED = "# shared: these topics do not name a device, so any client may use them"


def _fill(topic: str, device: Device) -> str:
    return topic.replace("{id}", device.id).replace("{name}", device.name)


def device_topics(device: Device) -> list[tuple[str, str]]:
    """(access, topic or filter) of one device, in the profile's order, without repeats."""
    found: list[tuple[str, str]] = []
    for telemetry in device.telemetry:
        found.append(("write", telemetry.topic))
    for command in device.commands:
        found.append(("read", command.topic))
        if command.response is not None and "{topic}" not in command.response.topic:
            found.append(("write", command.response.topic))
    for subscription in device.subscribe:
        found.append(("read", subscription.topic))
    if device.will is not None:
        found.append(("write", device.will.topic))
    seen: set[tuple[str, str]] = set()
    unique = []
    for access, topic in found:
        item = (access, _fill(topic, device))
        if item not in seen:
            seen.add(item)
            unique.append(item)
    return unique


def device_acl(network: Network) -> str:
    """The text of an ACL file in mosquitto's format for the network's devices."""
    prefix = network.broker.client_id_prefix
    own: list[str] = []
    shared: list[str] = []
    written: set[str] = set()
    for device in devices_of(network):
        client_id = prefix + device.id
        lines = []
        for access, topic in device_topics(device):
            levels = topic.split("/")
            if client_id in levels:
                own_topic = "/".join("%c" if level == client_id else level for level in levels)
                line = f"pattern {access} {own_topic}"
                if line not in written:
                    written.add(line)
                    lines.append(line)
            elif f"pattern {access} {topic}" not in written:
                written.add(f"pattern {access} {topic}")
                shared.append(f"pattern {access} {topic}")
        if lines:
            own += [f"# {device.id} ({device.name})", *lines]
    text = [f"# iotsim-tui: each device of {network.name} may use only its own topics", *own]
    if shared:
        text += [SHARED, *shared]
    return "\n".join(text) + "\n"
