"""The rules for devices, their subscriptions, telemetry, commands and wills, and templates.

Each case is (line, text to add, expected message without the file name); the line numbers
can be read off the fixed lines above the added text, shown in each helper's docstring.
"""

# The tables of cases read best with one case, and its exact message, per line.
# ruff: noqa: E501

from __future__ import annotations

import pytest

from iotsim_tui.errors import ProfileProblems
from iotsim_tui.profiles.load import parse_network
from iotsim_tui.profiles.model import GeneratorKind, ValueSpec

FILE = "profiles/lab.toml"
DEVICE = '[network]\nname = "LAB"\n[[devices]]\nname = "Sensor"\nid = "TS1"\n'
"""Lines 1-5; added text starts on line 6."""
TELEMETRY = DEVICE + '[[devices.telemetry]]\ntopic = "t/{id}"\n'
"""Telemetry table on line 6, its topic on 7; added text starts on line 8."""
FIELDS = DEVICE + 'state = { power = "on" }\n[[devices.telemetry]]\ntopic = "t/{id}"\n'
FIELDS += "[devices.telemetry.fields]\n"
"""State on line 6, telemetry on 7, fields table on 9; added text starts on line 10."""
COMMAND = DEVICE + 'state = { power = "on" }\n[[devices.commands]]\ntopic = "cmd/{id}"\n'
"""State on line 6, command table on 7, its topic on 8; added text starts on line 9."""
TEMPLATE = '[network]\nname = "LAB"\n[[templates]]\nname = "Sensor {n}"\nid = "TS{n}"\ncount = 3\n'
"""Template on lines 3-6; added text starts on line 7."""

KINDS = '"constant", "int", "float", "walk", "sequence", "cycle", "choice", "bool", '
KINDS += (
    '"timestamp", "counter", "field", "state", "sine", "gaussian", "route", "replay" or "column"'
)
NO_WILDCARDS = "a topic name must not contain the wildcards '+' or '#'"


def problems(text: str) -> list[str]:
    with pytest.raises(ProfileProblems) as caught:
        parse_network(text, FILE)
    return [problem.message for problem in caught.value.problems]


DEVICE_CASES = [
    (6, 'nmae = "x"', 'devices[0].nmae: unknown key; did you mean "name"?'),
    (6, "description = 1", "devices[0].description = 1: must be a string"),
    (6, "state = 5", "devices[0].state = 5: must be a table"),
    (6, "state = { p = [1] }", "devices[0].state.p = [1]: must be a string, a number or true/false"),
    (6, 'subscribe = { topic = "a" }', 'devices[0].subscribe = { topic = "a" }: must be an array of tables ([[devices.subscribe]])'),
    (6, 'subscribe = ["a"]', 'devices[0].subscribe[0] = "a": must be a table'),
    (6, 'subscribe = [{ topic = "a/#/b" }]', "devices[0].subscribe[0].topic = \"a/#/b\": '#' must be a whole level and the last one, as in 'a/b/#'"),
    (6, 'subscribe = [{ topic = "a+/b" }]', "devices[0].subscribe[0].topic = \"a+/b\": '+' must be a whole level, as in 'a/+/c'"),
    (6, 'subscribe = [{ topic = "" }]', 'devices[0].subscribe[0].topic = "": a topic filter must not be empty'),
    (6, "subscribe = [{ qos = 1 }]", "devices[0].subscribe[0].topic: is required"),
    (6, "subscribe = [{ topic = 5 }]", "devices[0].subscribe[0].topic = 5: must be a string"),
    (6, 'subscribe = [{ topic = "a", qos = 1.0 }]', "devices[0].subscribe[0].qos = 1.0: must be 0, 1 or 2"),
    (6, 'subscribe = [{ topic = "a", qos = true }]', "devices[0].subscribe[0].qos = true: must be 0, 1 or 2"),
    (6, 'subscribe = [{ topic = "a", qos = -1 }]', "devices[0].subscribe[0].qos = -1: must be 0, 1 or 2"),
    (6, 'subscribe = [{ topic = "a", on = "boot" }]', 'devices[0].subscribe[0].on = "boot": must be "start" or "manual"'),
    (6, 'subscribe = [{ topic = "a", qoss = 1 }]', 'devices[0].subscribe[0].qoss: unknown key; did you mean "qos"?'),
    (6, 'subscribe = [{ topic = "{id}/{nope}" }]', 'devices[0].subscribe[0].topic = "{id}/{nope}": unknown placeholder {nope}; usable here: {id}, {name}'),
    (6, 'subscribe = [{ topic = "a/{n}" }]', 'devices[0].subscribe[0].topic = "a/{n}": unknown placeholder {n}; usable here: {id}, {name}'),
    (6, 'will = { topic = "w/#" }', f'devices[0].will.topic = "w/#": {NO_WILDCARDS}'),
    (6, 'will = { topic = "w", delay = 5 }', 'devices[0].will.delay = 5: needs protocol = "5" (MQTT 3.1.1 has no will delay)'),
    (6, 'will = { topic = "w", delay = -1 }', "devices[0].will.delay = -1: must be an integer from 0 to 4294967295"),
    (6, 'will = { topic = "w", qos = 3 }', "devices[0].will.qos = 3: must be 0, 1 or 2"),
    (6, 'will = { topic = "w", retain = "no" }', 'devices[0].will.retain = "no": must be true or false'),
    (6, 'will = { payload = "gone" }', "devices[0].will.topic: is required"),
    (6, 'will = "offline"', 'devices[0].will = "offline": must be a table'),
]  # fmt: skip


