"""How a device's MQTT client is made and connected: options, TLS, early failure detection, and
why an attempt failed, in the user's words.

One TLS context serves a whole network (loading a CA file per device would cost more than
the handshake). aiomqtt keeps its paho client private, and two things the engine needs are
only visible there: the CONNACK's session-present flag and acknowledgements of QoS 1/2
publishes. `attach_hooks` wraps those paho callbacks, keeping aiomqtt's own behaviour.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeAlias, cast

import aiomqtt
from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY, MQTTMessage, WebsocketConnectionError
from paho.mqtt.client import Client as PahoClient
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from iotsim_tui.engine.context import NetworkContext
from iotsim_tui.engine.driver import SocketDriver
from iotsim_tui.engine.failures import Failure, LostBeforeConnack, closed_before_answer, describe
from iotsim_tui.errors import TLSFailure
from iotsim_tui.profiles.model import BrokerSettings, MQTTVersion, TLSSettings, Will

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for the broker's CONNACK (and SUBACK) before giving up."""
INCOMING_QUEUE = 1000
"""Messages a device holds before reading them; more are dropped by the client."""

Address: TypeAlias = tuple[int, Any]
"""An address family and a socket address, as `getaddrinfo` gives them."""


class PinnedNameContext(ssl.SSLContext):
    """A client TLS context that checks the certificate against a fixed host name.

    Devices may connect through the eavesdrop relay on another address; the broker's
    certificate must still be checked against the host the profile names.
    """

    server_name: str | None = None

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        """Wrap `sock`, naming the pinned host instead of the address connected to."""
        return super().wrap_socket(
            sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=self.server_name or server_hostname,
            session=session,
        )


def tls_context(tls: TLSSettings, host: str) -> ssl.SSLContext:
    """The client TLS context for a network, as `ssl.create_default_context` makes it.

    Raises `TLSFailure` naming the file when a CA, certificate or key cannot be loaded.
    """
    context = PinnedNameContext(ssl.PROTOCOL_TLS_CLIENT)
    context.server_name = host
    try:
        if tls.ca:
            context.load_verify_locations(cafile=tls.ca)
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    except (OSError, ssl.SSLError) as error:
        raise TLSFailure(f"cannot load the CA certificate {tls.ca}: {_why(error)}") from None
    if tls.cert:
        try:
            context.load_cert_chain(tls.cert, tls.key)
        except (OSError, ssl.SSLError) as error:
            raise TLSFailure(
                f"cannot load the client certificate {tls.cert} (key {tls.key or tls.cert}): "
                f"{_why(error)}"
            ) from None
    context.minimum_version = (
        ssl.TLSVersion.TLSv1_3 if tls.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    )
    context.check_hostname = tls.verify_hostname and tls.verify_certificate
    if not tls.verify_certificate:
        context.verify_mode = ssl.CERT_NONE
    if tls.key_log:
        _create_private(tls.key_log)
        context.keylog_filename = tls.key_log
    return context


