"""The `[lab]` table of a profile: scripted steps and the checks that grade a lab.

```toml
[lab]
steps = [
    { do = "start" },
    { do = "send", topic = "High_Tempe", payload = "Alert for High Temperature" },
]
checks = [
    { kind = "received", device = "TS1", topic = "High_Tempe", payload = "Alert" },
    { kind = "hidden_on_wire", payload = "Alert" },
]
```

Each check and step is one table whose `kind` (or `do`) says which other keys it takes, as
telemetry generators do. The steps are also checked as a script: a step that cannot run
where it stands (a command sent before the network is started, TLS switched on with no
certificate to serve) is reported with its line, so that nothing is started for nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any

from iotsim_tui.profiles.checks import REQUIRED, Checker, is_number
from iotsim_tui.profiles.lab_model import (
    ATTACK_NAMES,
    REFUSAL_REASONS,
    Check,
    CheckKind,
    Lab,
    Step,
    StepAction,
)
from iotsim_tui.profiles.locate import KeyPath
from iotsim_tui.profiles.model import BrokerSettings
from iotsim_tui.protocol.topics import TopicError, validate_topic_name

LAB_KEYS = ("steps", "checks")

CHECK_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (the keys it takes besides kind and name, those it requires)
    CheckKind.RECEIVED: (("device", "topic", "payload"), ("device", "topic", "payload")),
    CheckKind.CLEAR_ON_WIRE: (("payload",), ("payload",)),
    CheckKind.HIDDEN_ON_WIRE: (("payload",), ("payload",)),
    CheckKind.REFUSED: (("device", "reason"), ("device", "reason")),
    CheckKind.TLS: (("device",), ("device",)),
    CheckKind.VERIFIED: (("device",), ("device",)),
    CheckKind.LEDGER: (("device",), ()),
    CheckKind.ATTACK_SUCCEEDED: (("attack",), ("attack",)),
    CheckKind.ATTACK_REFUSED: (("attack",), ("attack",)),
    CheckKind.ATTACKER_READ_NOTHING: (("attack",), ()),
}
"""The keys of each kind of check. A new kind (an attacker reading no device data, say) is
one member of `CheckKind`, one entry here, and its evaluator in `lab.checks`."""

STEP_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    StepAction.START: (("devices",), ()),
    StepAction.STOP: (("devices",), ()),
    StepAction.WAIT: (("seconds",), ("seconds",)),
    StepAction.SEND: (("topic", "payload", "qos"), ("topic", "payload")),
    StepAction.CERTIFICATES: ((), ()),
    StepAction.TLS: (("enabled",), ()),
    StepAction.RESTART: ((), ()),
    StepAction.ATTACK: (("attack", "defence"), ("attack",)),
}
"""The keys of each step besides `do`, and those it requires."""

MAX_WAIT = 60.0
"""Seconds one wait step may last at most (a lab run stays bounded)."""
MAX_STEPS = 100


def parse_lab(
    checker: Checker,
    raw: object,
    where: KeyPath,
    device_ids: Collection[str],
    broker: BrokerSettings,
) -> Lab:
    """The `[lab]` table; `device_ids` are the network's devices (templates expanded)."""
    table = checker.table(raw, where, LAB_KEYS)
    steps: list[Step] = []
    for at, item in checker.tables(table.get("steps", []), (*where, "steps")):
        steps.append(_step(checker, item, at, device_ids))
    if len(steps) > MAX_STEPS:
        checker.report((*where, "steps"), f"has {len(steps)} steps; at most {MAX_STEPS}")
    _check_script(checker, steps, (*where, "steps"), broker)
    checks = tuple(
        _check(checker, item, at, device_ids)
        for at, item in checker.tables(table.get("checks", []), (*where, "checks"))
    )
    return Lab(tuple(steps), checks)


def _keys(
    checker: Checker,
    table: Mapping[str, Any],
    where: KeyPath,
    head: str,
    value: str,
    keys: tuple[tuple[str, ...], tuple[str, ...]],
    extra: tuple[str, ...] = (),
) -> None:
    allowed, required = keys
    for key in table:
        if key == head or key in extra or key in allowed:
            continue
        close = difflib.get_close_matches(key, [*allowed, *extra], n=1)
        takes = ", ".join([*allowed, *extra]) or "no other key"
        hint = f'did you mean "{close[0]}"?' if close else f"it takes {takes}"
        checker.report((*where, key), f'is not a key of {head} = "{value}"; {hint}')
    for key in required:
        if key not in table:
            checker.report((*where, key), f'{REQUIRED} by {head} = "{value}"')


def _device(
    checker: Checker, table: Mapping[str, Any], where: KeyPath, device_ids: Collection[str]
) -> str | None:
    if "device" not in table:
        return None
    device = checker.text(table, where, "device", "", non_empty=True)
    if device and device not in device_ids:
        _missing_device(checker, (*where, "device"), device, device_ids)
    return device or None