@pytest.mark.parametrize(("line", "text", "expected"), DEVICE_CASES)
def test_device_rules(line: int, text: str, expected: str) -> None:
    assert problems(DEVICE + text + "\n") == [f"{FILE}:{line}: {expected}"]


TELEMETRY_CASES = [
    (8, "interval = 0", "devices[0].telemetry[0].interval = 0: must be a number greater than 0 (seconds)"),
    (8, "interval = -1.5", "devices[0].telemetry[0].interval = -1.5: must be a number greater than 0 (seconds)"),
    (8, 'interval = "5"', 'devices[0].telemetry[0].interval = "5": must be a number greater than 0 (seconds)'),
    (8, "interval = inf", "devices[0].telemetry[0].interval = inf: must be a number greater than 0 (seconds)"),
    (8, "qos = 5", "devices[0].telemetry[0].qos = 5: must be 0, 1 or 2"),
    (8, 'retain = "yes"', 'devices[0].telemetry[0].retain = "yes": must be true or false'),
    (8, 'format = "xml"', 'devices[0].telemetry[0].format = "xml": must be "json", "text" or "binary"'),
    (8, 'format = "text"', 'devices[0].telemetry[0].format = "text": needs template = "..." with {field} placeholders'),
    (8, 'template = "{t}"', 'devices[0].telemetry[0].template = "{t}": is only used with format = "text"'),
    (9, 'format = "text"\ntemplate = "{t} {u}"\nfields = { t = 1 }', 'devices[0].telemetry[0].template = "{t} {u}": unknown placeholder {u}; usable here: {t}, {id}, {name}'),
    (11, 'format = "text"\ntemplate = "{t:.1f} {id} {{literal}}"\nfields = { t = 1 }\nqos = 3', "devices[0].telemetry[0].qos = 3: must be 0, 1 or 2"),
    (9, 'format = "text"\ntemplate = "{t"\nfields = { t = 1 }', 'devices[0].telemetry[0].template = "{t": is not a valid template (expected \'}\' before end of string); write {{ and }} for braces'),
    (9, 'format = "text"\ntemplate = "{}"', 'devices[0].telemetry[0].template = "{}": unknown placeholder {}; usable here: {id}, {name}'),
    (8, "fields = 3", "devices[0].telemetry[0].fields = 3: must be a table"),
    (8, "intervall = 3", 'devices[0].telemetry[0].intervall: unknown key; did you mean "interval"?'),
]  # fmt: skip


