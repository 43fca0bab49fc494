"""Writing network profiles: a `Network` -> short TOML, saved atomically.

Only values that differ from the defaults are written, so a saved profile reads like one
written by hand. Saving never leaves a half-written file: the text goes to a temporary file
in the same folder, is flushed to disk, and then replaces the target in one rename.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from iotsim_tui.errors import ProfileError
from iotsim_tui.profiles.layout import Inline, render
from iotsim_tui.profiles.load import load_network, parse_network
from iotsim_tui.profiles.model import (
    Command,
    Device,
    DeviceTemplate,
    GeneratorKind,
    Network,
    PayloadFields,
    Response,
    Subscription,
    Telemetry,
    ValueSpec,
    Will,
)


def dumps_network(network: Network) -> str:
    """The TOML text of a network profile, leaving out every default value."""
    document: dict[str, Any] = {"network": _network_table(network)}
    if network.devices:
        document["devices"] = [_device_table(device) for device in network.devices]
    if network.templates:
        document["templates"] = [_device_table(template) for template in network.templates]
    try:
        return render(document)
    except (TypeError, ValueError) as error:
        raise ProfileError(f"the network cannot be written as TOML: {error}") from None


def save_network(network: Network, path: Path, *, overwrite_broken: bool = False) -> None:
    """Write `network` to `path` atomically.

    A file at `path` that is not a valid profile is left alone (it may hold hand edits that
    a fix would recover) unless `overwrite_broken` is set.

    Raises:
        ProfileError: the file is broken and `overwrite_broken` is not set, or it cannot be
            written; the file at `path`, if any, is then unchanged.
    """
    text = dumps_network(network)
    try:
        parse_network(text, str(path))
    except ProfileError as error:
        raise ProfileError(
            f"{path}: not saved, because the network is not valid:\n{error.message}",
            title="Not saved",
        ) from None
    if not overwrite_broken and path.exists():
        try:
            load_network(path)
        except ProfileError as error:
            raise ProfileError(
                f"{path}: not saved, because the file there is not a valid profile and would "
                f"be lost ({error.message.splitlines()[0]}); fix it or save under another name",
                title="Not saved",
            ) from None
    try:
        _write_atomically(path, text)
    except OSError as error:
        raise ProfileError(f"{path}: cannot be written: {error.strerror or error}") from None


def _write_atomically(path: Path, text: str) -> None:
    folder = path.parent
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(OSError):
            os.chmod(temporary, _mode_of(path))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_folder(folder)


def _mode_of(path: Path) -> int:
    """Keep the permissions of the file being replaced; new files get the usual 0644 less umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_folder(folder: Path) -> None:
    # The rename itself is only durable once the folder's entry is on disk.
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _changed(item: object, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields of a dataclass that differ from their defaults (enums as their values)."""
    table: dict[str, Any] = {}
    for field in fields(item):  # type: ignore[arg-type]
        if field.name in skip:
            continue
        value = getattr(item, field.name)
        default = field.default_factory() if callable(field.default_factory) else field.default
        if value == default or value is None:
            continue
        table[field.name] = getattr(value, "value", value)
    return table


def _network_table(network: Network) -> dict[str, Any]:
    table: dict[str, Any] = {"name": network.name}
    if network.description:
        table["description"] = network.description
    broker = _changed(network.broker, skip=("tls",))
    tls = _changed(network.broker.tls)
    if tls:
        broker["tls"] = tls
    # The host is always written so a reader sees where the devices connect.
    table["broker"] = {"host": network.broker.host, **broker}
    ramp = _changed(network.ramp)
    if ramp:
        table["ramp"] = ramp
    return table


def _device_table(device: Device | DeviceTemplate) -> dict[str, Any]:
    table = _changed(device, skip=("subscribe", "telemetry", "commands", "state", "will"))
    table["name"] = device.name
    table["id"] = device.id
    if isinstance(device, DeviceTemplate):
        table["count"] = device.count
    table = {key: table[key] for key in _device_key_order(table)}
    if device.subscribe:
        table["subscribe"] = [_subscription_table(item) for item in device.subscribe]
    if device.state:
        table["state"] = Inline(device.state)
    if device.telemetry:
        table["telemetry"] = [_telemetry_table(item) for item in device.telemetry]
    if device.commands:
        table["commands"] = [_command_table(item) for item in device.commands]
    if device.will is not None:
        table["will"] = _will_table(device.will)
    return table


def _device_key_order(table: Mapping[str, Any]) -> list[str]:
    order = ["name", "id", "description", "count", "first"]
    return sorted(table, key=order.index)


def _subscription_table(item: Subscription) -> Inline:
    # The QoS is always written: it is what a reader of a subscription looks for.
    return Inline(topic=item.topic, qos=item.qos, **_changed(item, skip=("topic", "qos")))


def _telemetry_table(item: Telemetry) -> dict[str, Any]:
    table = {"topic": item.topic, **_changed(item, skip=("topic", "fields"))}
    if item.fields:
        table["fields"] = _fields_table(item.fields)
    return table


def _fields_table(payload: PayloadFields) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for name, value in payload.items():
        if isinstance(value, ValueSpec):
            table[name] = _generator_table(value)
        else:
            table[name] = _fields_table(value)
    return table


def _generator_table(spec: ValueSpec) -> object:
    if spec.kind is GeneratorKind.CONSTANT and spec.value is not None:
        # A plain value in a fields table means a constant.
        return list(spec.value) if isinstance(spec.value, tuple) else spec.value
    table = Inline(kind=spec.kind.value)
    for field in fields(spec):
        value = getattr(spec, field.name)
        if field.name != "kind" and value is not None and value != ():
            table[field.name] = list(value) if isinstance(value, tuple) else value
    return table


def _command_table(item: Command) -> dict[str, Any]:
    table = {"topic": item.topic, **_changed(item, skip=("topic", "response", "set"))}
    if item.response is not None:
        table["response"] = _response_table(item.response)
    if item.set:
        table["set"] = Inline(item.set)
    return table


def _response_table(item: Response) -> Inline:
    return Inline(topic=item.topic, **_changed(item, skip=("topic",)))


def _will_table(item: Will) -> Inline:
    return Inline(topic=item.topic, **_changed(item, skip=("topic",)))
