"""Building a `Network` from a parsed TOML profile, checking every value on the way.

`build_network` walks the tables `tomllib` produced, section by section, and returns the
model; every problem it meets is recorded in the `Checker` (with a default put in place of
the bad value) so that all of them can be reported together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from typing import Any

from iotsim_tui.profiles.checks import REQUIRED, SCALAR_RULE, Checker, dotted, is_scalar
from iotsim_tui.profiles.lab import parse_lab
from iotsim_tui.profiles.lab_model import Lab
from iotsim_tui.profiles.library import parse_library
from iotsim_tui.profiles.locate import KeyPath
from iotsim_tui.profiles.model import (
    DEFENCE_NAMES,
    TLS_PORT,
    BrokerSettings,
    Command,
    Defences,
    Device,
    DeviceTemplate,
    MessageProperties,
    MQTTVersion,
    Network,
    Ramp,
    Response,
    SubscribeOn,
    Subscription,
    TelemetryAction,
    TLSSettings,
    Trigger,
    Will,
)
from iotsim_tui.profiles.properties import parse_properties
from iotsim_tui.profiles.telemetry import parse_telemetry

TOP_KEYS = ("network", "devices", "templates", "lab", "library")
NETWORK_KEYS = ("name", "description", "broker", "ramp")
BROKER_KEYS = tuple(f.name for f in dataclass_fields(BrokerSettings))
TLS_KEYS = tuple(f.name for f in dataclass_fields(TLSSettings))
RAMP_KEYS = tuple(f.name for f in dataclass_fields(Ramp))
SUBSCRIPTION_KEYS = tuple(f.name for f in dataclass_fields(Subscription))
COMMAND_KEYS = tuple(f.name for f in dataclass_fields(Command))
RESPONSE_KEYS = tuple(f.name for f in dataclass_fields(Response))
WILL_KEYS = tuple(f.name for f in dataclass_fields(Will))
TRIGGER_KEYS = tuple(f.name for f in dataclass_fields(Trigger))
DEVICE_KEYS = tuple(f.name for f in dataclass_fields(Device))
TEMPLATE_KEYS = tuple(f.name for f in dataclass_fields(DeviceTemplate))

MAX_CLIENT_ID_BYTES = 128
"""Client id = prefix + device id; brokers must take 23 bytes, AWS IoT and Azure take 128."""
MAX_TEMPLATE_COUNT = 100_000
MAX_SESSION_EXPIRY = 4_294_967_295
SESSION_EXPIRY_NEEDS_V5 = (
    'needs protocol = "5" (MQTT 3.1.1 has no session expiry: clean_start = false keeps a session)'
)
TLS_VERSIONS = ("1.2", "1.3")
KEEPALIVE_RULE = "must be an integer from 0 to 65535 (seconds; 0 turns it off)"
_BAD_ID_CHARS = re.compile(r"[+#\x00-\x1f\x7f]")


def build_network(raw: Mapping[str, Any], checker: Checker) -> Network:
    """The network a parsed profile describes; problems go to `checker`."""
    top = checker.table(raw, (), TOP_KEYS)
    if "network" not in top:
        checker.report(("network",), f"{REQUIRED}: a [network] table with a name")
    where: KeyPath = ("network",)
    network = checker.table(top.get("network", {}), where, NETWORK_KEYS)
    has_table = isinstance(top.get("network"), dict)
    name = checker.text(network, where, "name", "", required=has_table, non_empty=True)
    description = checker.text(network, where, "description", "")
    broker = parse_broker(checker, network.get("broker", {}), (*where, "broker"))
    ramp = _ramp(checker, network.get("ramp", {}), (*where, "ramp"))
    devices = tuple(
        parse_device(checker, item, at, broker)
        for at, item in checker.tables(top.get("devices", []), ("devices",))
    )
    templates = tuple(
        parse_template(checker, item, at, broker)
        for at, item in checker.tables(top.get("templates", []), ("templates",))
    )
    _check_unique_ids(checker, devices, templates)
    lab = Lab()
    if "lab" in top:
        ids = _device_ids(devices, templates)
        lab = parse_lab(checker, top["lab"], ("lab",), ids, broker)
    library = parse_library(checker, top.get("library", []), ("library",))
    return Network(name, description, broker, ramp, devices, templates, lab, library)


def _device_ids(devices: tuple[Device, ...], templates: tuple[DeviceTemplate, ...]) -> set[str]:
    ids = {device.id for device in devices}
    for template in templates:
        span = range(template.first, template.first + template.count)
        ids.update(template.id.replace("{n}", str(n)) for n in span)
    return ids


def parse_broker(checker: Checker, raw: object, where: KeyPath) -> BrokerSettings:
    """The `[network.broker]` table."""
    table = checker.table(raw, where, BROKER_KEYS)
    default = BrokerSettings()
    port = checker.integer(table, where, "port", 0, 1, 65535) if "port" in table else 0
    protocol = _protocol(checker, table, where)
    username = checker.optional_text(table, where, "username")
    password = None
    if "password" in table:
        password = checker.text(table, where, "password", "", secret=True)
        given = isinstance(table["password"], str)
        if given and username is None and protocol is MQTTVersion.V311:
            checker.report(
                (*where, "password"), 'needs a username with MQTT 3.1.1 (or protocol = "5")'
            )
    tls = _tls(checker, table.get("tls", {}), (*where, "tls"))
    kept = None
    if "keep_plain_port" in table:
        kept = checker.integer(table, where, "keep_plain_port", 0, 1, 65535) or None
        tls_port = port or TLS_PORT
        if kept == tls_port and tls.enabled:
            checker.report(
                (*where, "keep_plain_port"), f"must differ from the TLS port {tls_port}", kept
            )
    session_expiry = checker.integer(
        table, where, "session_expiry", BrokerSettings.session_expiry, 0, MAX_SESSION_EXPIRY
    )
    if session_expiry and protocol is MQTTVersion.V311:
        checker.report((*where, "session_expiry"), SESSION_EXPIRY_NEEDS_V5, session_expiry)
    return BrokerSettings(
        host=_host(checker, table, where),
        port=port or None,
        bundled=checker.flag(table, where, "bundled", default.bundled),
        keep_plain_port=kept,
        protocol=protocol,
        keepalive=checker.integer(
            table, where, "keepalive", default.keepalive, 0, 65535, KEEPALIVE_RULE
        ),
        clean_start=checker.flag(table, where, "clean_start", default.clean_start),
        session_expiry=session_expiry,
        client_id_prefix=checker.text(table, where, "client_id_prefix", ""),
        username=username,
        password=password,
        tls=tls,
        defences=_defences(checker, table, where, tls, login=bool(username and password)),
    )


def _defences(
    checker: Checker, broker: Mapping[str, Any], at: KeyPath, tls: TLSSettings, *, login: bool
) -> Defences:
    where = (*at, "defences")
    table = checker.table(broker.get("defences", {}), where, DEFENCE_NAMES)
    found = Defences(**{name: checker.flag(table, where, name, False) for name in DEFENCE_NAMES})
    if found.password and not login:
        checker.report(
            (*where, "password"), "needs username and password under [network.broker]", True
        )
    if found.identity and not (tls.enabled and tls.cert):
        checker.report(
            (*where, "identity"),
            "needs TLS on with a client certificate (tls.enabled, tls.cert, tls.key)",
            True,
        )
    return found


def _host(checker: Checker, table: Mapping[str, Any], where: KeyPath) -> str:
    host = checker.text(table, where, "host", BrokerSettings.host, non_empty=True)
    if host.strip() and (host != host.strip() or " " in host or "/" in host):
        checker.report(
            (*where, "host"), "must be a host name or an address, no spaces or '/'", host
        )
    return host


def _protocol(checker: Checker, table: Mapping[str, Any], where: KeyPath) -> MQTTVersion:
    value = table.get("protocol", MQTTVersion.V311.label)
    if value == 5 and not isinstance(value, bool | float):
        return MQTTVersion.V5
    if value in (MQTTVersion.V311.label, MQTTVersion.V5.label):
        return MQTTVersion(value)
    checker.report((*where, "protocol"), 'must be "3.1.1" or "5"', value)
    return MQTTVersion.V311


def _tls(checker: Checker, raw: object, where: KeyPath) -> TLSSettings:
    table = checker.table(raw, where, TLS_KEYS)
    default = TLSSettings()
    cert = checker.optional_text(table, where, "cert")
    key = checker.optional_text(table, where, "key")
    # Presence, not validity: a cert of the wrong type is reported once, by its own check.
    if "cert" in table and "key" not in table:
        checker.report(
            (*where, "cert"), "needs key, the private key of the client certificate", cert
        )
    if "key" in table and "cert" not in table:
        checker.report((*where, "key"), "needs cert, the client certificate of this key", key)
    min_version = default.min_version
    if "min_version" in table:
        value = table["min_version"]
        if value in TLS_VERSIONS:
            min_version = value
        else:
            checker.report((*where, "min_version"), 'must be "1.2" or "1.3"', value)
    return TLSSettings(
        enabled=checker.flag(table, where, "enabled", default.enabled),
        ca=checker.optional_text(table, where, "ca"),
        cert=cert,
        key=key,
        verify_certificate=checker.flag(
            table, where, "verify_certificate", default.verify_certificate
        ),
        verify_hostname=checker.flag(table, where, "verify_hostname", default.verify_hostname),
        min_version=min_version,
        key_log=checker.optional_text(table, where, "key_log"),
    )


def _ramp(checker: Checker, raw: object, where: KeyPath) -> Ramp:
    table = checker.table(raw, where, RAMP_KEYS)
    default = Ramp()
    return Ramp(
        rate=checker.positive(
            table,
            where,
            "rate",
            default.rate,
            "must be a number greater than 0 (new connections per second)",
        ),
        in_flight=checker.integer(table, where, "in_flight", default.in_flight, 1, None),
    )


def parse_device(checker: Checker, raw: object, where: KeyPath, broker: BrokerSettings) -> Device:
    """One `[[devices]]` table."""
    table = checker.table(raw, where, DEVICE_KEYS)
    parts = _device_parts(checker, table, where, broker, number=None)
    _check_id(checker, (*where, "id"), parts["id"], broker, longest=parts["id"])
    return Device(**parts)


def parse_template(
    checker: Checker, raw: object, where: KeyPath, broker: BrokerSettings
) -> DeviceTemplate:
    """One `[[templates]]` table: the keys of a device, plus `count` and `first`."""
    table = checker.table(raw, where, TEMPLATE_KEYS)
    count = checker.integer(table, where, "count", 1, 1, MAX_TEMPLATE_COUNT)
    checker.missing(table, where, "count")
    first = checker.integer(table, where, "first", 1, 0, None)
    parts = _device_parts(checker, table, where, broker, number=str(first))
    ident: str = parts["id"]
    if count > 1 and ident and "{n}" not in ident:
        checker.report((*where, "id"), "must contain {n} when count is more than 1", ident)
    longest = ident.replace("{n}", str(first + count - 1))
    _check_id(checker, (*where, "id"), ident, broker, longest=longest)
    return DeviceTemplate(count=count, first=first, **parts)


def _device_parts(
    checker: Checker,
    table: Mapping[str, Any],
    where: KeyPath,
    broker: BrokerSettings,
    *,
    number: str | None,
) -> dict[str, Any]:
    """The keys devices and templates share; `number` fills `{n}` in a template's topics."""
    name = checker.text(table, where, "name", "", required=True, non_empty=True)
    ident = checker.text(table, where, "id", "", required=True, non_empty=True)
    fill = {"id": ident, "name": name}
    if number is not None:
        fill = {key: value.replace("{n}", number) for key, value in fill.items()}
        fill["n"] = number
    state = _state(checker, table.get("state", {}), (*where, "state"))
    subscribe = tuple(
        _subscription(checker, item, at, fill)
        for at, item in checker.tables(table.get("subscribe", []), (*where, "subscribe"))
    )
    telemetry = tuple(
        parse_telemetry(checker, item, at, fill, state, broker.protocol)
        for at, item in checker.tables(table.get("telemetry", []), (*where, "telemetry"))
    )
    commands = tuple(
        _command(checker, item, at, fill, state, broker.protocol)
        for at, item in checker.tables(table.get("commands", []), (*where, "commands"))
    )
    will = None
    if "will" in table:
        will = _will(checker, table["will"], (*where, "will"), fill, broker)
    return {
        "name": name,
        "id": ident,
        "description": checker.text(table, where, "description", ""),
        "subscribe": subscribe,
        "telemetry": telemetry,
        "commands": commands,
        "state": state,
        "will": will,
    }