@pytest.mark.parametrize(("line", "text", "expected"), TELEMETRY_CASES)
def test_telemetry_rules(line: int, text: str, expected: str) -> None:
    assert problems(TELEMETRY + text + "\n") == [f"{FILE}:{line}: {expected}"]


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ('""', 'devices[0].telemetry[0].topic = "": a topic name must not be empty'),
        ('"t/+"', f'devices[0].telemetry[0].topic = "t/+": {NO_WILDCARDS}'),
        (
            '"t/{name}/#"',
            f'devices[0].telemetry[0].topic = "t/{{name}}/#": {NO_WILDCARDS} '
            '(it becomes "t/Sensor/#")',
        ),
        ('"t/{n}"', 'devices[0].telemetry[0].topic = "t/{n}": unknown placeholder {n}; usable here: {id}, {name}'),
    ],
)  # fmt: skip
def test_telemetry_topics_are_topic_names(topic: str, expected: str) -> None:
    text = DEVICE + f"[[devices.telemetry]]\ntopic = {topic}\n"
    assert problems(text) == [f"{FILE}:7: {expected}"]


def test_telemetry_topic_is_required() -> None:
    text = DEVICE + "[[devices.telemetry]]\ninterval = 1\n"
    assert problems(text) == [f"{FILE}:6: devices[0].telemetry[0].topic: is required"]


FIELD = "devices[0].telemetry[0].fields.x"
FIELD_CASES = [
    ('{ kind = "intt" }', f'{FIELD}.kind = "intt": must be {KINDS}'),
    ("{ kind = 3 }", f"{FIELD}.kind = 3: must be {KINDS}"),
    ('{ kind = "int", min = 1.5, max = 3 }', f"{FIELD}.min = 1.5: must be an integer"),
    ('{ kind = "int", min = 5, max = 1 }', f"{FIELD}.min = 5: must not be more than max (1)"),
    ('{ kind = "float", min = 1 }', f'{FIELD}.max: is required by kind "float"'),
    ('{ kind = "walk", max = 1 }', f'{FIELD}.min: is required by kind "walk"'),
    ('{ kind = "float", min = "a", max = 1 }', f'{FIELD}.min = "a": must be a number'),
    ('{ kind = "float", min = 0, max = nan }', f"{FIELD}.max = nan: must be a number"),
    ('{ kind = "float", min = 0, max = 1, round = 16 }', f"{FIELD}.round = 16: must be an integer from 0 to 15 (decimal places)"),
    ('{ kind = "walk", min = 0, max = 1, step = 0 }', f"{FIELD}.step = 0: must be a number greater than 0"),
    ('{ kind = "walk", min = 0, max = 1, start = 2 }', f"{FIELD}.start = 2: must be from min to max (0 to 1)"),
    ('{ kind = "walk", min = 0, max = 1, stpe = 1 }', f'{FIELD}.stpe: is not a key of kind "walk"; did you mean "step"?'),
    ('{ kind = "int", min = 0, max = 1, round = 1 }', f'{FIELD}.round: is not a key of kind "int"; it takes min, max'),
    ('{ kind = "choice", values = [] }', f"{FIELD}.values = []: must be a non-empty array of strings, numbers or true/false"),
    ('{ kind = "cycle", values = "abc" }', f'{FIELD}.values = "abc": must be a non-empty array of strings, numbers or true/false'),
    ('{ kind = "sequence" }', f'{FIELD}.values: is required by kind "sequence"'),
    ('{ kind = "bool", probability = 1.5 }', f"{FIELD}.probability = 1.5: must be a number from 0 to 1"),
    ('{ kind = "timestamp", format = "unix" }', f'{FIELD}.format = "unix": must be "iso", "epoch" or "epoch_ms"'),
    ('{ kind = "counter", step = 0 }', f"{FIELD}.step = 0: must not be 0"),
    ('{ kind = "counter", start = true }', f"{FIELD}.start = true: must be a number"),
    ('{ kind = "field", name = "serial" }', f'{FIELD}.name = "serial": must be "id", "name" or "description"'),
    ('{ kind = "state", name = "powr" }', f'{FIELD}.name = "powr": must name one of the device\'s state values; the device\'s state has: power'),
    ('{ kind = "state" }', f'{FIELD}.name: is required by kind "state"'),
    ('{ kind = "constant" }', f'{FIELD}.value: is required by kind "constant"'),
    ('{ kind = "constant", value = { a = 1 } }', f"{FIELD}.value = {{ a = 1 }}: must be a string, a number, true/false, or an array of them"),
    ('{ knd = "walk", min = 1 }', f'{FIELD}.knd = "walk": looks like a misspelt "kind" (a table without "kind" is a nested object)'),
    ("1979-05-27", f"{FIELD} = 1979-05-27: must be a generator table with a kind, a table of fields, or a plain value (string, number, true/false, or an array of them)"),
    ("[1, { a = 1 }]", f"{FIELD} = [1, {{ a = 1 }}]: must be a generator table with a kind, a table of fields, or a plain value (string, number, true/false, or an array of them)"),
]  # fmt: skip


