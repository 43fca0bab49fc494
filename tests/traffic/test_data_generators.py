"""The `replay` and `column` generators: captured data drives simulated devices."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from iotsim_tui.engine.generators import PayloadBuilder, make_generator
from iotsim_tui.errors import ProfileProblems
from iotsim_tui.profiles.load import parse_network
from iotsim_tui.profiles.model import Device, GeneratorKind, ValueSpec
from iotsim_tui.profiles.save import dumps_network

DEVICE = Device(name="Thermo", id="T1")

RECORDING = "".join(
    json.dumps({"time": 1.0 + i, "topic": topic, "qos": 0, "retain": False, "payload": payload})
    + "\n"
    for i, (topic, payload) in enumerate(
        [
            ("hall/T1/t", '{"reading": {"temperature": 21.5}, "unit": "C"}'),
            ("hall/T2/t", '{"reading": {"temperature": 30.0}}'),
            ("hall/T1/t", '{"reading": {"temperature": 21.75}}'),
            ("hall/T1/t", "not json"),
            ("hall/T1/t", '{"reading": {"temperature": 22}}'),
        ]
    )
)

PROFILE = """
[network]
name = "Data"

[[devices]]
name = "Thermo"
id = "T1"

[[devices.telemetry]]
topic = "hall/{{id}}/t"
fields = {{ temperature = {{ {generator} }} }}
"""


def test_replay_plays_one_field_of_one_topic_round_and_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("hall.jsonl").write_text(RECORDING)
    spec = ValueSpec(GeneratorKind.REPLAY, file="hall.jsonl", topic="hall/T1/#", column=
                     "reading.temperature")  # fmt: skip
    generate = make_generator(spec, DEVICE, {})
    assert [generate() for _ in range(5)] == [21.5, 21.75, 22, 21.5, 21.75]
    whole = make_generator(ValueSpec(GeneratorKind.REPLAY, file="hall.jsonl"), DEVICE, {})
    assert whole() == {"reading": {"temperature": 21.5}, "unit": "C"}
    assert [whole() for _ in range(3)][-1] == "not json"


def test_column_reads_csv_numbers_and_jsonl_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("readings.csv").write_text("time,temperature,state\n1,21.5,ok\n2,,ok\n3,22,hot\n")
    Path("readings.jsonl").write_text('{"state": "ok"}\n{"other": 1}\n{"state": "hot"}\n')
    temperature = make_generator(
        ValueSpec(GeneratorKind.COLUMN, file="readings.csv", column="temperature"), DEVICE, {}
    )
    assert [temperature() for _ in range(3)] == [21.5, 22, 21.5]
    state = make_generator(
        ValueSpec(GeneratorKind.COLUMN, file="readings.jsonl", column="state"), DEVICE, {}
    )
    assert [state() for _ in range(3)] == ["ok", "hot", "ok"]


def test_a_device_publishes_the_recorded_values_whatever_the_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("hall.jsonl").write_text(RECORDING)
    generator = (
        'kind = "replay", file = "hall.jsonl", topic = "hall/T1/t", column = "reading.temperature"'
    )
    network = parse_network(PROFILE.format(generator=generator), "data.toml")
    device = network.devices[0]
    payloads = []
    for seed in (1, 2):
        random.seed(seed)
        builder = PayloadBuilder(device.telemetry[0], device, {})
        payloads.append([json.loads(builder.build()) for _ in range(4)])
    assert payloads[0] == payloads[1]
    assert [p["temperature"] for p in payloads[0]] == [21.5, 21.75, 22, 21.5]
    assert 'file = "hall.jsonl"' in dumps_network(network)


@pytest.mark.parametrize(
    ("generator", "problem"),
    [
        ('kind = "replay", file = "missing.jsonl"', "cannot read missing.jsonl"),
        ('kind = "replay", file = "hall.jsonl", topic = "hall/+/x"', "holds no message on"),
        ('kind = "replay", file = "bad.jsonl"', "bad.jsonl:2: not JSON"),
        ('kind = "column", file = "readings.csv", column = "humidity"', "no column 'humidity'"),
        ('kind = "column", file = "readings.csv"', 'column: is required by kind "column"'),
        ('kind = "replay", file = "hall.jsonl", speed = 2', 'not a key of kind "replay"'),
    ],
)
def test_bad_data_generators_are_named_by_file_line_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, generator: str, problem: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("hall.jsonl").write_text(RECORDING)
    Path("bad.jsonl").write_text(RECORDING.splitlines()[0] + "\n{oops\n")
    Path("readings.csv").write_text("time,temperature\n1,21.5\n")
    with pytest.raises(ProfileProblems) as caught:
        parse_network(PROFILE.format(generator=generator), "data.toml")
    message = caught.value.message
    assert message.startswith("data.toml:11: devices[0].telemetry[0].fields.temperature")
    assert problem in message