def _check_id(
    checker: Checker, where: KeyPath, ident: str, broker: BrokerSettings, *, longest: str
) -> None:
    if _BAD_ID_CHARS.search(ident):
        checker.report(
            where, "must not contain '+', '#' or control characters (ids go into topics)", ident
        )
    size = len((broker.client_id_prefix + longest).encode("utf-8"))
    if size > MAX_CLIENT_ID_BYTES:
        checker.report(
            where,
            f"makes a client id of {size} bytes with the prefix; "
            f"at most {MAX_CLIENT_ID_BYTES} (many brokers refuse longer ones)",
            ident,
        )


def _state(checker: Checker, raw: object, where: KeyPath) -> dict[str, Any]:
    table = checker.table(raw, where, None)
    for key, value in table.items():
        if not is_scalar(value):
            checker.report((*where, key), SCALAR_RULE, value)
    return {key: value for key, value in table.items() if is_scalar(value)}


def _subscription(
    checker: Checker, raw: object, where: KeyPath, fill: Mapping[str, str]
) -> Subscription:
    table = checker.table(raw, where, SUBSCRIPTION_KEYS)
    return Subscription(
        topic=checker.topic(table, where, is_filter=True, fill=fill),
        qos=checker.qos(table, where, 1),
        on=checker.choice(table, where, "on", SubscribeOn, SubscribeOn.START),
    )