def _missing_device(
    checker: Checker, where: KeyPath, device: str, device_ids: Collection[str]
) -> None:
    close = difflib.get_close_matches(device, list(device_ids), n=1)
    hint = f'did you mean "{close[0]}"?' if close else "add it under [[devices]] first"
    checker.report(where, f"is not a device of this network; {hint}", device)


def _check(checker: Checker, raw: object, where: KeyPath, device_ids: Collection[str]) -> Check:
    table = checker.table(raw, where, None)
    checker.missing(table, where, "kind")
    kind = checker.choice(table, where, "kind", CheckKind, CheckKind.RECEIVED)
    if "kind" in table and kind.value == table["kind"]:
        _keys(checker, table, where, "kind", kind.value, CHECK_KEYS[kind], ("name",))
    reason = None
    if "reason" in table:
        reason = checker.text(table, where, "reason", "")
        if reason not in REFUSAL_REASONS:
            shown = ", ".join(REFUSAL_REASONS)
            checker.report((*where, "reason"), f"must be one of: {shown}", reason)
    topic = None
    if "topic" in table:
        topic = checker.text(table, where, "topic", "", non_empty=True)
        _topic_name(checker, (*where, "topic"), topic)
    return Check(
        kind=kind,
        device=_device(checker, table, where, device_ids),
        topic=topic,
        payload=checker.text(table, where, "payload", "", non_empty=True)
        if "payload" in table
        else None,
        reason=reason,
        attack=_attack(checker, table, where),
        name=checker.optional_text(table, where, "name"),
    )


def _attack(checker: Checker, table: Mapping[str, Any], where: KeyPath) -> str | None:
    if "attack" not in table:
        return None
    attack = checker.text(table, where, "attack", "")
    if attack not in ATTACK_NAMES:
        close = difflib.get_close_matches(attack, ATTACK_NAMES, n=1)
        hint = (
            f'did you mean "{close[0]}"?' if close else "must be one of: " + ", ".join(ATTACK_NAMES)
        )
        checker.report((*where, "attack"), hint, attack)
    return attack


def _topic_name(checker: Checker, where: KeyPath, topic: str) -> None:
    if not topic:
        return
    try:
        validate_topic_name(topic)
    except TopicError as error:
        checker.report(where, str(error), topic)


def _step(checker: Checker, raw: object, where: KeyPath, device_ids: Collection[str]) -> Step:
    table = checker.table(raw, where, None)
    checker.missing(table, where, "do")
    action = checker.choice(table, where, "do", StepAction, StepAction.WAIT)
    if "do" in table and action.value == table["do"]:
        _keys(checker, table, where, "do", action.value, STEP_KEYS[action])
    devices: tuple[str, ...] = ()
    if "devices" in table:
        value = table["devices"]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            checker.report((*where, "devices"), "must be an array of device ids", value)
        else:
            for index, device in enumerate(value):
                if device not in device_ids:
                    _missing_device(checker, (*where, "devices", index), device, device_ids)
            devices = tuple(value)
    seconds = None
    if "seconds" in table:
        value = table["seconds"]
        if is_number(value) and 0 < value <= MAX_WAIT:
            seconds = float(value)
        else:
            checker.report(
                (*where, "seconds"), f"must be a number of seconds above 0, at most {MAX_WAIT:g}"
            )
    topic = None
    if "topic" in table:
        topic = checker.text(table, where, "topic", "", non_empty=True)
        _topic_name(checker, (*where, "topic"), topic)
    return Step(
        do=action,
        devices=devices,
        seconds=seconds,
        topic=topic,
        payload=checker.text(table, where, "payload", "") if "payload" in table else None,
        qos=checker.qos(table, where, 1),
        enabled=checker.flag(table, where, "enabled", True),
        attack=_attack(checker, table, where),
        defence=checker.flag(table, where, "defence", False),
    )


def _check_script(
    checker: Checker, steps: list[Step], where: KeyPath, broker: BrokerSettings
) -> None:
    """Report the steps that cannot run where they stand, replaying the script's state."""
    running = False
    certificates = broker.tls.ca is not None
    for index, step in enumerate(steps):
        at = (*where, index, "do")
        action = step.do
        if action is StepAction.START and running and not step.devices:
            checker.report(at, "the network is already started here: stop it first", action.value)
        elif action in (StepAction.SEND, StepAction.STOP, StepAction.RESTART) and not running:
            checker.report(
                at,
                "cannot run before the network is started: put a start step before it",
                action.value,
            )
        elif action is StepAction.TLS and step.enabled and not certificates:
            checker.report(
                at,
                'needs certificates: put { do = "certificates" } before it '
                "(or give network.broker.tls.ca)",
                action.value,
            )
        if action is StepAction.START:
            running = True
        elif action is StepAction.STOP and not step.devices:
            running = False
        elif action is StepAction.CERTIFICATES:
            certificates = True