@pytest.mark.parametrize(("value", "expected"), FIELD_CASES)
def test_generator_rules(value: str, expected: str) -> None:
    assert problems(FIELDS + f"x = {value}\n") == [f"{FILE}:10: {expected}"]


def test_a_state_generator_on_a_device_without_state() -> None:
    text = TELEMETRY + 'fields = { s = { kind = "state", name = "power" } }\n'
    assert problems(text) == [
        f'{FILE}:8: devices[0].telemetry[0].fields.s.name = "power": '
        "must name one of the device's state values; the device has no state table"
    ]


def test_fields_plain_values_nested_tables_and_generators() -> None:
    text = FIELDS + dedent_lines(
        'unit = "C"',
        "ok = true",
        "levels = [1, 2.5]",
        'kind = { kind = "constant", value = "a field named kind" }',
        "[devices.telemetry.fields.nested]",
        'power = { kind = "state", name = "power" }',
        "[devices.telemetry.fields.nested.deeper]",
        "n = { kind = 'counter' }",
    )
    (telemetry,) = parse_network(text, FILE).devices[0].telemetry
    constant = GeneratorKind.CONSTANT
    assert telemetry.fields == {
        "unit": ValueSpec(constant, value="C"),
        "ok": ValueSpec(constant, value=True),
        "levels": ValueSpec(constant, value=(1, 2.5)),
        "kind": ValueSpec(constant, value="a field named kind"),
        "nested": {
            "power": ValueSpec(GeneratorKind.STATE, name="power"),
            "deeper": {"n": ValueSpec(GeneratorKind.COUNTER)},
        },
    }


def test_a_field_name_must_not_be_empty() -> None:
    assert problems(FIELDS + '"" = 1\n') == [
        f'{FILE}:10: devices[0].telemetry[0].fields."": a field name must not be empty'
    ]


def test_a_problem_deep_in_nested_fields() -> None:
    text = FIELDS + '[devices.telemetry.fields.a.b]\nc = { kind = "int", min = 2, max = 1 }\n'
    assert problems(text) == [
        f"{FILE}:11: devices[0].telemetry[0].fields.a.b.c.min = 2: must not be more than max (1)"
    ]


