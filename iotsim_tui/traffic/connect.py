"""Where record and replay connect: a profile's broker (started as `run` starts it) or a host.

Both read and write through an MQTT client of their own, made here from the network's broker
settings (TLS, user name and password included), through the engine's door to aiomqtt.
"""

from __future__ import annotations

import asyncio
import os
import sys
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

from iotsim_tui.engine.mqtt_client import Client, MqttCodeError, MqttError, ProtocolVersion
from iotsim_tui.engine.tls import tls_context
from iotsim_tui.errors import ConnectionFailed, UsageError
from iotsim_tui.profiles.model import BrokerSettings, Network
from iotsim_tui.protocol.reasons import MQTTVersion

CERTS_DIR = Path("certs")
INCOMING_QUEUE = 100_000
"""Messages the recorder holds before writing them (more are dropped: memory stays bounded)."""
VERSIONS = {"3.1.1": MQTTVersion.V311, "5": MQTTVersion.V5}


def broker_settings(
    network: Network | None, host: str | None, port: int | None, protocol: str | None
) -> BrokerSettings:
    """The broker to use: the profile's, with --host, --port and --protocol over it."""
    if network is None and (host is None or port is None):
        raise UsageError("give a PROFILE, or both --host and --port")
    broker = network.broker if network is not None else BrokerSettings(bundled=False)
    changes: dict[str, object] = {}
    if host is not None:
        changes["host"] = host
    if port is not None:
        changes["port"] = port
    if protocol is not None:
        changes["protocol"] = VERSIONS[protocol]
    elif network is None:
        changes["protocol"] = MQTTVersion.V5
    return replace(broker, **changes)  # type: ignore[arg-type]


async def start_bundled_broker(stack: AsyncExitStack, network: Network) -> None:
    """Start the network's bundled broker when it wants one and none listens there yet."""
    from iotsim_tui.broker.launch import BrokerLaunch, broker_listens
    from iotsim_tui.broker.process import BundledBroker

    broker = network.broker
    if not broker.wants_bundled:
        return
    if await asyncio.to_thread(broker_listens, broker.host, broker.effective_port):
        return  # the app's broker for this network, or one started by hand: use it

    print(f"starting the bundled broker on {broker.host}:{broker.effective_port}", file=sys.stderr)
    await stack.enter_async_context(BundledBroker(BrokerLaunch.from_network(network, CERTS_DIR)))


def make_client(broker: BrokerSettings, role: str, *, base: Path | None = None) -> Client:
    """An unconnected client for `broker`; `role` ("record", "replay") names its client id."""
    context = tls_context(broker.tls, broker.host, base=base) if broker.tls.enabled else None
    v5 = broker.protocol is MQTTVersion.V5
    return Client(
        broker.host,
        broker.effective_port,
        identifier=f"iotsim-{role}-{os.getpid()}-{id(broker) % 10000}",
        username=broker.username,
        password=broker.password,
        protocol=ProtocolVersion.V5 if v5 else ProtocolVersion.V311,
        tls_context=context,
        tls_insecure=True if context is not None and not context.check_hostname else None,
        timeout=10.0,
        max_queued_incoming_messages=INCOMING_QUEUE,
    )


def where(broker: BrokerSettings) -> str:
    """host:port, for messages."""
    return f"{broker.host}:{broker.effective_port}"


def connection_failed(error: MqttError | OSError, broker: BrokerSettings) -> ConnectionFailed:
    """The error to show when the client cannot reach or loses `broker`."""
    text = str(error) or type(error).__name__
    if isinstance(error, MqttCodeError):
        text = f"the broker refused the connection ({text})"
    return ConnectionFailed(f"lost or could not reach the broker at {where(broker)}: {text}")