def _command(
    checker: Checker,
    raw: object,
    where: KeyPath,
    fill: Mapping[str, str],
    state: Mapping[str, Any],
    protocol: MQTTVersion,
) -> Command:
    table = checker.table(raw, where, COMMAND_KEYS)
    response = None
    if "response" in table:
        response_fill = {**fill, "topic": "topic", "payload": "payload"}
        response = _response(
            checker, table["response"], (*where, "response"), response_fill, protocol
        )
    action = None
    if "telemetry" in table:
        action = checker.choice(table, where, "telemetry", TelemetryAction, TelemetryAction.STOP)
    changes = _changes(checker, table.get("set", {}), (*where, "set"), state)
    if (
        table
        and table.keys() <= set(COMMAND_KEYS)
        and not {"response", "set", "telemetry"} & table.keys()
    ):
        checker.report(
            where,
            'does nothing: give it a response, a set table or telemetry = "stop"/"start" '
            "(a topic only to listen on belongs in subscribe)",
        )
    return Command(
        topic=checker.topic(table, where, is_filter=True, fill=fill),
        qos=checker.qos(table, where, 1),
        match=checker.text(table, where, "match", "") if "match" in table else None,
        response=response,
        set=changes,
        telemetry=action,
    )


def _response(
    checker: Checker,
    raw: object,
    where: KeyPath,
    fill: Mapping[str, str],
    protocol: MQTTVersion,
) -> Response:
    table = checker.table(raw, where, RESPONSE_KEYS)
    return Response(
        topic=checker.topic(table, where, is_filter=False, fill=fill),
        payload=checker.text(table, where, "payload", Response.payload),
        qos=checker.qos(table, where, 0),
        retain=checker.flag(table, where, "retain", False),
        properties=_properties(checker, table, where, protocol, fill),
    )