def dedent_lines(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


COMMAND_CASES = [
    (9, 'set = { powr = "off" }', 'devices[0].commands[0].set.powr = "off": is not one of the device\'s state values; the device\'s state has: power'),
    (9, "set = { power = [1] }", "devices[0].commands[0].set.power = [1]: must be a string, a number or true/false"),
    (9, 'telemetry = "pause"', 'devices[0].commands[0].telemetry = "pause": must be "stop" or "start"'),
    (10, 'telemetry = "stop"\nqos = 3', "devices[0].commands[0].qos = 3: must be 0, 1 or 2"),
    (10, 'telemetry = "stop"\nmatch = 5', "devices[0].commands[0].match = 5: must be a string"),
    (9, 'response = { topic = "r/+" }', f'devices[0].commands[0].response.topic = "r/+": {NO_WILDCARDS}'),
    (9, 'response = { payload = "ok" }', "devices[0].commands[0].response.topic: is required"),
    (9, 'response = { topic = "r", paylod = "ok" }', 'devices[0].commands[0].response.paylod: unknown key; did you mean "payload"?'),
    (9, 'response = { topic = "r/{cmd}" }', 'devices[0].commands[0].response.topic = "r/{cmd}": unknown placeholder {cmd}; usable here: {id}, {name}, {topic}, {payload}'),
    (9, 'response = { topic = "r", qos = 3 }', "devices[0].commands[0].response.qos = 3: must be 0, 1 or 2"),
    (9, 'respond = { topic = "r" }', 'devices[0].commands[0].respond: unknown key; did you mean "response"?'),
    (7, 'qos = 1', 'devices[0].commands[0]: does nothing: give it a response, a set table or telemetry = "stop"/"start" (a topic only to listen on belongs in subscribe)'),
]  # fmt: skip


@pytest.mark.parametrize(("line", "text", "expected"), COMMAND_CASES)
def test_command_rules(line: int, text: str, expected: str) -> None:
    assert problems(COMMAND + text + "\n") == [f"{FILE}:{line}: {expected}"]


def test_command_topics_are_filters() -> None:
    text = DEVICE + '[[devices.commands]]\ntopic = "cmd/#/x"\ntelemetry = "stop"\n'
    assert problems(text) == [
        f'{FILE}:7: devices[0].commands[0].topic = "cmd/#/x": '
        "'#' must be a whole level and the last one, as in 'a/b/#'"
    ]


def test_a_command_with_wildcards_and_a_response_that_echoes() -> None:
    text = COMMAND.replace('"cmd/{id}"', '"cmd/{id}/+"') + dedent_lines(
        'response = { topic = "{topic}/ack", payload = "got {payload}", qos = 2, retain = true }',
        'set = { power = "{payload}" }',
        'telemetry = "start"',
        'match = "ON"',
    )
    (command,) = parse_network(text, FILE).devices[0].commands
    assert command.topic == "cmd/{id}/+"
    assert command.response is not None
    assert (command.response.topic, command.response.qos) == ("{topic}/ack", 2)
    assert command.set == {"power": "{payload}"}
    assert command.match == "ON"


ID_CASES = [
    ('"TS+1"', "must not contain '+', '#' or control characters (ids go into topics)"),
    ('"TS#1"', "must not contain '+', '#' or control characters (ids go into topics)"),
    ('"TS\\t1"', "must not contain '+', '#' or control characters (ids go into topics)"),
    ('""', "must not be empty"),
    ("1", "must be a string"),
    (
        '"' + "x" * 129 + '"',
        "makes a client id of 129 bytes with the prefix; at most 128 (many brokers refuse longer ones)",
    ),
]


@pytest.mark.parametrize(("ident", "problem"), ID_CASES)
def test_device_id_rules(ident: str, problem: str) -> None:
    text = DEVICE.replace('id = "TS1"', f"id = {ident}")
    assert problems(text) == [f"{FILE}:5: devices[0].id = {ident}: {problem}"]


def test_the_client_id_prefix_counts_towards_the_length() -> None:
    text = DEVICE.replace('id = "TS1"', 'id = "' + "x" * 126 + '"')
    parse_network(text, FILE)
    text += '[network.broker]\nclient_id_prefix = "abc"\n'
    assert problems(text) == [
        f'{FILE}:5: devices[0].id = "{"x" * 126}": makes a client id of 129 bytes with the '
        "prefix; at most 128 (many brokers refuse longer ones)"
    ]


def test_name_and_id_are_required() -> None:
    text = '[network]\nname = "LAB"\n[[devices]]\ndescription = "nameless"\n'
    assert problems(text) == [
        f"{FILE}:3: devices[0].name: is required",
        f"{FILE}:3: devices[0].id: is required",
    ]


def test_device_ids_are_unique() -> None:
    text = DEVICE + '[[devices]]\nname = "Other"\nid = "TS1"\n'
    assert problems(text) == [f'{FILE}:8: devices[1].id = "TS1": is already the id of devices[0]']


TEMPLATE_CASES = [
    (6, None, "count = 0", "templates[0].count = 0: must be an integer from 1 to 100000"),
    (6, None, "count = 100001", "templates[0].count = 100001: must be an integer from 1 to 100000"),
    (6, None, 'count = "3"', 'templates[0].count = "3": must be an integer from 1 to 100000'),
    (7, "first = -1", None, "templates[0].first = -1: must be an integer of at least 0"),
    (7, "first = 1.5", None, "templates[0].first = 1.5: must be an integer of at least 0"),
    (5, None, 'id = "TS"', 'templates[0].id = "TS": must contain {n} when count is more than 1'),
    (7, 'subscribe = [{ topic = "fleet/{m}" }]', None, 'templates[0].subscribe[0].topic = "fleet/{m}": unknown placeholder {m}; usable here: {id}, {name}, {n}'),
    (7, 'cuont = 3', None, 'templates[0].cuont: unknown key; did you mean "count"?'),
]  # fmt: skip


@pytest.mark.parametrize(("line", "extra", "replacement", "expected"), TEMPLATE_CASES)
def test_template_rules(
    line: int, extra: str | None, replacement: str | None, expected: str
) -> None:
    text = TEMPLATE
    if replacement is not None:
        key = replacement.split(" ")[0]
        original = next(row for row in TEMPLATE.splitlines() if row.startswith(key + " "))
        text = text.replace(original, replacement)
    if extra is not None:
        text += extra + "\n"
    assert problems(text) == [f"{FILE}:{line}: {expected}"]


def test_template_count_is_required() -> None:
    text = TEMPLATE.replace("count = 3\n", "")
    assert problems(text) == [f"{FILE}:3: templates[0].count: is required"]


def test_a_single_device_template_needs_no_number() -> None:
    text = TEMPLATE.replace('id = "TS{n}"', 'id = "ONLY"').replace("count = 3", "count = 1")
    assert parse_network(text, FILE).templates[0].id == "ONLY"


def test_template_ids_clash_with_other_templates() -> None:
    text = TEMPLATE + '[[templates]]\nname = "More {n}"\nid = "TS{n}"\ncount = 5\nfirst = 3\n'
    assert problems(text) == [
        f'{FILE}:9: templates[1].id = "TS{{n}}": makes "TS3", already the id of templates[0] (n = 3)'
    ]


def test_template_ids_clash_with_devices() -> None:
    text = TEMPLATE + '[[devices]]\nname = "Lone"\nid = "TS2"\n'
    assert problems(text) == [
        f'{FILE}:5: templates[0].id = "TS{{n}}": makes "TS2", already the id of devices[0]'
    ]


def test_the_longest_template_id_is_checked() -> None:
    long_id = "x" * 125 + "{n}"
    text = TEMPLATE.replace('"TS{n}"', f'"{long_id}"').replace("count = 3", "count = 1000")
    assert problems(text) == [
        f'{FILE}:5: templates[0].id = "{long_id}": makes a client id of 129 bytes with the '
        "prefix; at most 128 (many brokers refuse longer ones)"
    ]
