"""Profiles' newer telemetry keys (MQTT 5 properties, triggers, generators): checked and
saved as written."""

from __future__ import annotations

import re

import pytest

from iotsim_tui.errors import ProfileProblems
from iotsim_tui.profiles.load import parse_network
from iotsim_tui.profiles.model import MessageProperties, PayloadFormat, Trigger
from iotsim_tui.profiles.save import dumps_network

PROFILE = """
[network]
name = "P5"

[network.broker]
protocol = "{protocol}"

[[devices]]
name = "Pump"
id = "IP1"

[[devices.telemetry]]
topic = "h/{{id}}/t"
fields = {{ n = {{ kind = "counter" }} }}

[devices.telemetry.properties]
content_type = "application/json"
payload_format = "utf-8"
message_expiry = 60
user = {{ site = "ward 3" }}

[[devices.commands]]
topic = "h/{{id}}/cmd"
response = {{ topic = "h/{{id}}/ack", properties = {{ correlation_data = "{{id}}-x" }} }}
"""


def test_properties_load_and_save_as_written() -> None:
    network = parse_network(PROFILE.format(protocol="5"), "p.toml")
    telemetry = network.devices[0].telemetry[0]
    assert telemetry.properties == MessageProperties(
        content_type="application/json",
        payload_format=PayloadFormat.UTF8,
        message_expiry=60,
        user={"site": "ward 3"},
    )
    response = network.devices[0].commands[0].response
    assert response is not None
    assert response.properties == MessageProperties(correlation_data="{id}-x")
    assert parse_network(dumps_network(network), "saved.toml") == network


def test_properties_need_mqtt_5_and_sane_values() -> None:
    with pytest.raises(ProfileProblems) as caught:
        parse_network(PROFILE.format(protocol="3.1.1"), "p.toml")
    assert [p.key for p in caught.value.problems] == [
        "devices[0].telemetry[0].properties",
        "devices[0].commands[0].response.properties",
    ]
    assert 'needs protocol = "5"' in caught.value.message
    bad = PROFILE.format(protocol="5").replace("message_expiry = 60", "message_expiry = 0")
    bad = bad.replace('payload_format = "utf-8"', 'payload_format = "utf8"')
    bad = bad.replace('site = "ward 3"', "site = 3").replace("{{id}}-x", "{{nope}}")
    bad = bad.replace('"{id}-x"', '"{nope}"')
    with pytest.raises(ProfileProblems) as caught:
        parse_network(bad, "p.toml")
    message = caught.value.message
    assert "properties.message_expiry = 0: must be an integer from 1 to 4294967295" in message
    assert 'properties.payload_format = "utf8": must be "bytes" or "utf-8"' in message
    assert "properties.user.site = 3: must be a string" in message
    assert "unknown placeholder {nope}" in message


GENERATORS = """
[network]
name = "G"

[[devices]]
name = "Thermo"
id = "T1"

[[devices.telemetry]]
topic = "t"
fields.daily = {{ kind = "sine", period = 86400, amplitude = 3, base = 21, phase = {phase} }}
fields.noise = {{ kind = "gaussian", base = 37, sigma = {sigma}, min = 35, max = 39, round = 1 }}
"""


def test_sine_and_gaussian_generators_load_save_and_refuse_bad_values() -> None:
    network = parse_network(GENERATORS.format(phase=90, sigma=0.2), "g.toml")
    assert parse_network(dumps_network(network), "saved.toml") == network
    bad = GENERATORS.format(phase=90, sigma=-1).replace("period = 86400", "period = 0")
    with pytest.raises(ProfileProblems) as caught:
        parse_network(bad, "g.toml")
    message = caught.value.message
    assert "fields.daily.period = 0: must be a number of seconds greater than 0" in message
    assert "fields.noise.sigma = -1: must be a number of at least 0" in message
    missing = GENERATORS.format(phase=0, sigma=1).replace("base = 37, ", "")
    with pytest.raises(
        ProfileProblems, match=r"fields.noise.base: is required by kind \"gaussian\""
    ):
        parse_network(missing, "g.toml")


TRIGGERED = """
[network]
name = "T"

[[devices]]
name = "Tank"
id = "K1"

[[devices.telemetry]]
topic = "t"
interval = 1
jitter = 0
publish_when = {when}
fields = {{ level = {{ kind = "walk", min = 0, max = 100 }} }}
"""


def test_publish_when_loads_saves_and_names_what_is_wrong() -> None:
    network = parse_network(TRIGGERED.format(when='{ field = "level", change = 5 }'), "t.toml")
    telemetry = network.devices[0].telemetry[0]
    assert telemetry.publish_when == Trigger("level", change=5.0)
    assert telemetry.jitter == 0.0
    assert parse_network(dumps_network(network), "saved.toml") == network
    for when, problem in [
        ('{ field = "levl", change = 5 }', 'publish_when.field = "levl": must name one of'),
        ('{ field = "level" }', "publish_when: needs change = ... or crosses = ..."),
        ('{ field = "level", crosses = "high" }', 'crosses = "high": must be a number'),
        ('{ field = "level", change = 0 }', "change = 0: must be a number greater than 0"),
    ]:
        with pytest.raises(ProfileProblems, match=re.escape(problem)):
            parse_network(TRIGGERED.format(when=when), "t.toml")


BINARY = """
[network]
name = "B"

[[devices]]
name = "Node"
id = "N1"

[[devices.telemetry]]
topic = "t"
format = "binary"
{extra}
fields.temp = {{ kind = "walk", min = -400, max = 850, round = 0 }}
fields.seq = {{ kind = "counter" }}
"""


def test_binary_payloads_load_save_and_say_what_is_wrong() -> None:
    network = parse_network(BINARY.format(extra='struct = "<hH"'), "b.toml")
    assert network.devices[0].telemetry[0].struct == "<hH"
    assert parse_network(dumps_network(network), "saved.toml") == network
    for extra, problem in [
        ('struct = "<hHf"', 'struct = "<hHf": packs 3 items, but the telemetry has 2 fields'),
        ('struct = "<hz"', 'struct = "<hz": is not a struct format of fixed-size items'),
        ("", 'format = "binary": binary needs struct = "..." (to pack the fields) or base64'),
        ('base64 = "not base64!"', 'base64 = "not base64!": is not base64'),
        ('base64 = "AAE="', "fields: a fixed base64 payload has no fields"),
    ]:
        with pytest.raises(ProfileProblems, match=re.escape(problem)):
            parse_network(BINARY.format(extra=extra), "b.toml")
    json_with_struct = BINARY.format(extra='struct = "<hH"').replace('format = "binary"', "")
    with pytest.raises(ProfileProblems, match=re.escape('is only used with format = "binary"')):
        parse_network(json_with_struct, "b.toml")


def test_a_route_loads_saves_and_refuses_bad_waypoints() -> None:
    route = '{ kind = "route", waypoints = [[48.85, 2.35], [48.86, 2.29]], speed = 12.5 }'
    text = GENERATORS.format(phase=0, sigma=1).replace(
        "fields.noise", f"fields.where = {route}\nfields.noise"
    )
    network = parse_network(text, "g.toml")
    assert parse_network(dumps_network(network), "saved.toml") == network
    for bad in ("[[48.85, 2.35]]", "[[91, 0], [0, 0]]", '[["a", 0], [0, 0]]', "3"):
        with pytest.raises(ProfileProblems, match="must be an array of at least two"):
            parse_network(text.replace("[[48.85, 2.35], [48.86, 2.29]]", bad), "g.toml")
