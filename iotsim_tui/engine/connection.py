"""How a device's MQTT client is made and connected, and why an attempt failed, in the user's
words.

The client itself comes from engine/mqtt_client.py, the engine's one door to aiomqtt and paho;
here its socket is connected on the event loop (to each address in turn) and handed to the
network's socket driver. One TLS context serves a whole network (engine/tls.py): loading a CA
file per device would cost more than the handshake.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Sequence
from typing import Any, TypeAlias

from iotsim_tui.engine import mqtt_client
from iotsim_tui.engine.context import NetworkContext
from iotsim_tui.engine.driver import SocketDriver
from iotsim_tui.engine.failures import Failure, closed_before_answer, describe
from iotsim_tui.engine.mqtt_client import CONNECT_TIMEOUT, Client, ConnectHooks, MqttError
from iotsim_tui.profiles.model import BrokerSettings, Will

Address: TypeAlias = tuple[int, Any]
"""An address family and a socket address, as `getaddrinfo` gives them."""


def make_client(
    broker: BrokerSettings,
    client_id: str,
    *,
    endpoint: tuple[str, int],
    context: ssl.SSLContext | None,
    will: Will | None,
    hooks: ConnectHooks,
    driver: SocketDriver,
) -> Client:
    """A new, unconnected client for one connection attempt of a device.

    Its sockets are run by `driver`; connect it with `connect`, not `__aenter__`.
    """
    client = mqtt_client.make_client(
        broker, client_id, endpoint=endpoint, context=context, will=will, hooks=hooks
    )
    driver.attach(mqtt_client.paho_of(client), mqtt_client.error_handler(client))
    return client


async def resolve(host: str, port: int) -> list[Address]:
    """The addresses to try for `host:port`, once for all devices (`socket.gaierror` if none)."""
    loop = asyncio.get_running_loop()
    found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(family, address) for family, _, _, _, address in found]


async def connect(client: Client, addresses: Sequence[Address], *, tls: bool) -> None:
    """Connect as `client.__aenter__()` does, with the TCP connection made on the event loop.

    aiomqtt runs paho's blocking `connect()` in the default thread pool, a handful of threads
    that ten thousand devices queue for (and fight the event loop for the GIL). Here only a
    TLS handshake (`tls`) still runs in a thread; the socket is connected without blocking and
    paho is handed it ready-made.

    Raises:
        aiomqtt.MqttError: as `__aenter__` does, with the cause in `__context__`.
    """
    try:
        sock = await _open_socket(addresses)
    except OSError as error:
        raise MqttError(str(error)) from None
    await mqtt_client.connect(client, sock, tls=tls)


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
