"""The broker console's own MQTT client: who is connected, and commands sent by hand.

The bundled broker publishes a retained JSON document on `$SYS/iotsim/clients` (every
connected client, its address, link and subscriptions). `BrokerConsole` subscribes to it
and turns each document into a frozen `ClientsFeed`. Other brokers (mosquitto, EMQX, ...)
do not publish it: when nothing arrives within `feed_timeout` the console reports
`FeedUnavailable`, and sending commands still works.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from iotsim_tui.engine.mqtt_client import Client, MqttCodeError, MqttError, ProtocolVersion, paho_of
from iotsim_tui.engine.tls import tls_context
from iotsim_tui.errors import ConnectionFailed, TLSFailure, UsageError
from iotsim_tui.profiles.model import BrokerSettings
from iotsim_tui.protocol.reasons import MQTTVersion
from iotsim_tui.protocol.topics import TopicError, validate_topic_name

CLIENTS_TOPIC = "$SYS/iotsim/clients"
COUNTERS_TOPIC = "$SYS/broker/messages/+"
"""The broker's message counters ("received", "sent"), refreshed more often than the feed."""
FEED_TIMEOUT = 3.0
"""Seconds to wait for the clients feed before saying it is not available."""


@dataclass(frozen=True, slots=True)
class ClientSubscription:
    """One topic filter a connected client subscribed to."""

    filter: str
    qos: int


@dataclass(frozen=True, slots=True)
class ConnectedClient:
    """One client connected to the broker, as the broker sees it."""

    id: str
    address: str
    protocol: str
    port: int
    tls_version: str | None
    """"TLSv1.3" and the like, or None for a plain link."""
    tls_cipher: str | None
    username: str | None
    connected_since: float
    subscriptions: tuple[ClientSubscription, ...]

    @property
    def link(self) -> str:
        """The link as a user reads it: the TLS version, or "plain"."""
        return self.tls_version or "plain"


@dataclass(frozen=True, slots=True)
class ClientsFeed:
    """One update of the broker's clients feed."""

    clients: tuple[ConnectedClient, ...]
    connected: int
    subscriptions: int
    messages_received: int
    messages_sent: int
    updated: float
    truncated: bool = False
    """True when the broker listed only some of its clients."""


@dataclass(frozen=True, slots=True)
class FeedUnavailable:
    """The broker publishes no clients feed (it is not the bundled broker), or it is unreadable."""

    reason: str


ConsoleUpdate = ClientsFeed | FeedUnavailable


def parse_clients_feed(payload: bytes) -> ClientsFeed:
    """Read one `$SYS/iotsim/clients` document; raises ValueError saying what is wrong."""
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"the clients feed is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise ValueError("the clients feed is not a JSON object")
    clients = tuple(_client(item) for item in _list(document, "clients"))
    totals = _mapping(document, "totals")
    return ClientsFeed(
        clients=clients,
        connected=int(totals.get("connected", len(clients))),
        subscriptions=int(totals.get("subscriptions", 0)),
        messages_received=int(totals.get("messages_received", 0)),
        messages_sent=int(totals.get("messages_sent", 0)),
        updated=float(document.get("updated", 0.0)),
        truncated=bool(document.get("truncated", False)),
    )


def _client(item: object) -> ConnectedClient:
    if not isinstance(item, dict):
        raise ValueError("a client in the clients feed is not a JSON object")
    listener = _mapping(item, "listener")
    tls = listener.get("tls")
    tls = tls if isinstance(tls, dict) else {}
    subscriptions = tuple(
        ClientSubscription(str(sub["filter"]), int(sub.get("qos", 0)))
        for sub in _list(item, "subscriptions")
        if isinstance(sub, dict) and "filter" in sub
    )
    username = item.get("username")
    return ConnectedClient(
        id=str(item.get("id", "")),
        address=str(item.get("address", "")),
        protocol=str(item.get("protocol", "")),
        port=int(listener.get("port", 0)),
        tls_version=str(tls["version"]) if tls.get("version") else None,
        tls_cipher=str(tls["cipher"]) if tls.get("cipher") else None,
        username=str(username) if username is not None else None,
        connected_since=float(item.get("connected_since", 0.0)),
        subscriptions=subscriptions,
    )


def _list(document: Mapping[str, Any], key: str) -> list[Any]:
    value = document.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"'{key}' in the clients feed is not a list")
    return value


def _mapping(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"'{key}' in the clients feed is not an object")
    return value


class CredentialsRefused(ConnectionFailed):
    """The broker turned the console away for its user name or password: trying again is no use."""


REFUSED_CODES = frozenset({4, 5, 134, 135})
"""CONNACK codes for a bad user name or password, or not authorized (MQTT 3.1.1, then 5)."""


