"""The engine's only door to its MQTT client libraries, aiomqtt and paho-mqtt.

No other module of the engine imports either library (tests/unit/test_import_hygiene.py checks
it): what they need from them, public names included, they import from here. So an upgrade
that changes the libraries breaks this module alone, and tests/engine/test_library_contract.py
names what changed ("aiomqtt 2.6 no longer has Client._wait_for") before anything behaves oddly.

Public API serves where it exists: paho's external-loop callbacks (`on_socket_open`,
`on_socket_register_write`, ...), `loop_read`, `loop_write`, `loop_misc`, `socket()` and
`want_write()` drive the sockets (engine/driver.py). What is left private, and why:

- aiomqtt `Client._client`: the paho client inside. aiomqtt keeps it private, yet the CONNACK's
  session-present flag, the acknowledgement of each QoS 1/2 publish and the socket are only
  visible there, and publishing through it needs no task per message (`paho_of`).
- aiomqtt `Client._lock`, `_client_connect`, `_wait_for`, `_connected`: `connect` does what
  `Client.__aenter__` does, minus the thread: `__aenter__` runs paho's blocking connect in the
  default thread pool, a handful of threads ten thousand devices queue for. Here the TCP
  connection is made on the event loop and only a TLS handshake still runs in a thread.
- aiomqtt `Client._connected`, `_disconnected`: aiomqtt waits for a CONNACK until its timeout
  even when paho has lost the socket already (a TLS 1.3 alert after the handshake); the wait is
  failed at once instead. A socket error seen by the engine's driver ends the connection the way
  aiomqtt's own reader would (`_disconnected`), and an attempt given up on is not reported twice.
- paho `Client._create_socket_connection`: paho has no way to take a socket connected
  elsewhere; this one method is replaced, for one attempt, by one that returns it.
- paho `Client._out_packet`: QoS 0 telemetry is written straight to the socket; what the
  socket does not take must be sent after paho's own queued packets and before its next ones,
  and no public method queues bytes already encoded.
- paho `Client._call_socket_register_write`: after such bytes are queued, paho must mark its
  writer registered (or it never reports it unregistered); `loop_write()` would also do so, but
  it writes, and from inside `on_message` (a command's answer) it takes paho's callback lock
  a second time.
- paho `MQTTMessage._topic`: `MQTTMessage.topic` decodes strictly and raises on a topic that
  is not UTF-8; a device shows such a topic with replacement characters instead.

`PRIVATE_NAMES` lists them; the contract test checks each still exists with the shape used.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import aiomqtt
from aiomqtt import Client, MqttCodeError, MqttError, ProtocolVersion
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.client import (
    MQTT_CLEAN_START_FIRST_ONLY,
    MQTT_ERR_SUCCESS,
    PUBLISH,
    MQTTMessage,
    MQTTMessageInfo,
    WebsocketConnectionError,
)
from paho.mqtt.client import Client as PahoClient
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.properties import Properties as PahoProperties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from iotsim_tui.profiles.model import BrokerSettings, Will
from iotsim_tui.protocol.fast import publish_qos0
from iotsim_tui.protocol.properties import NO_PROPERTIES
from iotsim_tui.protocol.properties import Properties as WireProperties
from iotsim_tui.protocol.reasons import MQTTVersion

if TYPE_CHECKING:
    from paho.mqtt.client import _OutPacket  # the type of paho's queue entries, for mypy only

__all__ = [
    "MQTT_ERR_SUCCESS",
    "PRIVATE_NAMES",
    "Client",
    "ConnectHooks",
    "LostBeforeConnack",
    "MqttCodeError",
    "MqttConnectError",
    "MqttError",
    "PacketTypes",
    "PahoClient",
    "PahoProperties",
    "ProtocolVersion",
    "Qos0Writer",
    "ReasonCode",
    "SubscribeOptions",
    "connect",
    "error_handler",
    "follow_messages",
    "make_client",
    "paho_of",
    "properties_text",
    "send_packet",
    "send_qos0",
]

PRIVATE_NAMES = (
    "aiomqtt.Client._client",
    "aiomqtt.Client._lock",
    "aiomqtt.Client._client_connect",
    "aiomqtt.Client._wait_for",
    "aiomqtt.Client._connected",
    "aiomqtt.Client._disconnected",
    "paho.Client._create_socket_connection",
    "paho.Client._out_packet",
    "paho.Client._call_socket_register_write",
    "paho.MQTTMessage._topic",
)
"""Every private name of aiomqtt and paho the engine uses (all of them in this module)."""

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for the broker's CONNACK (and SUBACK) before giving up."""


