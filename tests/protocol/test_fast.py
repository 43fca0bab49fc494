"""The fast paths of `protocol.fast` write the same bytes as the general codec."""

from __future__ import annotations

import pytest

from iotsim_tui.protocol.encoding import encode_publish
from iotsim_tui.protocol.fast import Qos0Frame
from iotsim_tui.protocol.packets import Publish
from iotsim_tui.protocol.reasons import MQTTVersion


@pytest.mark.parametrize("version", [MQTTVersion.V311, MQTTVersion.V5])
@pytest.mark.parametrize("retain", [False, True])
@pytest.mark.parametrize("size", [0, 20, 130, 20_000])  # the length takes 1, 2 and 3 bytes
def test_a_frame_is_the_publish_the_codec_encodes(
    version: MQTTVersion, retain: bool, size: int
) -> None:
    topic = "plant/ünit-7/temperature"
    frame = Qos0Frame.for_topic(topic, 0, retain, int(version))
    assert frame is not None
    assert frame.retain is retain
    for payload in (bytes(range(256)) * (size // 256) + b"x" * (size % 256), b'{"t":21.5}'):
        expected = encode_publish(Publish(topic, payload, retain=retain), version)
        assert frame.packet(payload) == expected


def test_only_qos_0_telemetry_to_a_topic_mqtt_can_carry_has_a_frame() -> None:
    assert Qos0Frame.for_topic("a/b", 1, False, 4) is None
    assert Qos0Frame.for_topic("a" * 65_536, 0, False, 4) is None
    assert Qos0Frame.for_topic("a" * 65_535, 0, False, 4) is not None
