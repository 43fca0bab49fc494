"""Value generators and payload building, without a broker."""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics
import struct
import time
from datetime import datetime

import pytest

from iotsim_tui.engine.generators import (
    PayloadBuilder,
    command_value,
    make_generator,
    set_state,
    shown,
)
from iotsim_tui.errors import ProfileError
from iotsim_tui.profiles.model import (
    Device,
    GeneratorKind,
    Telemetry,
    TelemetryFormat,
    ValueSpec,
)

DEVICE = Device(name="Thermo", id="T1", description="lab")


def values(
    spec: ValueSpec, count: int = 50, state: dict[str, object] | None = None
) -> list[object]:
    generate = make_generator(spec, DEVICE, state or {})
    return [generate() for _ in range(count)]


def test_constant_int_float_bool_choice() -> None:
    random.seed(7)
    assert values(ValueSpec(GeneratorKind.CONSTANT, value="on"), 3) == ["on"] * 3
    ints = values(ValueSpec(GeneratorKind.INT, min=1, max=3), 200)
    assert set(ints) == {1, 2, 3}
    floats = values(ValueSpec(GeneratorKind.FLOAT, min=0.5, max=1.5, round=1))
    assert all(0.5 <= f <= 1.5 and round(f, 1) == f for f in floats)  # type: ignore[operator]
    bools = values(ValueSpec(GeneratorKind.BOOL, probability=1.0), 5)
    assert bools == [True] * 5
    assert set(values(ValueSpec(GeneratorKind.CHOICE, values=("a", "b")), 100)) == {"a", "b"}


def test_walk_stays_in_bounds_and_moves_by_at_most_a_step() -> None:
    walk = values(ValueSpec(GeneratorKind.WALK, min=0, max=1, step=0.3, start=0.5, round=3), 500)
    assert all(0 <= v <= 1 for v in walk)  # type: ignore[operator]
    steps = [abs(b - a) for a, b in itertools.pairwise(walk)]  # type: ignore[operator]
    assert max(steps) <= 0.3 + 1e-3
    assert len(set(walk)) > 10


def test_sequence_cycle_counter() -> None:
    assert values(ValueSpec(GeneratorKind.SEQUENCE, values=(1, 2)), 4) == [1, 2, 2, 2]
    assert values(ValueSpec(GeneratorKind.CYCLE, values=(1, 2)), 4) == [1, 2, 1, 2]
    assert values(ValueSpec(GeneratorKind.COUNTER, start=5, step=5), 3) == [5, 10, 15]
    assert values(ValueSpec(GeneratorKind.COUNTER, step=0.5), 3) == [0, 0.5, 1.0]


def test_timestamps_fields_and_state() -> None:
    iso = values(ValueSpec(GeneratorKind.TIMESTAMP), 1)[0]
    assert datetime.fromisoformat(str(iso)).tzinfo is not None
    epoch = values(ValueSpec(GeneratorKind.TIMESTAMP, format="epoch_ms"), 1)[0]
    assert isinstance(epoch, int)
    assert epoch > 1_600_000_000_000
    assert values(ValueSpec(GeneratorKind.FIELD, name="description"), 1) == ["lab"]
    state: dict[str, object] = {"power": "on"}
    generate = make_generator(ValueSpec(GeneratorKind.STATE, name="power"), DEVICE, state)
    assert generate() == "on"
    state["power"] = "off"
    assert generate() == "off"  # reads the live state a command changed


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (ValueSpec(GeneratorKind.INT, min=1), "int generator: needs max"),
        (ValueSpec(GeneratorKind.FLOAT, min=3, max=1), "min 3.0 is above max 1.0"),
        (ValueSpec(GeneratorKind.CHOICE), "needs values"),
        (ValueSpec(GeneratorKind.TIMESTAMP, format="rfc"), "format 'rfc' is not one of"),
        (ValueSpec(GeneratorKind.FIELD, name="serial"), "name 'serial' is not one of"),
        (ValueSpec(GeneratorKind.BOOL, probability=2), "probability 2.0 is not between"),
    ],
)
def test_unusable_specs_are_named(spec: ValueSpec, problem: str) -> None:
    with pytest.raises(ProfileError, match="device T1, telemetry 't', field x") as caught:
        PayloadBuilder(Telemetry("t", fields={"x": spec}), DEVICE, {})
    assert problem in caught.value.message