class _NoQueue(asyncio.Queue[Any]):
    """What aiomqtt takes as its incoming-message queue, which a device never uses.

    A device receives its messages from paho's callback (`ConnectHooks.on_message`), never
    through `Client.messages`; asyncio's queue would still make four deques and an event per
    device (~3 KB each). This one holds nothing: anything put in it is an error.
    """

    def __init__(self, maxsize: int = 0) -> None:  # no super(): nothing to hold
        self._maxsize = maxsize

    def qsize(self) -> int:
        return 0

    def put_nowait(self, item: Any) -> None:
        raise RuntimeError("a device reads its messages from ConnectHooks, not Client.messages")


IncomingMessage = Callable[[str, bytes, int, bool, Any], None]
"""Called with topic, payload, QoS, retain and paho's MQTT 5 properties (or None) for each
message a device receives."""
OnError = Callable[[BaseException], None]


class LostBeforeConnack(Exception):
    """The broker closed the connection before it answered CONNECT."""


class ConnectHooks:
    """What a device learns from paho directly, for one connection attempt.

    Messages and the end of the connection come straight from paho's callbacks rather than
    through aiomqtt's message queue: a device then needs no reader task of its own, which
    halves the tasks (and much of the memory) of ten thousand idle devices.
    """

    __slots__ = ("lost", "on_ack", "on_message", "session_present", "socket_error")

    def __init__(self, on_ack: Callable[[int], None], on_message: IncomingMessage) -> None:
        self.on_ack = on_ack
        self.on_message = on_message
        self.session_present = False
        self.socket_error: BaseException | None = None
        """The last socket error paho logged (a TLS alert while waiting for CONNACK)."""
        self.lost: asyncio.Future[int | ReasonCode | None] = (
            asyncio.get_running_loop().create_future()
        )
        """Resolves with paho's reason code when the connection ends."""


QUIET = logging.getLogger("iotsim_tui.engine.mqtt")
"""aiomqtt's and paho's log for plain connections: the engine reports through its events, and
a stray warning on stderr would tear the app's screen."""
QUIET.propagate = False
QUIET.addHandler(logging.NullHandler())


class _SocketErrorLog(logging.Logger):
    """Takes paho's log calls for one device, keeping only the socket errors."""

    def __init__(self, hooks: ConnectHooks) -> None:
        super().__init__("iotsim_tui.engine.paho", logging.CRITICAL + 1)
        self.propagate = False
        self._hooks = hooks

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if level >= logging.ERROR and args and isinstance(args[0], BaseException):
            self._hooks.socket_error = args[0]


def make_client(
    broker: BrokerSettings,
    client_id: str,
    *,
    endpoint: tuple[str, int],
    context: ssl.SSLContext | None,
    will: Will | None,
    hooks: ConnectHooks,
) -> Client:
    """A new, unconnected aiomqtt client for one connection attempt of a device.

    Connect it with `connect`, not `__aenter__`.
    """
    v5 = broker.protocol is MQTTVersion.V5
    properties = None
    if v5 and broker.session_expiry > 0:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = broker.session_expiry
    client = Client(
        endpoint[0],
        endpoint[1],
        identifier=client_id,
        username=broker.username,
        password=broker.password,
        protocol=ProtocolVersion.V5 if v5 else ProtocolVersion.V311,
        clean_session=None if v5 else broker.clean_start,
        clean_start=broker.clean_start if v5 else MQTT_CLEAN_START_FIRST_ONLY,
        keepalive=broker.keepalive,
        will=_will(will, v5=v5),
        properties=properties,
        tls_context=context,
        # The TLS context checks host names itself (against the profile's host). When it does
        # not, paho's own check must be off too: it would fail without a certificate. (paho
        # writes this setting into the shared context, so it is left alone otherwise.)
        tls_insecure=True if context is not None and not context.check_hostname else None,
        timeout=CONNECT_TIMEOUT,
        queue_type=_NoQueue,
        logger=_SocketErrorLog(hooks) if context is not None else QUIET,
    )
    _attach_hooks(client, hooks)
    return client


def _will(will: Will | None, *, v5: bool) -> aiomqtt.Will | None:
    if will is None:
        return None
    properties = None
    if v5 and will.delay > 0:
        properties = Properties(PacketTypes.WILLMESSAGE)  # type: ignore[no-untyped-call]
        properties.WillDelayInterval = will.delay
    return aiomqtt.Will(will.topic, will.payload, will.qos, will.retain, properties)


def paho_of(client: Client) -> PahoClient:
    """The paho client inside an aiomqtt client (publishing without a task per message)."""
    paho: PahoClient = client._client
    return paho


