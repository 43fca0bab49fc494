"""The line index finds where keys start in TOML that tomllib accepted."""

from __future__ import annotations

import tomllib
from textwrap import dedent

from iotsim_tui.profiles.locate import LineIndex

DOCUMENT = dedent(
    """\
    # a comment with [brackets] and key = "value"
    [network]
    name = "LAB"   # trailing [comment]
    description = '''
    [not.a.table]
    fake = "not a key"
    '''

    [network.broker]
    "quoted key" = 1
    tls.enabled = true

    [[devices]]
    name = "A"
    subscribe = [
      { topic = "a/]", qos = 1 },   # a bracket inside a string
      { topic = "b", qos = 2 },
    ]

    [[devices]]
    name = "B"
    fields = { x = { kind = "int", min = 1, max = 2 }, "y.z" = 'lit' }

    [[devices.telemetry]]
    topic = "t1"

    [[devices.telemetry]]
    topic = "t2"

    [devices.telemetry.fields]
    a = 1
    matrix = [[1, 2], [3,
      4]]
    text = "escaped \\" quote"
    after = true
    """
)


def test_the_document_is_valid_toml() -> None:
    tomllib.loads(DOCUMENT)


def test_keys_tables_and_array_items() -> None:
    index = LineIndex(DOCUMENT)
    expected = {
        ("network",): 2,
        ("network", "name"): 3,
        ("network", "description"): 4,
        ("network", "broker"): 9,
        ("network", "broker", "quoted key"): 10,
        ("network", "broker", "tls"): 11,
        ("network", "broker", "tls", "enabled"): 11,
        ("devices",): 13,
        ("devices", 0): 13,
        ("devices", 0, "name"): 14,
        ("devices", 0, "subscribe"): 15,
        ("devices", 0, "subscribe", 0): 16,
        ("devices", 0, "subscribe", 0, "qos"): 16,
        ("devices", 0, "subscribe", 1, "topic"): 17,
        ("devices", 1): 20,
        ("devices", 1, "fields", "x", "max"): 22,
        ("devices", 1, "fields", "y.z"): 22,
        ("devices", 1, "telemetry", 0): 24,
        ("devices", 1, "telemetry", 0, "topic"): 25,
        ("devices", 1, "telemetry", 1): 27,
        ("devices", 1, "telemetry", 1, "topic"): 28,
        ("devices", 1, "telemetry", 1, "fields"): 30,
        ("devices", 1, "telemetry", 1, "fields", "a"): 31,
        ("devices", 1, "telemetry", 1, "fields", "matrix", 1, 1): 33,
        ("devices", 1, "telemetry", 1, "fields", "text"): 34,
        ("devices", 1, "telemetry", 1, "fields", "after"): 35,
    }
    assert {path: index.line_of(path) for path in expected} == expected


def test_text_inside_strings_and_comments_is_not_a_key() -> None:
    index = LineIndex(DOCUMENT)
    assert index.line_of(("not",)) is None
    assert index.line_of(("network", "fake")) == 2


def test_unknown_paths_fall_back_to_the_nearest_known_one() -> None:
    index = LineIndex(DOCUMENT)
    assert index.line_of(("devices", 0, "subscribe", 1, "on")) == 17
    assert index.line_of(("devices", 1, "telemetry", 1, "qos")) == 27
    assert index.line_of(("nowhere",)) is None
    assert index.line_of(()) is None


def test_dotted_headers_and_crlf_line_ends() -> None:
    text = '[a]\r\nx = 1\r\n\r\n[ a . "b.c" ]\r\ny = 2\r\n'
    assert tomllib.loads(text) == {"a": {"x": 1, "b.c": {"y": 2}}}
    index = LineIndex(text)
    assert index.line_of(("a", "b.c", "y")) == 5
    assert index.line_of(("a", "x")) == 2


def test_multi_line_strings_with_quotes_inside_and_at_the_end() -> None:
    text = (
        'a = """one "quoted" and ""twice"" \\""" still inside\n'
        '[fake]\nb = 1""""\n'
        "c = '''it''s [x]\n"
        "d = 2''''\n"
        "e = 'literal \\'\n"
        "f = 3\n"
    )
    assert tomllib.loads(text)["f"] == 3
    index = LineIndex(text)
    assert index.line_of(("b",)) is None
    assert index.line_of(("c",)) == 4
    assert index.line_of(("e",)) == 6
    assert index.line_of(("f",)) == 7
    assert index.line_of(("fake",)) is None