def _create_private(path: str) -> None:
    """Make the key log file 0600 before OpenSSL appends to it: it decrypts every session."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(descriptor, 0o600)
        finally:
            os.close(descriptor)
    except OSError as error:
        raise TLSFailure(f"cannot write the TLS key log {path}: {_why(error)}") from None


def _why(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


IncomingMessage = Callable[[str, bytes, int, bool, Any], None]
"""Called with topic, payload, QoS, retain and paho's MQTT 5 properties (or None) for each
message a device receives."""


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
    driver: SocketDriver,
) -> aiomqtt.Client:
    """A new, unconnected aiomqtt client for one connection attempt of a device.

    Its sockets are run by `driver`; connect it with `connect`, not `__aenter__`.
    """
    v5 = broker.protocol is MQTTVersion.V5
    properties = None
    if v5 and broker.session_expiry > 0:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = broker.session_expiry
    client = aiomqtt.Client(
        endpoint[0],
        endpoint[1],
        identifier=client_id,
        username=broker.username,
        password=broker.password,
        protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
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
        max_queued_incoming_messages=INCOMING_QUEUE,
        logger=_SocketErrorLog(hooks) if context is not None else QUIET,
    )
    attach_hooks(client, hooks)
    driver.attach(paho_of(client), partial(_io_failed, client))
    return client


def _io_failed(client: aiomqtt.Client, error: BaseException) -> None:
    ended: asyncio.Future[None] = client._disconnected
    if not ended.done():
        ended.set_exception(error)


async def resolve(host: str, port: int) -> list[Address]:
    """The addresses to try for `host:port`, once for all devices (`socket.gaierror` if none)."""
    loop = asyncio.get_running_loop()
    found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(family, address) for family, _, _, _, address in found]


async def connect(client: aiomqtt.Client, addresses: Sequence[Address]) -> None:
    """Connect as `client.__aenter__()` does, with the TCP connection made on the event loop.

    aiomqtt runs paho's blocking `connect()` in the default thread pool, a handful of threads
    that ten thousand devices queue for (and fight the event loop for the GIL). Here only a
    TLS handshake still runs in a thread; the socket is connected without blocking and paho
    is handed it ready-made.

    Raises:
        aiomqtt.MqttError: as `__aenter__` does, with the cause in `__context__`.
    """
    loop = asyncio.get_running_loop()
    paho = paho_of(client)
    try:
        sock = await _open_socket(addresses)
    except OSError as error:
        raise aiomqtt.MqttError(str(error)) from None
    paho._create_socket_connection = lambda: sock  # type: ignore[method-assign]
    await client._lock.acquire()
    try:
        if paho._ssl_context is not None:
            await loop.run_in_executor(None, client._client_connect)  # the TLS handshake blocks
        else:
            client._client_connect()
    except (OSError, WebsocketConnectionError) as error:
        client._lock.release()
        sock.close()
        raise aiomqtt.MqttError(str(error)) from None
    except BaseException:
        client._lock.release()
        sock.close()
        raise
    try:
        await client._wait_for(client._connected, timeout=None)
    except aiomqtt.MqttError:
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


async def explain(error: BaseException, context: NetworkContext) -> Failure:
    """Why a connection attempt failed, in the user's words (looking further when needed).

    Behind the eavesdrop relay, a connection the relay closed is explained by probing the
    broker directly; a host name mismatch names the host the certificate is for.
    """
    host, port = context.broker_address
    failure = describe(
        error,
        host=host,
        port=port,
        tls=context.tls is not None,
        client_certificate=bool(context.broker.tls.cert),
        ca=context.broker.tls.ca,
    )
    if context.endpoint != context.broker_address and closed_before_answer(error):
        unreachable = await probe(host, port)
        if unreachable is not None:
            failure = describe(unreachable, host=host, port=port)
    if failure.hostname_mismatch:
        # cryptography loads only when a certificate has to be read
        from iotsim_tui.engine.certnames import name_the_certificate

        failure = await name_the_certificate(failure, context.endpoint, context.broker.host)
    return failure


PROBE_TIMEOUT = 5.0
"""Seconds a direct probe of the broker may take."""


async def probe(host: str, port: int) -> OSError | None:
    """Why a plain TCP connection to `host:port` fails now, or None when it opens.

    A device behind the eavesdrop relay only sees the relay close its connection; a direct
    probe finds the real cause (refused, timed out, name not found) to tell the user.
    """
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            sock = await _open_socket(await resolve(host, port))
    except OSError as error:  # TimeoutError and socket.gaierror included
        return error
    sock.close()
    return None


async def _open_socket(addresses: Sequence[Address]) -> socket.socket:
    if not addresses:
        raise socket.gaierror("no address")
    loop = asyncio.get_running_loop()
    error: OSError | None = None
    for family, address in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await loop.sock_connect(sock, address)
        except OSError as failure:  # TimeoutError included: try the next address
            sock.close()
            error = failure
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    assert error is not None
    raise error


def _will(will: Will | None, *, v5: bool) -> aiomqtt.Will | None:
    if will is None:
        return None
    properties = None
    if v5 and will.delay > 0:
        properties = Properties(PacketTypes.WILLMESSAGE)  # type: ignore[no-untyped-call]
        properties.WillDelayInterval = will.delay
    return aiomqtt.Will(will.topic, will.payload, will.qos, will.retain, properties)


def paho_of(client: aiomqtt.Client) -> PahoClient:
    """The paho client inside an aiomqtt client (publishing without a task per message)."""
    paho: PahoClient = client._client
    return paho


def attach_hooks(client: aiomqtt.Client, hooks: ConnectHooks) -> None:
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
        properties = getattr(message, "properties", None)
        hooks.on_message(
            topic, bytes(message.payload), message.qos, bool(message.retain), properties
        )

    paho.on_connect = on_connect
    paho.on_publish = on_publish
    paho.on_disconnect = on_disconnect
    paho.on_message = on_message


def _disconnected(client: aiomqtt.Client, hooks: ConnectHooks, reason: int | ReasonCode) -> None:
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