def test_json_payloads_nest_and_topics_name_the_device() -> None:
    telemetry = Telemetry(
        "site/{name}/{id}",
        fields={
            "id": ValueSpec(GeneratorKind.FIELD, name="id"),
            "reading": {"value": ValueSpec(GeneratorKind.CONSTANT, value=1.5)},
        },
    )
    builder = PayloadBuilder(telemetry, DEVICE, {})
    assert builder.topic == "site/Thermo/T1"
    assert json.loads(builder.build()) == {"id": "T1", "reading": {"value": 1.5}}


def test_text_templates_are_checked_once_and_filled_each_time() -> None:
    telemetry = Telemetry(
        "t",
        format=TelemetryFormat.TEXT,
        template="{name}: {n}",
        fields={"n": ValueSpec(GeneratorKind.COUNTER)},
    )
    builder = PayloadBuilder(telemetry, DEVICE, {})
    assert [builder.build() for _ in range(2)] == [b"Thermo: 0", b"Thermo: 1"]
    bad = Telemetry("t", format=TelemetryFormat.TEXT, template="{temp}")
    with pytest.raises(ProfileError, match=r"names temp, which is not a field"):
        PayloadBuilder(bad, DEVICE, {})


def test_commands_set_state_from_their_payload() -> None:
    state: dict[str, object] = {}
    assert set_state(state, {"setpoint": "{payload}", "mode": "manual"}, " 21.5 ") == {}
    assert state == {"setpoint": 21.5, "mode": "manual"}
    assert command_value("true") is True
    assert command_value("hello") == "hello"
    assert command_value('{"a": 1}') == '{"a": 1}'


@pytest.mark.parametrize(
    "value",
    ['Küche 7 "east"\n', 21.5, 1e-7, float("nan"), -3, True, None, [1, "a"], {"b": {"c": 2}}],
)
def test_json_payloads_are_exactly_what_json_dumps_writes(value: object) -> None:
    telemetry = Telemetry("t", fields={"v": ValueSpec(GeneratorKind.CONSTANT, value=value)})
    payload = PayloadBuilder(telemetry, DEVICE, {}).build()
    assert payload == json.dumps({"v": value}, separators=(",", ":")).encode()


def test_payloads_of_numbers_are_byte_for_byte_what_json_dumps_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # These are filled into a template made once; `sample()` encodes the values as JSON.
    monkeypatch.setattr(time, "time", lambda: 1234.5)  # the sine follows the wall clock
    fields = {
        "temperature": ValueSpec(GeneratorKind.WALK, min=15, max=35, step=0.5, round=1),
        "seq": ValueSpec(GeneratorKind.COUNTER, start=0.5, step=0.1),
        "ints": ValueSpec(GeneratorKind.INT, min=-3, max=3),
        "rpm %d": ValueSpec(GeneratorKind.FLOAT, min=0, max=1e20, round=0),
        "Wärme": {
            "wave": ValueSpec(GeneratorKind.SINE, period=7, amplitude=2e-6, round=9),
            "noise": ValueSpec(GeneratorKind.GAUSSIAN, base=37, sigma=0.5, round=3),
        },
        "site": ValueSpec(GeneratorKind.CONSTANT, value="50% \u00fcber"),
        "who": ValueSpec(GeneratorKind.FIELD, name="name"),
    }
    for kinds in (fields, {"seq": fields["seq"]}, {}):
        telemetry = Telemetry("t", fields=kinds)
        templated, general = (
            PayloadBuilder(telemetry, DEVICE, {}),
            PayloadBuilder(telemetry, DEVICE, {}),
        )
        random.seed(5)
        built = [templated.build() for _ in range(300)]
        random.seed(5)
        samples = [general.sample() for _ in range(300)]
        assert built == [payload for _, payload in samples]
        assert samples[-1][1] == json.dumps(samples[-1][0], separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "spec",
    [
        ValueSpec(GeneratorKind.FLOAT, min=0, max=math.inf),  # inf: JSON's Infinity
        ValueSpec(GeneratorKind.STATE, name="mode"),
        ValueSpec(GeneratorKind.BOOL),
        ValueSpec(GeneratorKind.TIMESTAMP, format="iso"),
    ],
)
def test_other_values_are_encoded_as_json_dumps_does(spec: ValueSpec) -> None:
    builder = PayloadBuilder(
        Telemetry("t", fields={"v": spec, "n": ValueSpec(GeneratorKind.COUNTER)}),
        DEVICE,
        {"mode": True},
    )
    payload = builder.build()
    value = json.loads(payload)["v"]
    assert payload == json.dumps({"v": value, "n": 0}, separators=(",", ":")).encode()


