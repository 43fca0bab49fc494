"""Device templates expand into devices: `{n}` becomes each device's number."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TypeVar

from iotsim_tui.profiles.model import (
    Command,
    Device,
    DeviceTemplate,
    Network,
    Subscription,
    Telemetry,
    Will,
)

_T = TypeVar("_T", Subscription, Telemetry, Command, Will)


def devices_of(network: Network, shard: tuple[int, int] | None = None) -> tuple[Device, ...]:
    """Every device of the network: the listed ones, then each template's, in order.

    With `shard` `(index, count)`, only those whose position is `index` modulo `count` (as
    `devices_of(network)[index::count]`), without making the others: a shard of a large
    fleet expands its own devices only.
    """
    if shard is None:
        expanded = [device for template in network.templates for device in expand(template)]
        return network.devices + tuple(expanded)
    index, count = shard
    chosen = list(network.devices[index::count])
    position = len(network.devices)
    for template in network.templates:
        for offset in range((index - position) % count, template.count, count):
            chosen.append(_numbered(template, template.first + offset))
        position += template.count
    return tuple(chosen)


def expand(template: DeviceTemplate) -> list[Device]:
    """The `count` devices a template stands for, numbered from `first`."""
    return [_numbered(template, n) for n in range(template.first, template.first + template.count)]


def _numbered(template: DeviceTemplate, n: int) -> Device:
    number = str(n)

    def fill(text: str) -> str:
        return text.replace("{n}", number)

    def fill_topic(item: _T) -> _T:
        changed: dict[str, Any] = {"topic": fill(item.topic)}
        if isinstance(item, Command) and item.response is not None:
            changed["response"] = replace(item.response, topic=fill(item.response.topic))
        return replace(item, **changed)

    return Device(
        name=fill(template.name),
        id=fill(template.id),
        description=fill(template.description),
        subscribe=tuple(fill_topic(s) for s in template.subscribe),
        telemetry=tuple(fill_topic(t) for t in template.telemetry),
        commands=tuple(fill_topic(c) for c in template.commands),
        state=_copy(template.state),
        will=fill_topic(template.will) if template.will else None,
    )


def _copy(state: Mapping[str, Any]) -> dict[str, Any]:
    return dict(state)
