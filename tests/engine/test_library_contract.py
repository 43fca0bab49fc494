"""What the engine uses of aiomqtt and paho beyond their public API, checked name by name.

engine/mqtt_client.py is the engine's one door to both libraries, and `PRIVATE_NAMES` lists
every private name it uses. When an upgrade removes or reshapes one, this fails with one
message naming the library, its version and the name ("aiomqtt 2.6.0 no longer has
Client._wait_for"), before any device behaves oddly.
"""

from __future__ import annotations

import ast
import asyncio
import collections
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from paho.mqtt.client import PUBLISH, MQTTMessage
from paho.mqtt.client import Client as PahoClient
from paho.mqtt.enums import CallbackAPIVersion

from iotsim_tui.engine import mqtt_client
from iotsim_tui.engine.mqtt_client import PRIVATE_NAMES, queued_publish

LIBRARIES = {
    "aiomqtt": f"aiomqtt {metadata.version('aiomqtt')}",
    "paho": f"paho-mqtt {metadata.version('paho-mqtt')}",
}


@dataclass
class Subjects:
    """One object of each kind the engine reaches into, made without a broker."""

    aiomqtt: aiomqtt.Client
    paho: PahoClient
    message: MQTTMessage

    def owner(self, dotted: str) -> object:
        library, owner, _ = dotted.split(".")
        return {"aiomqtt.Client": self.aiomqtt, "paho.Client": self.paho}.get(
            f"{library}.{owner}", self.message
        )


def _get(subjects: Subjects, dotted: str) -> Any:
    library, owner, name = dotted.split(".")
    target = subjects.owner(dotted)
    if not hasattr(target, name):
        pytest.fail(f"{LIBRARIES[library]} no longer has {owner}.{name}", pytrace=False)
    return getattr(target, name)


def _expect(dotted: str, holds: bool, what: str) -> None:
    if not holds:
        library, owner, name = dotted.split(".")
        pytest.fail(f"{LIBRARIES[library]} changed {owner}.{name}: {what}", pytrace=False)


def _takes(function: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    try:
        inspect.signature(function).bind(*args, **kwargs)
    except TypeError:
        return False
    return True


def _paho_client(subjects: Subjects, dotted: str) -> None:
    _expect(dotted, isinstance(_get(subjects, dotted), PahoClient), "it is not a paho Client")


def _lock(subjects: Subjects, dotted: str) -> None:
    _expect(dotted, isinstance(_get(subjects, dotted), asyncio.Lock), "it is not an asyncio.Lock")


def _future(subjects: Subjects, dotted: str) -> None:
    value = _get(subjects, dotted)
    _expect(dotted, isinstance(value, asyncio.Future), "it is not an asyncio.Future")


def _called_bare(subjects: Subjects, dotted: str) -> None:
    value = _get(subjects, dotted)
    _expect(
        dotted, callable(value) and _takes(value), "it can no longer be called without arguments"
    )


def _wait_for(subjects: Subjects, dotted: str) -> None:
    value = _get(subjects, dotted)
    _expect(dotted, inspect.iscoroutinefunction(value), "it is no longer a coroutine function")
    _expect(dotted, _takes(value, object(), timeout=None), "it no longer takes (future, timeout=)")


def _create_socket_connection(subjects: Subjects, dotted: str) -> None:
    _called_bare(subjects, dotted)
    names = PahoClient._create_socket.__code__.co_names
    _expect(
        dotted, "_create_socket_connection" in names, "Client._create_socket no longer calls it"
    )


def _out_packet(subjects: Subjects, dotted: str) -> None:
    queue = _get(subjects, dotted)
    _expect(dotted, isinstance(queue, collections.deque), "it is not a deque")
    paho = PahoClient(CallbackAPIVersion.VERSION2)
    paho._packet_queue(PUBLISH, b"\x30\x00", 0, 0)  # no socket: it only queues
    (own,) = paho._out_packet
    ours = queued_publish(b"\x30\x00", 0)
    _expect(dotted, set(own) == set(ours), f"its packets have the keys {sorted(own)}")


def _topic(subjects: Subjects, dotted: str) -> None:
    _expect(dotted, _get(subjects, dotted) == b"a/\xff", "it no longer holds the topic's bytes")


CHECKS: dict[str, Callable[[Subjects, str], None]] = {
    "aiomqtt.Client._client": _paho_client,
    "aiomqtt.Client._lock": _lock,
    "aiomqtt.Client._client_connect": _called_bare,
    "aiomqtt.Client._wait_for": _wait_for,
    "aiomqtt.Client._connected": _future,
    "aiomqtt.Client._disconnected": _future,
    "paho.Client._create_socket_connection": _create_socket_connection,
    "paho.Client._out_packet": _out_packet,
    "paho.Client._call_socket_register_write": _called_bare,
    "paho.MQTTMessage._topic": _topic,
}


@pytest.fixture
async def subjects() -> Subjects:
    client = aiomqtt.Client("127.0.0.1", 1, identifier="contract")  # never connected
    paho = PahoClient(CallbackAPIVersion.VERSION2)
    return Subjects(client, paho, MQTTMessage(topic=b"a/\xff"))


@pytest.mark.parametrize("dotted", PRIVATE_NAMES)
async def test_each_private_name_the_engine_uses_is_still_there(
    subjects: Subjects, dotted: str
) -> None:
    CHECKS[dotted](subjects, dotted)


def test_every_private_name_is_checked() -> None:
    assert set(CHECKS) == set(PRIVATE_NAMES)


def test_the_door_uses_no_private_name_it_does_not_declare() -> None:
    """Every `x._name` in engine/mqtt_client.py (x not `self`) is in `PRIVATE_NAMES`."""
    source = Path(mqtt_client.__file__).read_text(encoding="utf-8")
    used = {
        node.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    }
    declared = {dotted.rsplit(".", 1)[1] for dotted in PRIVATE_NAMES}
    assert used == declared