def test_round_0_gives_whole_numbers_as_integers() -> None:
    random.seed(3)
    for kind in (GeneratorKind.WALK, GeneratorKind.FLOAT):
        got = values(ValueSpec(kind, min=60, max=80, round=0), 20)
        assert all(type(v) is int and 60 <= v <= 80 for v in got), (kind, got)
        assert "." not in json.dumps(got)
    assert all(type(v) is float for v in values(ValueSpec(GeneratorKind.WALK, min=1, max=2)))


def test_a_payload_of_the_wrong_type_leaves_the_state_as_it_was() -> None:
    profile = {"rate": 25.0, "running": True, "mode": "auto", "count": 3}
    state = dict(profile)
    changes = dict.fromkeys(profile, "{payload}")
    refused = set_state(state, changes, "hi", profile)
    assert state == {**profile, "mode": "hi"}
    assert refused == {
        "rate": 'rate takes a number, not "hi"',
        "running": 'running takes true or false, not "hi"',
        "count": 'count takes a number, not "hi"',
    }
    assert set_state(state, {"rate": "{payload}", "mode": "{payload}"}, "40", profile) == {}
    assert state["rate"] == 40.0
    assert type(state["rate"]) is float
    assert state["mode"] == "40"  # text stays text, even when it looks like a number
    assert set_state(state, {"running": "{payload}"}, " false ", profile) == {}
    assert state["running"] is False


def test_values_are_shown_in_the_profile_s_words() -> None:
    assert [shown(v) for v in (False, True, None, 40.0, 25.5, 3, "eco")] == [
        "false",
        "true",
        "null",
        "40.0",
        "25.5",
        "3",
        "eco",
    ]


def test_sine_follows_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ValueSpec(GeneratorKind.SINE, period=60, amplitude=3, base=21, phase=90, round=3)
    generate = make_generator(spec, DEVICE, {})
    now = [6000.0]  # a whole number of periods: the wave starts at its phase
    monkeypatch.setattr(time, "time", lambda: now[0])
    got = []
    for offset in (0, 15, 30, 45):
        now[0] = 6000.0 + offset
        got.append(generate())
    assert got == [24.0, 21.0, 18.0, 21.0]  # phase 90: starts at the top
    whole = make_generator(ValueSpec(GeneratorKind.SINE, period=60, round=0), DEVICE, {})
    now[0] = 6015.0
    assert whole() == 1
    assert type(whole()) is int


def test_gaussian_noise_is_seeded_centred_and_kept_within_bounds() -> None:
    spec = ValueSpec(GeneratorKind.GAUSSIAN, base=37.0, sigma=0.5, round=3)
    random.seed(11)
    first = values(spec, 2000)
    random.seed(11)
    assert values(spec, 2000) == first  # a seeded run repeats itself
    numbers = [float(v) for v in first]  # type: ignore[arg-type]
    assert statistics.mean(numbers) == pytest.approx(37.0, abs=0.05)
    assert statistics.stdev(numbers) == pytest.approx(0.5, rel=0.1)
    bounded = ValueSpec(GeneratorKind.GAUSSIAN, base=0, sigma=10, min=-1, max=1)
    assert all(-1 <= v <= 1 for v in values(bounded, 500))  # type: ignore[operator]


