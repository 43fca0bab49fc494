"""Templates expand into numbered devices; ids stay unique across them."""

from __future__ import annotations

from textwrap import dedent

import pytest

from iotsim_tui.errors import ProfileProblems
from iotsim_tui.profiles.expand import devices_of
from iotsim_tui.profiles.load import parse_network

TEXT = dedent(
    """\
    [network]
    name = "WARD"

    [[devices]]
    name = "Desk"
    id = "DESK"

    [[templates]]
    name = "Bed {n}"
    id = "BED{n}"
    description = "bed number {n}"
    count = 3
    first = 7
    state = { mode = "on" }
    subscribe = [{ topic = "ward/{n}/all", qos = 2, on = "manual" }]
    will = { topic = "ward/{n}/gone" }

    [[templates.telemetry]]
    topic = "ward/{n}/{id}"
    fields = { mode = { kind = "state", name = "mode" } }

    [[templates.commands]]
    topic = "ward/{n}/cmd"
    set = { mode = "{payload}" }
    response = { topic = "ward/{n}/ack", payload = "bed {n}: {payload}" }
    """
)


def test_templates_expand_after_the_listed_devices() -> None:
    devices = devices_of(parse_network(TEXT, "ward.toml"))
    assert [device.id for device in devices] == ["DESK", "BED7", "BED8", "BED9"]
    assert [device.name for device in devices[1:]] == ["Bed 7", "Bed 8", "Bed 9"]
    bed = devices[2]
    assert bed.description == "bed number 8"
    assert bed.subscribe[0].topic == "ward/8/all"
    assert bed.telemetry[0].topic == "ward/8/{id}"
    assert bed.commands[0].topic == "ward/8/cmd"
    assert bed.commands[0].response is not None
    assert bed.commands[0].response.topic == "ward/8/ack"
    # Payloads keep their placeholders: {n} is for names, ids and topics.
    assert bed.commands[0].response.payload == "bed {n}: {payload}"
    assert bed.will is not None
    assert bed.will.topic == "ward/8/gone"
    assert bed.state == {"mode": "on"}
    assert bed.state is not devices[1].state


def test_a_device_clashing_with_a_template_is_refused() -> None:
    text = TEXT.replace('id = "DESK"', 'id = "BED9"')
    with pytest.raises(ProfileProblems) as caught:
        parse_network(text, "ward.toml")
    assert str(caught.value) == (
        'ward.toml:10: templates[0].id = "BED{n}": makes "BED9", already the id of devices[0]'
    )


def test_overlapping_templates_are_refused_once() -> None:
    text = TEXT + '\n[[templates]]\nname = "Cot {n}"\nid = "BED{n}"\ncount = 10\n'
    with pytest.raises(ProfileProblems) as caught:
        parse_network(text, "ward.toml")
    assert str(caught.value) == (
        'ward.toml:29: templates[1].id = "BED{n}": makes "BED7", '
        "already the id of templates[0] (n = 7)"
    )


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_a_shard_expands_only_its_own_devices_the_same_as_slicing_all(count: int) -> None:
    network = parse_network(
        TEXT + '\n[[templates]]\nname = "Cot {n}"\nid = "COT{n}"\ncount = 5\n', "ward.toml"
    )
    every = devices_of(network)
    assert len(every) == 9
    shards = [devices_of(network, (index, count)) for index in range(count)]
    assert shards == [every[index::count] for index in range(count)]
    assert sorted(d.id for shard in shards for d in shard) == sorted(d.id for d in every)
