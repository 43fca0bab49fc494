"""The eavesdrop relay as a man in the middle: it answers the device's TLS with a certificate of
its own, reads everything in clear, and forwards it to the real broker over a TLS connection
of its own.

This is what an attacker on the path does to a device that does not check the broker's
certificate. A device that checks it refuses the impostor's certificate in the handshake;
`Impostor` records that refusal as an item too. Like `Eavesdrop` it is a `LoopbackRelay`: it
listens on loopback only and relays to one target; what it decrypted is kept in a
`CaptureStore` (bounded) and dissected into the same `WireItem`s, so it can be listed and
written to a pcap file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from pathlib import Path

from iotsim_tui.errors import CaptureError
from iotsim_tui.wiretap.dissect import ConnectionDissector
from iotsim_tui.wiretap.items import Field, WireItem
from iotsim_tui.wiretap.loopback import LISTEN_HOST, LoopbackRelay
from iotsim_tui.wiretap.store import (
    Address,
    Chunk,
    ConnectionRecord,
    Direction,
    End,
    EndKind,
    Limits,
)

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
HANDSHAKE_TIMEOUT = 10.0
IMPOSTOR = "Impostor"
"""The protocol column of the impostor's own items (a refused handshake, a failed relay)."""


class Impostor(LoopbackRelay):
    """A TLS-terminating relay in front of one broker, presenting its own certificate.

    Args:
        target: The real broker's (host, port), reached over TLS.
        certificate: The impostor's certificate (PEM), with `key`.
        key: Its private key.
        broker_context: The client context for the impostor's own connection to the broker.
        server_name: The host name sent to the broker (SNI) and checked, when the context does.
    """

    name = "the impostor"

    def __init__(
        self,
        target: Address,
        *,
        certificate: Path,
        key: Path,
        broker_context: ssl.SSLContext,
        server_name: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(target, limits=limits)
        self.refusals: list[str] = []
        """Why devices refused the impostor's certificate, one entry per refused handshake."""
        self._certificate = certificate
        self._key = key
        self._broker_context = broker_context
        self._server_name = server_name
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Load the impostor's certificate and listen on a free loopback port.

        Raises CaptureError when it cannot.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self._certificate, self._key)
        except (OSError, ssl.SSLError) as error:
            raise CaptureError(
                f"the impostor cannot load its certificate {self._certificate}: {error}"
            ) from None
        self._device_context = context
        await super().start()

    async def _listen(self, host: str) -> asyncio.Server:
        return await asyncio.start_server(self._accepted, host, 0)

    async def _end_connections(self) -> None:
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5.0)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._relay(reader, writer)
        except asyncio.CancelledError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            self._tasks.discard(task)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or (LISTEN_HOST, 0)
        record = self.store.open((str(peer[0]), int(peer[1])), self.target, time.time())
        dissector = ConnectionDissector(record.id, record.client, record.server)
        self.publish(dissector.opened(record.started))
        try:
            await writer.start_tls(self._device_context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        except (ssl.SSLError, OSError, TimeoutError) as error:
            why = _refusal(error)
            self.refusals.append(why)
            self._note(record, f"the device refused the impostor's certificate: {why}")
            self.store.close(record, time.time())
            return
        host, port = self.target
        try:
            broker_reader, broker_writer = await asyncio.wait_for(
                asyncio.open_connection(
                    host, port, ssl=self._broker_context, server_hostname=self._server_name or host
                ),
                HANDSHAKE_TIMEOUT,
            )
        except (ssl.SSLError, OSError, TimeoutError) as error:
            self._note(record, f"the impostor could not reach the broker at {host}:{port}: {error}")
            self.store.close(record, time.time())
            return
        self._writers.add(broker_writer)
        self._note(
            record,
            "MAN IN THE MIDDLE: the device took the impostor's certificate; the impostor "
            "decrypts the session, reads every packet in clear and forwards it to the broker",
        )
        try:
            await asyncio.gather(
                self._pump(reader, broker_writer, record, dissector, Direction.TO_BROKER),
                self._pump(broker_reader, writer, record, dissector, Direction.TO_DEVICE),
            )
        finally:
            self._writers.discard(broker_writer)
            broker_writer.close()
            self.store.close(record, time.time())

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        record: ConnectionRecord,
        dissector: ConnectionDissector,
        direction: Direction,
    ) -> None:
        while True:
            try:
                data = await source.read(READ_SIZE)
            except (OSError, ssl.SSLError):
                data = b""
            if not data:
                end = End(time.time(), direction, EndKind.FIN)
                self.store.add_end(record, end)
                self.publish(dissector.end(end))
                with contextlib.suppress(OSError, RuntimeError):
                    sink.close()
                return
            chunk = Chunk(time.time(), direction, data)
            self.store.add_chunk(record, chunk)
            self.publish(dissector.feed(chunk))
            try:
                sink.write(data)
                await sink.drain()
            except (OSError, RuntimeError):
                return

    def _note(self, record: ConnectionRecord, text: str) -> None:
        self.publish(
            [
                WireItem(
                    record.id,
                    time.time(),
                    Direction.TO_DEVICE,
                    IMPOSTOR,
                    text,
                    (Field("Impostor", text),),
                    b"",
                    0,
                )
            ]
        )


def _refusal(error: BaseException) -> str:
    """Why the device's side of the handshake failed, in words."""
    if isinstance(error, ssl.SSLError):
        reason = str(error.reason or error)
        alert = reason.removeprefix("TLSV1_ALERT_").removeprefix("SSLV3_ALERT_")
        if alert != reason:
            return f"TLS alert {alert.lower()}"
        return reason.replace("_", " ").lower()
    if isinstance(error, TimeoutError):
        return "the handshake timed out"
    return str(error) or type(error).__name__


__all__ = ["IMPOSTOR", "Impostor"]