def test_binary_payloads_pack_fields_in_order_and_clamp_what_does_not_fit() -> None:
    telemetry = Telemetry(
        "t",
        format=TelemetryFormat.BINARY,
        struct="<hHf?4s",
        fields={
            "temp": ValueSpec(GeneratorKind.SEQUENCE, values=(215, 40_000)),
            "seq": ValueSpec(GeneratorKind.COUNTER, start=65_535),
            "volts": ValueSpec(GeneratorKind.CONSTANT, value=3.5),
            "ok": ValueSpec(GeneratorKind.CONSTANT, value=True),
            "tag": ValueSpec(GeneratorKind.FIELD, name="id"),
        },
    )
    builder = PayloadBuilder(telemetry, DEVICE, {})
    first, second = builder.build(), builder.build()
    assert len(first) == len(second) == struct.calcsize("<hHf?4s") == 13
    assert struct.unpack("<hHf?4s", first) == (215, 65_535, 3.5, True, b"T1\x00\x00")
    assert struct.unpack("<hHf?4s", second)[:2] == (32_767, 65_535)  # clamped to int16/uint16
    fixed = Telemetry("t", format=TelemetryFormat.BINARY, base64="AAEC/w==")
    assert PayloadBuilder(fixed, DEVICE, {}).build() == b"\x00\x01\x02\xff"


def test_a_route_moves_at_its_speed_along_its_waypoints_and_round_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    east = 1000 / (6_371_000 * math.pi / 180)  # degrees of longitude for 1 km on the equator
    spec = ValueSpec(GeneratorKind.ROUTE, waypoints=((0.0, 0.0), (0.0, east)), speed=100.0)
    generate = make_generator(spec, DEVICE, {})
    seen = []
    for seconds in (0, 5, 10, 15, 20):  # 1 km out at 100 m/s, 1 km back
        now[0] = 1000.0 + seconds
        seen.append(generate())
    lons = [point["lon"] for point in seen]  # type: ignore[index]
    assert lons == pytest.approx([0.0, east / 2, east, east / 2, 0.0], abs=1e-6)
    assert all(point["lat"] == 0.0 for point in seen)  # type: ignore[index]


@pytest.mark.parametrize("digits", [None, 1, 2, 3, 4])
def test_rounded_floats_formatted_at_once_are_what_json_dumps_writes(
    digits: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A template formats these to their places in one step: the text must still be repr's
    # of the rounded value (zero and its sign, trailing zeros, halves, large and small).
    fields: dict[str, ValueSpec] = {
        "walk": ValueSpec(GeneratorKind.WALK, min=-2, max=2, step=0.03, start=0, round=digits),
        "big": ValueSpec(GeneratorKind.WALK, min=-9e8, max=9e8, step=3e8, start=0, round=digits),
        "noise": ValueSpec(GeneratorKind.GAUSSIAN, base=0, sigma=0.004, round=digits),
        "held": ValueSpec(GeneratorKind.GAUSSIAN, base=5, sigma=1, min=4.5, round=digits),
        "wave": ValueSpec(GeneratorKind.SINE, period=0.37, amplitude=100, round=digits),
        "seq": ValueSpec(GeneratorKind.COUNTER, start=-3, step=7),
    }
    telemetry = Telemetry("t", fields=fields)
    templated, general = (
        PayloadBuilder(telemetry, DEVICE, {}),
        PayloadBuilder(telemetry, DEVICE, {}),
    )
    now = [1000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])  # the sine follows the wall clock
    for step in range(2000):
        now[0] = 1000.0 + step * 0.0123
        state = random.getstate()
        built = templated.build()
        random.setstate(state)
        values, payload = general.sample()
        assert built == payload == json.dumps(values, separators=(",", ":")).encode()
