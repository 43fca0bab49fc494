"""Payload views: chosen from the payload, JSON folded to fit, hex and base64, a JSON diff."""

from __future__ import annotations

import base64
import json

from iotsim_tui.explore.payloads import (
    View,
    changes,
    fitting_depth,
    json_lines,
    natural_view,
    numbers,
    preview,
    render,
    series,
    views_for,
)


def text(lines: list[list[tuple[str, str]]]) -> list[str]:
    return ["".join(piece for piece, _ in line) for line in lines]


def test_the_view_follows_the_payload() -> None:
    assert natural_view(b'{"t": 1}') is View.JSON
    assert natural_view(b"[1, 2]") is View.JSON
    assert natural_view(b"21.5") is View.TEXT  # a bare number reads as text
    assert natural_view(b"Alert for High Temperature") is View.TEXT
    assert natural_view(b"\x00\x01\xff") is View.BASE64
    assert natural_view(b"{not json") is View.TEXT


def test_json_is_pretty_printed_with_kinds_for_colours() -> None:
    lines = json_lines({"t": 21.5, "ok": True, "id": "TS1", "x": None})
    assert text(lines) == [
        "{",
        '  "t": 21.5,',
        '  "ok": true,',
        '  "id": "TS1",',
        '  "x": null',
        "}",
    ]
    kinds = {kind for line in lines for _, kind in line}
    assert {"key", "number", "literal", "string", "punct"} <= kinds


def test_json_too_tall_for_the_pane_folds_its_deeper_levels() -> None:
    value = {"site": "A", "rooms": [{"t": n, "h": n * 2} for n in range(30)], "n": 1}
    assert len(json_lines(value)) > 20
    depth = fitting_depth(value, 20)
    assert depth == 1
    folded = text(json_lines(value, fold_depth=depth))
    assert folded == ["{", '  "site": "A",', '  "rooms": [… 30 items],', '  "n": 1', "}"]
    assert fitting_depth(value, 1000) is None


def test_hex_dump_and_base64_show_every_byte() -> None:
    payload = bytes(range(20))
    dump = text(render(payload, View.HEX))
    assert dump[0].startswith("00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f")
    assert dump[1].startswith("00000010  10 11 12 13")
    assert len(dump) == 2
    assert text(render(b"AB\x00", View.HEX))[0].endswith("AB.")
    narrow = text(render(payload, View.HEX, width=50))
    assert len(narrow) == 3
    assert narrow[1].startswith("00000008  08 09 0a")
    encoded = "".join(text(render(payload, View.BASE64, width=16)))
    assert base64.b64decode(encoded) == payload
    assert all(len(line) <= 16 for line in text(render(payload, View.BASE64, width=16)))


def test_the_diff_marks_changed_new_and_gone_fields() -> None:
    before = {"t": 21.5, "h": 40, "door": "shut", "nest": {"a": 1, "b": 2}}
    after = {"t": 22.0, "h": 40, "nest": {"a": 1, "b": 3}, "alarm": True}
    assert changes(before, after) == {"t": "~", "nest.b": "~", "alarm": "+", "door": "-"}
    lines = text(
        render(json.dumps(after).encode(), View.DIFF, previous=json.dumps(before).encode())
    )
    assert lines[0] == "3 changed or new, gone: door"
    assert '  "t": 22.0,  ~' in lines
    assert '  "h": 40,' in lines
    assert '  "alarm": true  +' in lines
    assert text(render(b'{"a": 1}', View.DIFF))[0] == "no earlier message on this topic"
    assert text(render(b"plain", View.DIFF))[0] == "no diff: this payload is not JSON"


def test_numbers_come_from_json_fields_and_plain_numbers() -> None:
    assert numbers(b'{"t": 21.5, "ok": true, "id": "x", "p": {"v": [1, 2]}}') == {
        "t": 21.5,
        "p.v[0]": 1.0,
        "p.v[1]": 2.0,
    }
    assert numbers(b" 42 ") == {"value": 42.0}
    assert numbers(b"true") == {}
    assert numbers(b"hello") == {}
    assert numbers(b"\xff") == {}
    assert numbers(b"NaN") == {}
    assert series([b'{"t": 1}', b"junk", b'{"t": 2, "h": 5}']) == {"t": [1.0, 2.0], "h": [5.0]}


def test_the_view_key_offers_what_suits_the_payload() -> None:
    assert views_for(b'{"a": 1}') == (View.JSON, View.DIFF, View.TEXT, View.HEX, View.BASE64)
    assert views_for(b"hello") == (View.TEXT, View.HEX, View.BASE64)
    assert views_for(b"\x00\x01") == (View.BASE64, View.HEX, View.TEXT)
    assert text(render(b"a\x00b\x1bc\td", View.TEXT)) == ["a\ufffdb\ufffdc\td"]


def test_previews_fit_the_width() -> None:
    assert preview(b'{"t":  21.5,\n "h": 40}', 40) == '{"t": 21.5, "h": 40}'
    assert preview(b"abcdefghij", 5) == "abcd…"
    assert preview(b"\x00\x01", 10).startswith("0x0001")
