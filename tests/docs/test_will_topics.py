"""docs/profiles.md: placeholders in a will's topic are filled in, checked on the wire.

A device dropped without DISCONNECT leaves its will with the bundled broker, and a listener
of the test's own reads the topic it arrives on.
"""

from __future__ import annotations

from pathlib import Path

from iotsim_tui.engine.simulation import Simulation
from iotsim_tui.profiles.load import parse_network
from tests.engine.helpers import wait_until
from tests.support.bundled import run_bundled_broker
from tests.support.listener import listening

PROFILE = """
[network]
name = "WARD"

[network.broker]
port = {port}
bundled = false

[[devices]]
name = "Infusion Pump"
id = "IP1"
will = {{ topic = "{device}", payload = "offline" }}

[[templates]]
name = "Bed {{n}}"
id = "BED{{n}}"
count = 1
will = {{ topic = "{template}", payload = "offline" }}
"""


async def _will_topics(tmp_path: Path, device: str, template: str) -> list[str]:
    """The topics the wills of IP1 (`device`) and BED1 (`template`'s) arrive on."""
    with run_bundled_broker(tmp_path) as broker:
        assert broker.port is not None
        network = parse_network(
            PROFILE.format(port=broker.port, device=device, template=template), "ward.toml"
        )
        async with listening(broker.port, "ward/#") as seen, Simulation(network) as simulation:
            await simulation.start()
            await wait_until(lambda: simulation.summary().connected == 2, "the connections")
            await simulation.drop(["IP1", "BED1"])
            await wait_until(lambda: len(seen) == 2, "the wills")
            return sorted(str(message.topic) for message in seen)


async def test_n_in_a_templates_will_topic_is_filled_in(tmp_path: Path) -> None:
    topics = await _will_topics(tmp_path, "ward/pump/status", "ward/bed/{n}/status")
    assert topics == ["ward/bed/1/status", "ward/pump/status"]


async def test_id_in_a_will_topic_is_filled_in(tmp_path: Path) -> None:
    topics = await _will_topics(tmp_path, "ward/{id}/status", "ward/{id}/{name}")
    assert topics == ["ward/BED1/Bed 1", "ward/IP1/status"]