def error_handler(client: Client) -> OnError:
    """What ends `client`'s connection with `error`, as aiomqtt's reader would on a bad read."""

    def fail(error: BaseException) -> None:
        ended: asyncio.Future[None] = client._disconnected
        if not ended.done():
            ended.set_exception(error)

    return fail


async def connect(client: Client, sock: socket.socket, *, tls: bool) -> None:
    """Connect as `client.__aenter__()` does, on a TCP socket already connected.

    `sock` is closed when the attempt fails. Only a TLS handshake (`tls`) runs in a thread.

    Raises:
        aiomqtt.MqttError: as `__aenter__` does, with the cause in `__context__`.
    """
    loop = asyncio.get_running_loop()
    paho = paho_of(client)
    paho._create_socket_connection = lambda: sock  # type: ignore[method-assign]
    await client._lock.acquire()
    try:
        if tls:
            await loop.run_in_executor(None, client._client_connect)  # the handshake blocks
        else:
            client._client_connect()
    except (OSError, WebsocketConnectionError) as error:
        client._lock.release()
        sock.close()
        raise MqttError(str(error)) from None
    except BaseException:
        client._lock.release()
        sock.close()
        raise
    try:
        await client._wait_for(client._connected, timeout=None)
    except MqttError:
        client._lock.release()
        client._connected = asyncio.Future()
        raise
    ended: asyncio.Future[None] = client._disconnected
    if ended.done():
        # Lost as soon as it was accepted: another client took the id over, and paho read the
        # broker's DISCONNECT while the wait for the CONNACK handed over (it takes two turns
        # of the loop). `hooks.lost` tells the device; the future's exception is read here,
        # or asyncio would log "Future exception was never retrieved" when it is dropped.
        if not ended.cancelled():
            ended.exception()
        client._disconnected = asyncio.Future()


def _attach_hooks(client: Client, hooks: ConnectHooks) -> None:
    """Wrap paho's callbacks so `hooks` sees CONNACK flags, acknowledgements and early drops."""
    paho = paho_of(client)
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    aiomqtt_on_connect = cast(Callable[..., None], paho.on_connect)
    aiomqtt_on_disconnect = cast(Callable[..., None], paho.on_disconnect)
    aiomqtt_on_publish = cast(Callable[..., None], paho.on_publish)

    def on_connect(c: PahoClient, userdata: Any, flags: Any, *rest: Any) -> None:
        hooks.session_present = bool(flags.session_present)
        aiomqtt_on_connect(c, userdata, flags, *rest)

    def on_publish(c: PahoClient, userdata: Any, mid: int, *rest: Any) -> None:
        aiomqtt_on_publish(c, userdata, mid, *rest)
        hooks.on_ack(mid)

    def on_disconnect(c: PahoClient, userdata: Any, flags: Any, reason: Any, *rest: Any) -> None:
        if client._connected.cancelled():
            return  # the attempt was abandoned; aiomqtt's handler would raise CancelledError
        aiomqtt_on_disconnect(c, userdata, flags, reason, *rest)
        if threading.get_ident() == loop_thread:
            loop.call_soon(_disconnected, client, hooks, reason)  # no wake-up write per device
        else:
            loop.call_soon_threadsafe(_disconnected, client, hooks, reason)

    def on_message(c: PahoClient, userdata: Any, message: MQTTMessage) -> None:
        topic = message._topic.decode("utf-8", "replace")  # .topic raises on bad UTF-8
        properties = getattr(message, "properties", None)  # paho's, on MQTT 5
        hooks.on_message(
            topic, bytes(message.payload), message.qos, bool(message.retain), properties
        )

    paho.on_connect = on_connect
    paho.on_publish = on_publish
    paho.on_disconnect = on_disconnect
    paho.on_message = on_message


def _disconnected(client: Client, hooks: ConnectHooks, reason: int | ReasonCode) -> None:
    connected: asyncio.Future[None] = client._connected
    if not connected.done():
        # aiomqtt waits for a CONNACK until its timeout even when paho has already lost the
        # socket (a TLS 1.3 alert arrives after the handshake): fail the attempt now.
        error = LostBeforeConnack("the broker closed the connection before accepting it")
        error.__context__ = hooks.socket_error
        connected.set_exception(error)
        connected.exception()  # the attempt may already be over: no "never retrieved" warning
    ended: asyncio.Future[None] = client._disconnected
    if ended.done() and not ended.cancelled():
        ended.exception()  # read through `hooks.lost` instead of aiomqtt's message iterator
    if not hooks.lost.done():
        hooks.lost.set_result(reason)


def send_qos0(
    paho: PahoClient,
    topic: str,
    payload: bytes,
    retain: bool,
    version: int,
    properties: WireProperties = NO_PROPERTIES,
) -> bool:
    """Publish at QoS 0 on a connected client; False when it is not connected.

    `version` is the protocol level (4 for 3.1.1, 5); `properties` are sent on 5 only.
    """
    return send_packet(paho, publish_qos0(topic, payload, retain, version, properties))


