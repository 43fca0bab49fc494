"""A `Network` as the tables of its TOML profile, leaving out every default value.

The inverse of `validate.build_network`: `build_network(network_document(n))` gives `n`
back. Small tables are marked `Inline` so that they are written on one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from iotsim_tui.profiles.checks import is_scalar
from iotsim_tui.profiles.lab_model import Lab, Step
from iotsim_tui.profiles.layout import Inline
from iotsim_tui.profiles.model import (
    Command,
    Device,
    DeviceTemplate,
    GeneratorKind,
    MessageProperties,
    MQTTVersion,
    Network,
    PayloadFields,
    Response,
    Subscription,
    Telemetry,
    ValueSpec,
    Will,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def network_document(network: Network) -> dict[str, Any]:
    """The tables of the profile of `network`."""
    document: dict[str, Any] = {"network": _network_table(network)}
    if network.devices:
        document["devices"] = [_device_table(device) for device in network.devices]
    if network.templates:
        document["templates"] = [_device_table(template) for template in network.templates]
    lab = _lab_table(network.lab)
    if lab:
        document["lab"] = lab
    if network.library:
        document["library"] = [
            {"name": command.name, **_changed(command, skip=("name",))}
            for command in network.library
        ]
    return document


def _lab_table(lab: Lab) -> dict[str, Any]:
    table: dict[str, Any] = {}
    if lab.steps:
        table["steps"] = [_step_table(step) for step in lab.steps]
    if lab.checks:
        table["checks"] = [
            Inline(kind=check.kind.value, **_changed(check, skip=("kind",))) for check in lab.checks
        ]
    return table


def _step_table(step: Step) -> Inline:
    table = Inline(do=step.do.value, **_changed(step, skip=("do", "devices")))
    if step.devices:
        table["devices"] = list(step.devices)
    return table


def _changed(item: DataclassInstance, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields of a dataclass that differ from their defaults (enums as their values)."""
    table: dict[str, Any] = {}
    for field in fields(item):
        if field.name in skip:
            continue
        value = getattr(item, field.name)
        default = field.default_factory() if callable(field.default_factory) else field.default
        if value == default or value is None:
            continue
        if isinstance(value, MQTTVersion):
            table[field.name] = value.label  # "5", as people write it, not the level byte
        else:
            table[field.name] = getattr(value, "value", value)
    return table


def _network_table(network: Network) -> dict[str, Any]:
    table: dict[str, Any] = {"name": network.name}
    if network.description:
        table["description"] = network.description
    broker = _changed(network.broker, skip=("tls", "defences"))
    tls = _changed(network.broker.tls)
    if tls:
        broker["tls"] = tls
    defences = _changed(network.broker.defences)
    if defences:
        broker["defences"] = defences
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
    skip = ("topic", "fields", "properties", "publish_when")
    table = {"topic": item.topic, **_changed(item, skip=skip)}
    if item.publish_when is not None:
        table["publish_when"] = Inline(_changed(item.publish_when))
    if item.fields:
        table["fields"] = _fields_table(item.fields)
    if item.properties is not None:
        table["properties"] = _properties_table(item.properties)
    return table


def _properties_table(item: MessageProperties) -> Inline:
    table = Inline(_changed(item, skip=("user",)))
    if item.user:
        table["user"] = Inline(item.user)
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
    if spec.kind is GeneratorKind.CONSTANT and _is_plain(spec.value):
        # A plain value in a fields table means a constant.
        return list(spec.value) if isinstance(spec.value, tuple) else spec.value
    table = Inline(kind=spec.kind.value)
    for field in fields(spec):
        value = getattr(spec, field.name)
        if field.name != "kind" and value is not None and value != ():
            table[field.name] = list(value) if isinstance(value, tuple) else value
    return table


def _is_plain(value: object) -> bool:
    """True for what a fields table reads back as a constant (not a table: nested fields)."""
    if isinstance(value, list | tuple):
        return all(is_scalar(item) for item in value)
    return is_scalar(value)


def _command_table(item: Command) -> dict[str, Any]:
    table = {"topic": item.topic, **_changed(item, skip=("topic", "response", "set"))}
    if item.response is not None:
        table["response"] = _response_table(item.response)
    if item.set:
        table["set"] = Inline(item.set)
    return table


def _response_table(item: Response) -> Inline:
    table = Inline(topic=item.topic, **_changed(item, skip=("topic", "properties")))
    if item.properties is not None:
        table["properties"] = _properties_table(item.properties)
    return table


def _will_table(item: Will) -> Inline:
    return Inline(topic=item.topic, **_changed(item, skip=("topic",)))