def _properties(
    checker: Checker,
    table: Mapping[str, Any],
    where: KeyPath,
    protocol: MQTTVersion,
    fill: Mapping[str, str],
) -> MessageProperties | None:
    if "properties" not in table:
        return None
    return parse_properties(checker, table["properties"], (*where, "properties"), protocol, fill)


def _changes(
    checker: Checker, raw: object, where: KeyPath, state: Mapping[str, Any]
) -> dict[str, Any]:
    table = checker.table(raw, where, None)
    for key, value in table.items():
        if key not in state:
            known = ", ".join(state)
            hint = f"the device's state has: {known}" if known else "add a state table first"
            checker.report((*where, key), f"is not one of the device's state values; {hint}", value)
        elif not is_scalar(value):
            checker.report((*where, key), SCALAR_RULE, value)
    return {key: value for key, value in table.items() if is_scalar(value)}


def _will(
    checker: Checker, raw: object, where: KeyPath, fill: Mapping[str, str], broker: BrokerSettings
) -> Will:
    table = checker.table(raw, where, WILL_KEYS)
    delay = checker.integer(table, where, "delay", 0, 0, MAX_SESSION_EXPIRY)
    if delay and broker.protocol is MQTTVersion.V311:
        checker.report(
            (*where, "delay"), 'needs protocol = "5" (MQTT 3.1.1 has no will delay)', delay
        )
    return Will(
        topic=checker.topic(table, where, is_filter=False, fill=fill),
        payload=checker.text(table, where, "payload", Will.payload),
        qos=checker.qos(table, where, 0),
        retain=checker.flag(table, where, "retain", False),
        delay=delay,
    )


def _check_unique_ids(
    checker: Checker, devices: tuple[Device, ...], templates: tuple[DeviceTemplate, ...]
) -> None:
    owners: dict[str, str] = {}
    for index, device in enumerate(devices):
        where: KeyPath = ("devices", index, "id")
        if device.id in owners:
            checker.report(where, f"is already the id of {owners[device.id]}", device.id)
        elif device.id:
            owners[device.id] = dotted(where[:2])
    for index, template in enumerate(templates):
        where = ("templates", index, "id")
        if not template.id or (template.count > 1 and "{n}" not in template.id):
            continue  # already reported: the id must contain {n}
        for n in range(template.first, template.first + template.count):
            ident = template.id.replace("{n}", str(n))
            if ident in owners:
                checker.report(
                    where, f'makes "{ident}", already the id of {owners[ident]}', template.id
                )
                break
            owners[ident] = f"templates[{index}] (n = {n})"