def send_packet(paho: PahoClient, packet: bytes) -> bool:
    """Write an encoded QoS 0 PUBLISH on a connected client; False when it is not connected.

    For one packet now and then; a connection that publishes often keeps a `Qos0Writer`.
    """
    if paho.socket() is None or not paho.is_connected():
        return False
    return Qos0Writer(paho).send(packet)


_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
"""What a non-blocking socket raises when it takes nothing now (as paho reads them)."""


class Qos0Writer:
    """Writes QoS 0 PUBLISH packets of one connection straight to its socket.

    QoS 0 publishes skip paho's per-message bookkeeping (a message info with its lock, and a
    reason code and properties for an `on_publish` nobody needs at QoS 0). A packet goes
    straight to the socket when paho has nothing waiting to be written; otherwise, or for what
    the socket did not take, it joins paho's queue (paho's writer sends the rest in order).
    Made once the broker has accepted the connection: the socket is paho's for that connection,
    and once paho has closed it a send fails (False), as it does on a broken connection.
    """

    __slots__ = ("_paho", "_queue", "_socket")

    def __init__(self, paho: PahoClient) -> None:
        self._paho = paho
        self._socket = paho.socket()
        self._queue = paho._out_packet

    def send(self, packet: bytes) -> bool:
        """Send or queue `packet`; False when the connection is gone (nothing sent)."""
        sent = 0
        if not self._queue:
            try:
                sent = self._socket.send(packet)  # type: ignore[union-attr]
            except _WOULD_BLOCK:
                sent = 0  # nothing went out
            except (OSError, AttributeError, ValueError):
                return False  # closed or broken: paho ends the connection its own way
            if sent == len(packet):
                return True
        elif not self._paho.is_connected():
            return False
        self._queue.append(queued_publish(packet, sent))
        self._paho._call_socket_register_write()
        return True


def queued_publish(packet: bytes, sent: int) -> _OutPacket:
    """A QoS 0 PUBLISH of which `sent` bytes went out, as paho's queue holds its own packets."""
    return {
        "command": PUBLISH,
        "mid": 0,
        "qos": 0,
        "pos": sent,
        "to_process": len(packet) - sent,
        "packet": packet,
        "info": MQTTMessageInfo(0),  # paho marks it published once written
    }


def follow_messages(client: Client, on_message: IncomingMessage) -> asyncio.Future[None]:
    """Hand each message of a connected `client` to `on_message`, straight from paho.

    Instead of aiomqtt's queue and its iterator (a task wake-up per message), for a reader of
    everything on a busy broker. Returns a future that ends when the connection does.
    """
    paho = paho_of(client)
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()
    aiomqtt_on_disconnect = cast(Callable[..., None], paho.on_disconnect)

    def on_disconnect(c: PahoClient, *rest: Any) -> None:
        aiomqtt_on_disconnect(c, *rest)
        loop.call_soon_threadsafe(_end, client, ended)

    def on_message_(c: PahoClient, userdata: Any, message: MQTTMessage) -> None:
        topic = message._topic.decode("utf-8", "replace")  # .topic raises on bad UTF-8
        properties = getattr(message, "properties", None)
        on_message(topic, bytes(message.payload), message.qos, bool(message.retain), properties)

    def handle_on_message(message: MQTTMessage) -> None:
        on_message_(paho, None, message)

    paho.on_message = on_message_
    # paho's own dispatch decodes each topic and matches it against per-topic callbacks (none
    # here) under two locks: ~10% of the CPU of a reader of ten thousand messages a second.
    setattr(paho, "_handle_on_message", handle_on_message)  # noqa: B010 (a method of paho's)
    paho.on_disconnect = on_disconnect
    return ended


def _end(client: Client, ended: asyncio.Future[None]) -> None:
    lost: asyncio.Future[None] = client._disconnected
    if lost.done() and not lost.cancelled():
        lost.exception()  # told through `ended`, not aiomqtt's message iterator
    if not ended.done():
        ended.set_result(None)


def properties_text(properties: object) -> tuple[tuple[str, str], ...]:
    """paho's MQTT 5 properties of a message as (name, text) pairs; user ones as "user.NAME"."""
    as_json = getattr(properties, "json", None)
    if not callable(as_json):
        return ()
    pairs: list[tuple[str, str]] = []
    for name, value in as_json().items():
        if name == "UserProperty":
            pairs += [(f"user.{key}", str(text)) for key, text in value]
        else:
            pairs.append((name, str(value)))
    return tuple(pairs)