class BrokerConsole:
    """An MQTT client of its own that reads the clients feed and sends commands.

    Use it as an async context manager: `async with BrokerConsole(settings) as console`.
    """

    def __init__(
        self,
        broker: BrokerSettings,
        *,
        client_id: str | None = None,
        feed_timeout: float = FEED_TIMEOUT,
        base: Path | None = None,
    ) -> None:
        self.broker = broker
        self.client_id = client_id or f"iotsim-console-{os.getpid()}"
        self.feed_timeout = feed_timeout
        context = tls_context(broker.tls, broker.host, base=base) if broker.tls.enabled else None
        self._client = Client(
            broker.host,
            broker.effective_port,
            identifier=self.client_id,
            username=broker.username,
            password=broker.password,
            protocol=(
                ProtocolVersion.V5 if broker.protocol is MQTTVersion.V5 else ProtocolVersion.V311
            ),
            tls_context=context,
            # As for the devices: with host names unchecked by the context, paho's check is off.
            tls_insecure=True if context is not None and not context.check_hostname else None,
            timeout=10.0,
        )

    @property
    def tls_version(self) -> str | None:
        """The TLS version the console's own link negotiated ("TLSv1.3"); None when plain."""
        version = getattr(paho_of(self._client).socket(), "version", None)
        negotiated = version() if callable(version) else None
        return str(negotiated) if negotiated else None

    @property
    def where(self) -> str:
        """host:port of the broker, for messages."""
        return f"{self.broker.host}:{self.broker.effective_port}"

    async def __aenter__(self) -> Self:
        try:
            await self._client.__aenter__()
            await self._client.subscribe(CLIENTS_TOPIC, qos=0)
            await self._client.subscribe(COUNTERS_TOPIC, qos=0)
        except (MqttError, OSError) as error:
            if isinstance(error, MqttCodeError) and _code(error) in REFUSED_CODES:
                raise CredentialsRefused(
                    "the broker refused the console's user name or password: "
                    "check them in the network settings (c)",
                    title="Broker refused the console",
                ) from None
            text = str(error)
            if isinstance(error, ssl.SSLError) or "SSL" in text or "certificate" in text:
                raise TLSFailure(
                    f"the broker console could not set up TLS with {self.where}: {text}; "
                    "check the CA file and that the broker's certificate names its host"
                ) from None
            raise ConnectionFailed(_explain(error, self.where)) from None
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # The broker may already be gone; there is nothing left to close then.
        with contextlib.suppress(MqttError):
            await self._client.__aexit__(exc_type, exc, traceback)

    async def updates(self) -> AsyncIterator[ConsoleUpdate]:
        """Each clients feed as it arrives; `FeedUnavailable` when none comes in time.

        The feed changes only when clients come, go or subscribe; in between, the broker's
        `$SYS/broker/messages/...` counters give the last feed newer message counts.
        Ends with ConnectionFailed when the broker goes away.
        """
        messages = self._client.messages
        # The feed is retained, so a broker that has one sends it at once; after that it
        # changes only when clients come, go or subscribe, and silence is not a lost feed.
        feed_seen = said_unavailable = False
        last: ClientsFeed | None = None
        # From the start, not from the last message: the counters may come more often.
        deadline = asyncio.get_running_loop().time() + self.feed_timeout
        while True:
            try:
                if feed_seen or said_unavailable:
                    message = await anext(messages)
                else:
                    left = deadline - asyncio.get_running_loop().time()
                    message = await asyncio.wait_for(anext(messages), max(left, 0.0))
            except TimeoutError:
                said_unavailable = True
                yield FeedUnavailable(
                    f"{self.where} publishes no {CLIENTS_TOPIC} feed (only the bundled broker does)"
                )
                continue
            except MqttError as error:
                raise ConnectionFailed(_explain(error, self.where)) from None
            payload = message.payload if isinstance(message.payload, bytes) else b""
            if message.topic.matches(COUNTERS_TOPIC):
                if last is not None and (counted := _counted(last, message.topic.value, payload)):
                    last = counted
                    yield counted
                continue
            if not message.topic.matches(CLIENTS_TOPIC):
                continue
            try:
                last = parse_clients_feed(payload)
            except ValueError as error:
                yield FeedUnavailable(str(error))
                continue
            feed_seen = True
            yield last

    async def send(self, topic: str, message: str, *, qos: int = 1, retain: bool = False) -> None:
        """Publish a command; returns once the broker has it (for QoS 1 and 2)."""
        try:
            validate_topic_name(topic)
        except TopicError as error:
            raise UsageError(f"cannot send to {topic!r}: {error}", title="Bad topic") from None
        if qos not in (0, 1, 2):
            raise UsageError(f"QoS must be 0, 1 or 2, not {qos}", title="Bad QoS")
        try:
            await self._client.publish(topic, message.encode(), qos=qos, retain=retain)
        except MqttError as error:
            raise ConnectionFailed(_explain(error, self.where)) from None


def _counted(feed: ClientsFeed, topic: str, payload: bytes) -> ClientsFeed | None:
    """`feed` with the counter in `topic` as the broker now says, or None when unchanged."""
    try:
        value = int(payload.decode().strip())
    except (UnicodeDecodeError, ValueError):
        return None
    received, sent = feed.messages_received, feed.messages_sent
    match topic.rsplit("/", 1)[-1]:
        case "received":
            received = value
        case "sent":
            sent = value
    if (received, sent) == (feed.messages_received, feed.messages_sent):
        return None
    return dataclasses.replace(
        feed, messages_received=received, messages_sent=sent, updated=time.time()
    )


def _code(error: MqttCodeError) -> int | None:
    rc = error.rc
    return rc if isinstance(rc, int) else getattr(rc, "value", None)


def _explain(error: Exception, where: str) -> str:
    text = str(error) or type(error).__name__
    return (
        f"the broker console lost or could not reach the broker at {where} ({text}); "
        "is the broker running and the network's host and port right?"
    )
